import { ConsoleLogger, Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { Env, validateEnv } from './config/env.validation';
import { EmbeddedDatabase, startEmbeddedPostgres } from './database/embedded-postgres';

export interface Started {
  app: NestExpressApplication;
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
 * DATA_DIR) and builds the configured Nest application. Shared by the API and the worker process.
 */
export async function bootstrap(overrides: Partial<Env> = {}): Promise<Started> {
  const env = validateEnv({ ...process.env, ...overrides });
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

/** Closes the app (queue drains, pool closes), then the embedded server, on SIGINT/SIGTERM. */
export function handleShutdown({ app, embedded }: Started): void {
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
