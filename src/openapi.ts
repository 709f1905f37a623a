import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ApiModule } from './api.module';
import { buildOpenApiDocument } from './app.setup';

/**
 * `npm run openapi`: writes the OpenAPI document to openapi.json. Preview mode instantiates no
 * providers, so no database, queue or hypervisor is needed.
 */
export async function generateOpenApi(): Promise<string> {
  const app = await NestFactory.create<NestFastifyApplication>(
    ApiModule.forRoot({ databaseUrl: 'postgres://unused@127.0.0.1:1/unused', env: { VM_PROVIDER: 'simulator', WORKER: false } }),
    new FastifyAdapter(),
    { preview: true, logger: false, abortOnError: false },
  );
  app.setGlobalPrefix('api', { exclude: ['metrics'] });
  const doc = buildOpenApiDocument(app);
  await app.close();
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// Run as a script (CommonJS build), not when imported by the tests (ESM, where require is undefined).
if (typeof require !== 'undefined' && require.main === module) {
  const target = resolve(process.argv[2] ?? 'openapi.json');
  generateOpenApi()
    .then((text) => writeFile(target, text))
    .then(() => new Logger('OpenAPI').log(`Wrote ${target}`))
    .catch((err: Error) => {
      new Logger('OpenAPI').fatal(err.stack ?? err.message);
      process.exit(1);
    });
}
