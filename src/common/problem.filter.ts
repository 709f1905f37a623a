import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ReplayedResponse } from './app-error';
import { COMMON_ERRORS } from './common.errors';
import type { ErrorDefinition } from './error-catalog';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from './db-errors';

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

/** Field errors listed in one answer; past them, only their count (a bad body gets a small answer). */
export const MAX_FIELD_ERRORS = 20;

/** Thrown by the ValidationPipe's exceptionFactory; carries the first MAX_FIELD_ERRORS per-field messages and how many more there were. */
export class ValidationFailedException extends HttpException {
  readonly fields: FieldError[];
  readonly omitted: number;

  /** `total`: how many field errors there were, when `fields` lists only some of them. */
  constructor(fields: FieldError[], total = fields.length) {
    super('Validation failed', HttpStatus.BAD_REQUEST);
    this.fields = fields.slice(0, MAX_FIELD_ERRORS);
    this.omitted = total - this.fields.length;
  }
}

export const PROBLEM_BASE = 'https://vm-platform.dev/problems/';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/** The problem+json body of a declared error: type, title and status come from the catalog. */
export function problemOf(definition: ErrorDefinition, detail: string, extra: Partial<Problem> = {}): Problem {
  return {
    type: PROBLEM_BASE + definition.code,
    title: definition.spec.title,
    status: definition.status,
    detail,
    code: definition.code,
    ...extra,
  };
}

/** Framework exceptions (router, body parser) by status. */
const BY_STATUS: Record<number, ErrorDefinition> = Object.fromEntries(
  COMMON_ERRORS.of(
    'request.invalid',
    'route.not_found',
    'request.method_not_allowed',
    'request.too_large',
    'request.unsupported_media_type',
    'request.rate_limited',
    'service.unavailable',
  ).map((d) => [d.status, d]),
);

function forStatus(status: number): ErrorDefinition {
  return BY_STATUS[status] ?? COMMON_ERRORS.get(status >= 500 ? 'internal.error' : 'request.error');
}

/**
 * The single place that turns exceptions into RFC 9457 application/problem+json answers.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    this.send(exception, ctx.getRequest<FastifyRequest>(), ctx.getResponse<FastifyReply>());
  }

  /** Answers `reply` for the exception; also the answer to errors Fastify meets before routing (an undecodable URL). */
  send(exception: unknown, req: FastifyRequest, reply: FastifyReply): void {
    if (exception instanceof ReplayedResponse) {
      reply
        .status(exception.status)
        .header('Idempotent-Replayed', 'true')
        .type(exception.status >= 400 ? PROBLEM_TYPE : JSON_TYPE)
        .send(JSON.stringify(exception.body));
      return;
    }
    const problem = this.toProblem(exception, req);
    if (reply.sent || reply.raw.headersSent) {
      if (!reply.raw.writableEnded) reply.raw.end();
      return;
    }
    const own = exception instanceof AppError ? exception.headers : {};
    if (exception instanceof AppError) reply.headers(own);
    // Every 503 service.unavailable says when to come back (a database failover takes a few seconds).
    if (problem.code === 'service.unavailable' && !Object.keys(own).some((h) => h.toLowerCase() === 'retry-after')) {
      reply.header('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    }
    reply.status(problem.status).type(PROBLEM_TYPE).send(JSON.stringify(problem));
  }

  toProblem(exception: unknown, req: Pick<FastifyRequest, 'url' | 'id' | 'method'>): Problem {
    const base = { instance: req.url.split('?', 1)[0], request_id: req.id };
    if (exception instanceof AppError) return { ...exception.extensions, ...problemOf(exception.definition, exception.detail, base) };
    if (exception instanceof ValidationFailedException) {
      const { fields, omitted } = exception;
      const detail = fields.map((f) => f.messages.join('; ')).join('; ') + (omitted ? `; and ${omitted} more` : '');
      return problemOf(COMMON_ERRORS.get('request.validation'), detail, {
        ...base,
        errors: fields,
        ...(omitted ? { errors_omitted: omitted } : {}),
      });
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      let detail = typeof body === 'string' ? body : ((body as { message?: unknown }).message ?? exception.message);
      if (Array.isArray(detail)) detail = detail.join('; ');
      let definition = forStatus(status);
      if (status === 404 && /^Cannot (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)/.test(String(detail))) {
        detail = `No route ${req.method} ${base.instance}`;
      }
      return { ...problemOf(definition, String(detail), base), status };
    }
    // Fastify's own refusals (body too large, bad content-length, undecodable URL) carry a 4xx statusCode.
    const frameworkStatus = (exception as { statusCode?: unknown } | null)?.statusCode;
    if (typeof frameworkStatus === 'number' && frameworkStatus >= 400 && frameworkStatus < 500) {
      return { ...problemOf(forStatus(frameworkStatus), (exception as Error).message, base), status: frameworkStatus };
    }
    if (isDatabaseUnavailable(exception)) {
      this.logger.warn(`Database unavailable [request ${req.id}]: ${(exception as Error).message}`);
      return problemOf(COMMON_ERRORS.get('service.unavailable'), 'The database is unavailable; try again shortly', base);
    }
    this.logger.error(
      `Unhandled error [request ${req.id}] ${req.method} ${base.instance}: ${(exception as Error)?.stack ?? String(exception)}`,
    );
    return problemOf(
      COMMON_ERRORS.get('internal.error'),
      `An unexpected error occurred; quote request id ${req.id} when reporting it`,
      base,
    );
  }
}
