import { DynamicModule, Inject, Logger, Module, NotFoundException, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathOf } from '../../common/must';

/** Where `npm run build` puts the console (vite build of web/). */
export const WEB_CONSOLE_DIR = join(process.cwd(), 'dist', 'web');

/**
 * Paths the console never answers: the API and its docs, the service metrics, and missing assets
 * (a 404 problem rather than index.html served as a script).
 */
const NOT_CONSOLE = /^\/(api|metrics|assets)(\/|$)/;

const CONSOLE_DIR = Symbol('WEB_CONSOLE_DIR');

/** Hashed file names change with their content: cache them for a year; everything else revalidates. */
function cacheHeaders(reply: FastifyReply, path: string): void {
  reply.header('Cache-Control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
}

/**
 * Serves the web console (a single-page app) at `/` with @fastify/static: its files (each a route of
 * its own, found at boot), and index.html for every other GET outside NOT_CONSOLE, so client routes
 * such as /vms/<id> load on a reload too. Other GETs there are the API's 404 problem.
 */
@Module({})
export class WebConsoleModule implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(CONSOLE_DIR) private readonly dir: string | null,
  ) {}

  static forRoot(dir = WEB_CONSOLE_DIR): DynamicModule {
    return { module: WebConsoleModule, providers: [{ provide: CONSOLE_DIR, useValue: existsSync(join(dir, 'index.html')) ? dir : null }] };
  }

  onModuleInit(): void {
    // Only an HTTP app serves it (the worker process has no adapter).
    if (!this.adapterHost.httpAdapter) return;
    if (!this.dir) {
      new Logger(WebConsoleModule.name).warn(`No web console in ${WEB_CONSOLE_DIR} (run npm run build): / answers 404`);
      return;
    }
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    void fastify.register(fastifyStatic, { root: this.dir, wildcard: false, cacheControl: false, setHeaders: cacheHeaders });
    fastify.get('/*', (req: FastifyRequest, reply: FastifyReply) => {
      const path = pathOf(req.url);
      if (NOT_CONSOLE.test(path)) throw new NotFoundException(`Cannot GET ${path}`);
      return reply.header('Cache-Control', 'no-cache').sendFile('index.html');
    });
  }
}
