import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { rateLimit } from 'express-rate-limit';
import { COMMON_ERRORS } from './common.errors';

export interface RateLimits {
  /** Requests per minute per client on register and login; 0 = off. */
  authPerMin: number;
  /** Requests per minute per client on every other /api route; 0 = off. */
  perMin: number;
}

/** express-rate-limit's middleware as it is called here: Fastify's request (its `ip` honours TRUST_PROXY) and the Node response. */
type Limiter = (req: FastifyRequest, res: ServerResponse, next: (err?: Error) => void) => void;

function limiter(limit: number, scope: string): Limiter {
  return rateLimit({
    windowMs: 60_000,
    limit,
    // IETF RateLimit and RateLimit-Policy headers; 429s also carry Retry-After.
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    // Each limiter has its own store, keyed by the library's IP key (IPv6 grouped by /56) of request.ip.
    identifier: scope,
    // Its checks are of Express's settings; Fastify's trustProxy decides request.ip here.
    validate: false,
    // The 429 goes through the exception layer like every other problem (headers already set).
    handler: (_req, _res, next) => next(COMMON_ERRORS.error('request.rate_limited', `Too many requests: at most ${limit} a minute here; retry after the Retry-After seconds`)),
  }) as unknown as Limiter;
}

/** Express's res.append, which express-rate-limit uses for the draft-8 headers: Node's appendHeader. */
function append(this: ServerResponse, name: string, value: string): ServerResponse {
  return this.appendHeader(name, value);
}

function run(limit: Limiter, req: FastifyRequest, res: ServerResponse & { append?: typeof append }, done: (err?: Error) => void): void {
  res.append = append;
  limit(req, res, done);
}

const AUTH_ROUTES = new Set(['/api/auth/login', '/api/auth/register']);

/**
 * Per-client (IP) limits per minute, counted in this process's memory (express-rate-limit's store; it,
 * not @fastify/rate-limit, writes the IETF draft-8 RateLimit headers the API documents):
 * with N API processes behind a balancer a client gets up to N times the limit. Run in an onRequest
 * hook, before the body is read or any guard runs, so floods of bad passwords or tokens are limited
 * before any work is done. Routes are told apart by their template (case and trailing slash do not
 * matter); a request no route matches counts against the general limit if its path is under /api.
 */
export function applyRateLimits(fastify: FastifyInstance, limits: RateLimits): void {
  const strict = limits.authPerMin > 0 ? limiter(limits.authPerMin, 'auth') : null;
  const loose = limits.perMin > 0 ? limiter(limits.perMin, 'api') : null;
  if (!strict && !loose) return;
  fastify.addHook('onRequest', (req, reply, done) => {
    const route = req.routeOptions.url ?? req.url.split('?', 1)[0].toLowerCase();
    if (AUTH_ROUTES.has(route)) return strict ? run(strict, req, reply.raw, done) : done();
    if (loose && (route === '/api' || route.startsWith('/api/')) && !route.startsWith('/api/auth/')) return run(loose, req, reply.raw, done);
    done();
  });
}
