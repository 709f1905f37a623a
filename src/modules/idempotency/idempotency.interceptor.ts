import {
  applyDecorators,
  CallHandler,
  createParamDecorator,
  ExecutionContext,
  HttpException,
  Injectable,
  NestInterceptor,
  UseInterceptors,
} from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { ApiHeader } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { from, lastValueFrom, Observable } from 'rxjs';
import { ApiProblems } from '../../common/problem-responses';
import { AppError, ReplayedResponse } from '../../common/app-error';
import type { AuthUser } from '../../common/auth';
import { IdempotencyKeyTaken, IdempotencyService, IdempotentRequest } from './idempotency.service';
import { IDEMPOTENCY_ERRORS } from './idempotency.errors';
import { pathOf } from '../../common/must';

export const IDEMPOTENCY_HEADER = 'idempotency-key';

/**
 * Marks a write route as accepting an Idempotency-Key header (and documents it). The interceptor is
 * the route's own, not global: a route without any interceptor skips Nest's rxjs chain altogether.
 */
export const Idempotent = () =>
  applyDecorators(
    UseInterceptors(IdempotencyInterceptor),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Any unique string (1-255 chars, e.g. a UUID). A retry with the same key within 24 h replays the first answer ' +
        '(header Idempotent-Replayed: true) instead of acting twice; the same key with a different body answers 422. ' +
        'The answer is stored in the same transaction as the work: the retry of a request that died before committing ' +
        'runs it, and a retry that overlaps the first request waits for it and replays its answer.',
      schema: { type: 'string', minLength: 1, maxLength: 255 },
    }),
    ApiProblems(IDEMPOTENCY_ERRORS.of('idempotency.invalid_key', 'idempotency.in_flight', 'idempotency.key_reused')),
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
  return createHash('sha256')
    .update(`${method} ${path}\n${canonical(body ?? null)}`)
    .digest('hex');
}

/** The request's Idempotency-Key, for a use case to settle in its transaction (undefined without a key). */
export const IdempotencyOf = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): IdempotentRequest | undefined => ctx.switchToHttp().getRequest<KeyedRequest>().idempotency,
);

type KeyedRequest = FastifyRequest & { user?: AuthUser; idempotency?: IdempotentRequest };

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly store: IdempotencyService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<KeyedRequest>();
    const header = req.headers[IDEMPOTENCY_HEADER];
    const key = Array.isArray(header) ? header[0] : header;
    if (key === undefined || !req.user) return next.handle();
    if (key.length < 1 || key.length > 255) {
      throw IDEMPOTENCY_ERRORS.error('idempotency.invalid_key', 'Idempotency-Key must be 1 to 255 characters');
    }
    const status = this.reflector.get<number | undefined>(HTTP_CODE_METADATA, context.getHandler()) ?? (req.method === 'POST' ? 201 : 200);
    const path = pathOf(req.url);
    const endpoint = `${req.method} ${req.routeOptions.url ?? path}`;
    const requestHash = requestFingerprint(req.method, path, req.body);
    const keyed = new IdempotentRequest(this.store, req.user.id, key, endpoint, requestHash, status);
    return from(this.handle(req, http.getResponse<FastifyReply>(), keyed, next));
  }

  private async handle(req: KeyedRequest, res: FastifyReply, keyed: IdempotentRequest, next: CallHandler): Promise<unknown> {
    await this.answerFromStore(keyed);
    req.idempotency = keyed;
    try {
      const body = await lastValueFrom(next.handle(), { defaultValue: undefined });
      // A route whose use case did not settle the key in its transaction: stored after the fact.
      if (!keyed.answered) await this.store.saveAfterwards(keyed, res.statusCode, body);
      return body;
    } catch (err) {
      // Another request with this key committed first (we waited for it): its answer is ours.
      if (err instanceof IdempotencyKeyTaken) {
        await this.answerFromStore(keyed);
        throw IDEMPOTENCY_ERRORS.error(
          'idempotency.in_flight',
          'A request with this Idempotency-Key is still being processed; retry shortly',
        );
      }
      // A definite client-visible answer (4xx) did no work and is kept for replay; anything else
      // rolled back with the claim, so a retry with the key runs again.
      const status = err instanceof AppError ? err.status : err instanceof HttpException ? err.getStatus() : 500;
      if (status >= 400 && status < 500) await this.store.saveError(keyed, err, req);
      throw err;
    }
  }

  /** Throws the stored answer for the key if there is one: replay, 422 for another request, 409 in flight. */
  private async answerFromStore(keyed: IdempotentRequest): Promise<void> {
    const stored = await this.store.find(keyed.userId, keyed.key, keyed.endpoint, keyed.requestHash);
    if (!stored) return;
    // Thrown, not returned: the route's own @HttpCode would override the stored status.
    if (stored.kind === 'replay') throw new ReplayedResponse(stored.status, stored.body);
    if (stored.kind === 'mismatch') {
      throw IDEMPOTENCY_ERRORS.error('idempotency.key_reused', 'This Idempotency-Key was used with a different request');
    }
    throw IDEMPOTENCY_ERRORS.error('idempotency.in_flight', 'A request with this Idempotency-Key is still being processed; retry shortly');
  }
}
