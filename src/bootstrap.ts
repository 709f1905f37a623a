import { ConsoleLogger, INestApplicationContext, Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { Env, validateEnv } from './config/env.validation';
import { attachEmbeddedPostgres, EmbeddedDatabase, startEmbeddedPostgres } from './database/embedded-postgres';

export interface Started<A = NestExpressApplication> {
  app: A;
  env: Env;
  embedded?: EmbeddedDatabase;
}

function makeLogger(env: Env): ConsoleLogger {
  const levels: LogLevel[] = ['log', 'warn', 'error', 'fatal'];
  if (env.LOG_LEVEL === 'debug') levels.push('debug', 'verbose');
  return new ConsoleLogger({ json: env.LOG_FORMAT === 'json', logLevels: levels });
}

/**
 * Validates the environment, resolves the database (DATABASE_URL, or embedded PostgreSQL under
 * DATA_DIR) and builds the configured Nest application.
 */
export async function bootstrap(): Promise<Started> {
  const env = validateEnv(process.env);
  const logger = makeLogger(env);
  Logger.overrideLogger(logger);
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(env.DATA_DIR, env.EMBEDDED_PG_PORT);
    databaseUrl = embedded.url;
  }
  try {
    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ databaseUrl }), {
      logger,
      bodyParser: false,
    });
    configureApp(app);
    return { app, env, embedded };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}

/**
 * A worker-only process (no HTTP): consumes the VM queue. Uses DATABASE_URL, or attaches to the
 * embedded server that `npm start` runs on the same DATA_DIR.
 */
export async function bootstrapWorker(): Promise<Started<INestApplicationContext>> {
  const env = validateEnv({ ...process.env, WORKER: 'true' });
  const logger = makeLogger(env);
  Logger.overrideLogger(logger);
  const databaseUrl = env.DATABASE_URL ?? (await attachEmbeddedPostgres(env.DATA_DIR, env.EMBEDDED_PG_PORT));
  const app = await NestFactory.createApplicationContext(AppModule.forRoot({ databaseUrl, env: { WORKER: true } }), { logger });
  return { app, env };
}

/** Closes the app (queue drains, pool closes), then the embedded server, on SIGINT/SIGTERM. */
export function handleShutdown({ app, embedded }: Started<INestApplicationContext>): void {
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    const logger = new Logger('Shutdown');
    logger.log(`${signal} received: shutting down`);
    try {
      await app.close();
    } catch (err) {
      logger.error(`Error while closing: ${(err as Error).message}`);
    }
    await embedded?.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}
