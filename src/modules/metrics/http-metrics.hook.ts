import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceMetrics, UNMATCHED_ROUTE } from './service-metrics.service';

const RECORDED = Symbol('httpMetricsRecorded');

/**
 * Counts and times every HTTP request by method, route template (`/api/vms/:id`) and status, in
 * Fastify's onResponse hook (when the response finished) and, for a client that went away first,
 * onRequestAbort. Requests no route matched are "unmatched". An event stream's duration is its
 * connection's lifetime, not a latency: it is counted without one.
 */
@Injectable()
export class HttpMetricsHook implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: ServiceMetrics,
  ) {}

  onModuleInit(): void {
    // Only an HTTP app has an adapter (the worker process has none).
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter || !this.metrics.enabled) return;
    const fastify = adapter.getInstance<FastifyInstance>();
    fastify.addHook('onResponse', (req, reply, done) => {
      this.record(req, reply);
      done();
    });
    fastify.addHook('onRequestAbort', (req, done) => {
      this.record(req, null);
      done();
    });
  }

  private record(req: FastifyRequest & { [RECORDED]?: true }, reply: FastifyReply | null): void {
    if (req[RECORDED]) return;
    req[RECORDED] = true;
    const path = req.routeOptions.url;
    const route = path && !path.includes('*') ? path : UNMATCHED_ROUTE;
    // 499 (nginx's "client closed request"): the client left before the answer was complete.
    const status = reply?.statusCode ?? 499;
    const streaming = String(reply?.raw.getHeader('content-type') ?? '').startsWith('text/event-stream');
    this.metrics.observeHttp(req.method, route, status, streaming || !reply ? null : reply.elapsedTime / 1000);
  }
}
