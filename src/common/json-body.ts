import type { NextFunction, Request, Response } from 'express';
import { COMMON_ERRORS } from './common.errors';

/**
 * A non-empty body that is not JSON is refused with one 415 before validation, which would otherwise
 * see no fields and answer one error per required field. Bodiless requests (no length, or length 0)
 * pass, so routes without a body keep working whatever content-type a client sends.
 */
export function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const length = req.headers['content-length'];
  const hasBody = length !== undefined ? Number(length) > 0 : req.headers['transfer-encoding'] !== undefined;
  if (hasBody && !req.is(['application/json', '+json'])) {
    const type = req.headers['content-type'];
    next(
      COMMON_ERRORS.error(
        'request.unsupported_media_type',
        `The request body must be JSON sent with content-type: application/json${type ? ` (got ${type.split(';')[0]})` : ''}`,
      ),
    );
    return;
  }
  next();
}
