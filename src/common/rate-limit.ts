import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Request, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { COMMON_ERRORS } from './common.errors';
import { problemOf } from './problem.filter';

export interface RateLimits {
  /** Requests per minute per client on register and login; 0 = off. */
  authPerMin: number;
  /** Requests per minute per client on every other /api route; 0 = off. */
  perMin: number;
}

function limiter(limit: number, scope: string) {
  return rateLimit({
    windowMs: 60_000,
    limit,
    // IETF RateLimit and RateLimit-Policy headers; 429s also carry Retry-After.
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    // Each limiter has its own store, keyed by the library's IP key (IPv6 grouped by /56).
    identifier: scope,
    // A forwarded header from a peer outside TRUST_PROXY is expected (and ignored), not a misconfiguration.
    validate: { xForwardedForHeader: false },
    handler: (req: Request & { id?: string }, res: Response) => {
      const detail = `Too many requests: at most ${limit} a minute here; retry after the Retry-After seconds`;
      res
        .status(429)
        .type('application/problem+json')
        .json(problemOf(COMMON_ERRORS.get('request.rate_limited'), detail, { instance: req.originalUrl.split('?')[0], request_id: req.id }));
    },
  });
}

/**
 * Per-client (IP) limits per minute, counted in this process's memory (express-rate-limit's store):
 * with N API processes behind a balancer a client gets up to N times the limit. Mounted before the
 * router, so floods of bad passwords or tokens are limited before any work is done.
 */
export function applyRateLimits(app: NestExpressApplication, limits: RateLimits): void {
  if (limits.authPerMin > 0) {
    const strict = limiter(limits.authPerMin, 'auth');
    app.use(['/api/auth/login', '/api/auth/register'], strict);
  }
  if (limits.perMin > 0) {
    const loose = limiter(limits.perMin, 'api');
    app.use('/api', (req: Request, res: Response, next: () => void) =>
      req.path.startsWith('/auth/') ? next() : loose(req, res, next),
    );
  }
}
