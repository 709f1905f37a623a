import { applyDecorators, CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiHeader } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { from, lastValueFrom, Observable } from 'rxjs';
import { ApiProblems } from '../../common/api-errors.decorator';
import { AppError, ReplayedResponse } from '../../common/app-error';
import type { AuthUser } from '../auth/auth.decorators';
import { IdempotencyService } from './idempotency.service';

export const IDEMPOTENT = 'idempotency:enabled';
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** Marks a write route as accepting an Idempotency-Key header (and documents it). */
export const Idempotent = () =>
  applyDecorators(
    SetMetadata(IDEMPOTENT, true),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Any unique string (1-255 chars, e.g. a UUID). A retry with the same key within 24 h replays the first answer ' +
        '(header Idempotent-Replayed: true) instead of acting twice; the same key with a different body answers 422, ' +
        'and while the first request is still running, 409.',
      schema: { type: 'string', minLength: 1, maxLength: 255 },
    }),
    ApiProblems(409, 422),
  );

/** JSON with sorted keys, so {a,b} and {b,a} hash alike. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What a key is bound to: the method, the path and the canonical JSON body. */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonical(body ?? null)}`).digest('hex');
}

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly store: IdempotencyService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<Request & { user?: AuthUser }>();
    const key = req.header(IDEMPOTENCY_HEADER);
    if (key === undefined || !req.user || !this.reflector.get<boolean>(IDEMPOTENT, context.getHandler())) return next.handle();
    if (key.length < 1 || key.length > 255) {
      throw new AppError(400, 'idempotency.invalid_key', 'Idempotency-Key must be 1 to 255 characters');
    }
    return from(this.handle(req, http.getResponse<Response>(), req.user.id, key, next));
  }

  private async handle(req: Request, res: Response, userId: string, key: string, next: CallHandler): Promise<unknown> {
    const endpoint = `${req.method} ${(req as Request & { route?: { path?: string } }).route?.path ?? req.path}`;
    const requestHash = requestFingerprint(req.method, req.originalUrl.split('?')[0], req.body);
    const claim = await this.store.claim(userId, key, endpoint, requestHash);
    // Thrown, not returned: the route's own @HttpCode would override the stored status.
    if (claim.kind === 'replay') throw new ReplayedResponse(claim.status, claim.body);
    if (claim.kind === 'mismatch') {
      throw new AppError(422, 'idempotency.key_reused', 'This Idempotency-Key was used with a different request');
    }
    if (claim.kind === 'in_flight') {
      throw new AppError(409, 'idempotency.in_flight', 'A request with this Idempotency-Key is still being processed; retry shortly');
    }
    try {
      const body = await lastValueFrom(next.handle(), { defaultValue: undefined });
      await this.store.complete(userId, key, res.statusCode, body);
      return body;
    } catch (err) {
      // A definite client-visible answer (4xx) is kept and replayed; anything else frees the key for a retry.
      const status = err instanceof AppError ? err.status : err instanceof HttpException ? err.getStatus() : 500;
      if (status >= 400 && status < 500) await this.store.completeWithError(userId, key, err, req);
      else await this.store.release(userId, key);
      throw err;
    }
  }
}
