import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ServiceMetrics, UNMATCHED_ROUTE } from './service-metrics.service';

/** Counts and times every HTTP request by method, route template (`/api/vms/:id`) and status. */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: ServiceMetrics) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const started = process.hrtime.bigint();
    let done = false;
    const record = () => {
      if (done) return;
      done = true;
      // Set by Express once a route matched; Nest registers the full path, global prefix included.
      // Its not-found handler is a catch-all (`*path`): those requests are "unmatched".
      const path = (req.route as { path?: unknown } | undefined)?.path;
      const route = typeof path === 'string' && !path.includes('*') ? path : UNMATCHED_ROUTE;
      // An event stream's duration is its connection's lifetime, not a latency.
      const streaming = String(res.getHeader('content-type') ?? '').startsWith('text/event-stream');
      const seconds = streaming ? null : Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.observeHttp(req.method, route, res.statusCode, seconds);
    };
    res.once('finish', record);
    res.once('close', record);
    next();
  }
}
