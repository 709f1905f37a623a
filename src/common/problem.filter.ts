import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { Request, Response } from 'express';
import { QueryFailedError } from 'typeorm';
import { AppError, ReplayedResponse } from './app-error';
import { isDatabaseUnavailable } from './db-errors';

export interface FieldError {
  field: string;
  messages: string[];
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** Thrown by the ValidationPipe's exceptionFactory; carries per-field messages. */
export class ValidationFailedException extends HttpException {
  constructor(readonly fields: FieldError[]) {
    super('Validation failed', HttpStatus.BAD_REQUEST);
  }
}

const PROBLEM_BASE = 'https://vm-platform.dev/problems/';

function codeForStatus(status: number): string {
  const map: Record<number, string> = {
    400: 'request.invalid',
    401: 'auth.unauthenticated',
    403: 'auth.forbidden',
    404: 'route.not_found',
    405: 'request.method_not_allowed',
    409: 'request.conflict',
    413: 'request.too_large',
    415: 'request.unsupported_media_type',
    429: 'request.rate_limited',
    503: 'service.unavailable',
  };
  return map[status] ?? (status >= 500 ? 'internal.error' : 'request.error');
}

/**
 * The single place that turns exceptions into RFC 9457 application/problem+json answers.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request & { id?: string }>();
    if (exception instanceof ReplayedResponse) {
      res
        .status(exception.status)
        .setHeader('Idempotent-Replayed', 'true')
        .type(exception.status >= 400 ? 'application/problem+json' : 'application/json')
        .json(exception.body);
      return;
    }
    const problem = this.toProblem(exception, req);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (exception instanceof AppError) for (const [name, value] of Object.entries(exception.headers)) res.setHeader(name, value);
    res.status(problem.status).type('application/problem+json').json(problem);
  }

  toProblem(exception: unknown, req: Request & { id?: string }): Problem {
    const base = { instance: req.originalUrl?.split('?')[0], request_id: req.id };
    if (exception instanceof AppError) {
      return {
        ...exception.extensions,
        type: PROBLEM_BASE + exception.code,
        title: STATUS_CODES[exception.status] ?? 'Error',
        status: exception.status,
        detail: exception.detail,
        code: exception.code,
        ...base,
      };
    }
    if (exception instanceof ValidationFailedException) {
      return {
        type: PROBLEM_BASE + 'request.validation',
        title: 'Bad Request',
        status: 400,
        detail: exception.fields.map((f) => f.messages.join('; ')).join('; '),
        code: 'request.validation',
        ...base,
        errors: exception.fields,
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      let detail = typeof body === 'string' ? body : ((body as { message?: unknown }).message ?? exception.message);
      if (Array.isArray(detail)) detail = detail.join('; ');
      let code = codeForStatus(status);
      // body-parser's errors arrive as HttpExceptions with these messages.
      if (status === 400 && /JSON|Unexpected token|Bad control/i.test(String(detail))) {
        code = 'request.malformed_json';
        detail = 'The request body is not valid JSON';
      }
      if (status === 404 && /^Cannot (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)/.test(String(detail))) {
        detail = `No route ${req.method} ${base.instance}`;
      }
      return { type: PROBLEM_BASE + code, title: STATUS_CODES[status] ?? 'Error', status, detail: String(detail), code, ...base };
    }
    const bodyParserStatus = (exception as { status?: number; type?: string })?.status;
    if (typeof bodyParserStatus === 'number' && bodyParserStatus >= 400 && bodyParserStatus < 500) {
      const type = (exception as { type?: string }).type;
      const code = type === 'entity.parse.failed' ? 'request.malformed_json' : codeForStatus(bodyParserStatus);
      const detail =
        type === 'entity.parse.failed' ? 'The request body is not valid JSON' : (exception as Error).message;
      return { type: PROBLEM_BASE + code, title: STATUS_CODES[bodyParserStatus] ?? 'Error', status: bodyParserStatus, detail, code, ...base };
    }
    if (isDatabaseUnavailable(exception) || (exception instanceof QueryFailedError && isDatabaseUnavailable(exception.driverError))) {
      this.logger.warn(`Database unavailable [request ${req.id}]: ${(exception as Error).message}`);
      return {
        type: PROBLEM_BASE + 'service.unavailable',
        title: 'Service Unavailable',
        status: 503,
        detail: 'The database is unavailable; try again shortly',
        code: 'service.unavailable',
        ...base,
      };
    }
    this.logger.error(
      `Unhandled error [request ${req.id}] ${req.method} ${base.instance}: ${(exception as Error)?.stack ?? String(exception)}`,
    );
    return {
      type: PROBLEM_BASE + 'internal.error',
      title: 'Internal Server Error',
      status: 500,
      detail: `An unexpected error occurred; quote request id ${req.id} when reporting it`,
      code: 'internal.error',
      ...base,
    };
  }
}
