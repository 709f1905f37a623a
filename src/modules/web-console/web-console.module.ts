import { DynamicModule, Inject, Logger, Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ServeStaticModule } from '@nestjs/serve-static';
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { ServerResponse } from 'node:http';

/** Where `npm run build` puts the console (vite build of web/). */
export const WEB_CONSOLE_DIR = join(process.cwd(), 'dist', 'web');

/**
 * Paths the console never answers: the API and its docs, the service metrics, and missing assets
 * (a 404 problem rather than index.html served as a script).
 */
export const WEB_CONSOLE_EXCLUDE = ['/api', '/api/{*rest}', '/metrics', '/assets/{*rest}'];

const CONSOLE_DIR = Symbol('WEB_CONSOLE_DIR');

/** Hashed file names change with their content: cache them for a year; everything else revalidates. */
function cacheHeaders(res: ServerResponse, path: string): void {
  res.setHeader('Cache-Control', path.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
}

/**
 * Serves the web console (a single-page app) at `/`: its files, and index.html for every other GET
 * outside WEB_CONSOLE_EXCLUDE, so client routes such as /vms/<id> load on a reload too.
 */
@Module({})
export class WebConsoleModule implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(CONSOLE_DIR) private readonly dir: string | null,
  ) {}

  static forRoot(dir = WEB_CONSOLE_DIR): DynamicModule {
    if (!existsSync(join(dir, 'index.html'))) {
      return { module: WebConsoleModule, providers: [{ provide: CONSOLE_DIR, useValue: null }] };
    }
    return {
      module: WebConsoleModule,
      providers: [{ provide: CONSOLE_DIR, useValue: dir }],
      imports: [
        ServeStaticModule.forRoot({
          rootPath: dir,
          exclude: WEB_CONSOLE_EXCLUDE,
          serveStaticOptions: { cacheControl: false, setHeaders: cacheHeaders, fallthrough: true },
        }),
      ],
    };
  }

  onModuleInit(): void {
    // Only an HTTP app serves it (the worker process has no adapter).
    if (this.adapterHost.httpAdapter && !this.dir) {
      new Logger(WebConsoleModule.name).warn(`No web console in ${WEB_CONSOLE_DIR} (run npm run build): / answers 404`);
    }
  }
}
