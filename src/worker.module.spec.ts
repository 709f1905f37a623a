import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { INestApplicationContext } from '@nestjs/common';
import { ModulesContainer, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { ApiModule } from './api.module';
import { createWorker } from './bootstrap';

// Preview mode resolves the module graph without instantiating providers: no database is touched.
const UNUSED_DB = 'postgres://unused@127.0.0.1:1/unused';

function graph(app: INestApplicationContext): { modules: string[]; controllers: string[]; providers: string[] } {
  const modules = [...app.get(ModulesContainer).values()];
  return {
    modules: modules.map((m) => m.metatype.name),
    controllers: modules.flatMap((m) => [...m.controllers.values()].map((c) => c.name)),
    providers: modules.flatMap((m) => [...m.providers.keys()].map((k) => (typeof k === 'function' ? k.name : String(k)))),
  };
}

describe('process composition', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    jest.restoreAllMocks();
    await app?.close();
    app = undefined;
  });

  it('WorkerModule has no controllers, no auth (no bootstrap admin), no console and loads no Swagger', async () => {
    const setup = jest.spyOn(SwaggerModule, 'setup');
    const createDocument = jest.spyOn(SwaggerModule, 'createDocument');
    app = await createWorker(UNUSED_DB, { preview: true, logger: false, abortOnError: false });
    const { modules, controllers, providers } = graph(app);
    expect(controllers).toEqual([]);
    expect(modules).toEqual(expect.arrayContaining(['WorkerModule', 'PlatformModule', 'VmsModule', 'HostsModule', 'MetricsModule']));
    expect(modules.filter((m) => /Http|^AuthModule$|WebConsole/.test(m))).toEqual([]);
    expect(providers).not.toContain('AuthService');
    expect(providers).not.toContain('HttpMetricsHook');
    expect(providers).toEqual(expect.arrayContaining(['VmWorker', 'VmReconciler', 'MetricsJobs']));
    expect('getHttpServer' in app).toBe(false);
    expect(setup).not.toHaveBeenCalled();
    expect(createDocument).not.toHaveBeenCalled();
  });

  it('ApiModule carries the same feature modules with their controllers and the auth module', async () => {
    app = await NestFactory.create(ApiModule.forRoot({ databaseUrl: UNUSED_DB }), new FastifyAdapter(), {
      preview: true,
      logger: false,
      abortOnError: false,
    });
    const { modules, controllers, providers } = graph(app);
    expect(controllers).toEqual(
      expect.arrayContaining(['VmsController', 'AdminController', 'AuthController', 'HealthController', 'HostsController']),
    );
    expect(modules).toEqual(
      expect.arrayContaining(['ApiModule', 'PlatformModule', 'VmsModule', 'VmsHttpModule', 'AuthModule', 'WebConsoleModule']),
    );
    expect(providers).toEqual(expect.arrayContaining(['AuthService', 'VmWorker']));
  });
});
