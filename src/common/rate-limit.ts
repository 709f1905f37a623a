import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MemoryStore, type Options, rateLimit } from 'express-rate-limit';
import { COMMON_ERRORS } from './common.errors';
import { pathOf } from './must';

export interface RateLimits {
  /** Requests per minute per client on register, login and password change; 0 = off. */
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
    handler: (_req, _res, next) =>
      next(
        COMMON_ERRORS.error(
          'request.rate_limited',
          `Too many requests: at most ${limit} a minute here; retry after the Retry-After seconds`,
        ),
      ),
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

/**
 * Routes that take a password: the strict per-client limit. Login is not among them: its limit counts
 * failed attempts only, per address and per account (FailureRateLimit in AuthService), so the correct
 * logins of many users behind one address are never refused.
 */
const AUTH_ROUTES = new Set(['/api/auth/register', '/api/users/me/password']);

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
    const route = req.routeOptions.url ?? pathOf(req.url).toLowerCase();
    if (AUTH_ROUTES.has(route)) return strict ? run(strict, req, reply.raw, done) : done();
    if (loose && (route === '/api' || route.startsWith('/api/'))) return run(loose, req, reply.raw, done);
    done();
  });
}

/**
 * A limit per minute on a key only known once the body is read or the caller is known (an email on
 * register, a user on password change), beside the per-client limits above: it holds when one
 * target is tried from many addresses. Counted in this process's memory with express-rate-limit's
 * MemoryStore, like those; 0 = off.
 */
export class KeyedRateLimit {
  private readonly store = new MemoryStore();

  constructor(
    private readonly limit: number,
    /** Names what is limited in the 429's detail, e.g. "for this email". */
    private readonly what: string,
  ) {
    if (limit > 0) this.store.init({ windowMs: 60_000 } as Options);
  }

  /** Counts one attempt for `key`; past the limit, a 429 request.rate_limited with Retry-After. */
  async hit(key: string): Promise<void> {
    if (this.limit <= 0) return;
    const { totalHits, resetTime } = await this.store.increment(key);
    if (totalHits <= this.limit) return;
    const retryAfter = Math.max(1, Math.ceil(((resetTime?.getTime() ?? Date.now() + 60_000) - Date.now()) / 1000));
    throw COMMON_ERRORS.error(
      'request.rate_limited',
      `Too many attempts ${this.what}: at most ${this.limit} a minute; retry after the Retry-After seconds`,
      {},
      { 'Retry-After': String(retryAfter) },
    );
  }

  shutdown(): void {
    this.store.shutdown();
  }
}

/**
 * A limit on FAILED attempts per key per minute (a login's address, its account): `check` refuses
 * once `limit` failures were counted in the window, `fail` counts one. Successes are never counted, so
 * they cannot lock anyone out. Counted in this process's memory (express-rate-limit's MemoryStore); 0 = off.
 */
export class FailureRateLimit {
  private readonly store = new MemoryStore();

  constructor(
    private readonly limit: number,
    /** Names what is limited in the 429's detail, e.g. "from this address". */
    private readonly what: string,
  ) {
    if (limit > 0) this.store.init({ windowMs: 60_000 } as Options);
  }

  /** A 429 request.rate_limited with Retry-After when `key` has used up its failures this minute. */
  async check(key: string): Promise<void> {
    if (this.limit <= 0) return;
    const hits = await this.store.get(key);
    if (!hits || hits.totalHits < this.limit) return;
    const retryAfter = Math.max(1, Math.ceil(((hits.resetTime?.getTime() ?? Date.now() + 60_000) - Date.now()) / 1000));
    throw COMMON_ERRORS.error(
      'request.rate_limited',
      `Too many failed attempts ${this.what}: at most ${this.limit} a minute; retry after the Retry-After seconds`,
      {},
      { 'Retry-After': String(retryAfter) },
    );
  }

  async fail(key: string): Promise<void> {
    if (this.limit > 0) await this.store.increment(key);
  }

  shutdown(): void {
    this.store.shutdown();
  }
}
