import { ConsoleLogger, INestApplicationContext, Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestApplicationContextOptions } from '@nestjs/common/interfaces/nest-application-context-options.interface';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Server } from 'node:http';
import { ApiModule } from './api.module';
import { configureApp, createHttpAdapter } from './app.setup';
import { describeError } from './common/describe-error';
import { WorkerModule } from './worker.module';
import { Env, validateEnv } from './config/env.validation';
// Types only: the module itself is loaded when there is no DATABASE_URL (see embeddedPostgres()).
import type { EmbeddedDatabase } from './database/embedded-postgres';

export interface Started<A = NestFastifyApplication> {
  app: A;
  env: Env;
  embedded?: EmbeddedDatabase;
}

function makeLogger(env: Env): ConsoleLogger {
  const levels: LogLevel[] = ['log', 'warn', 'error', 'fatal'];
  if (env.LOG_LEVEL === 'debug') levels.push('debug', 'verbose');
  const logger = new ConsoleLogger({ json: env.LOG_FORMAT === 'json', logLevels: levels });
  // Last resort, not the fix for any one: a promise nobody awaited must not take the process (and
  // every job and request in it) down. It is a bug all the same, so it is logged with its cause.
  process.on('unhandledRejection', (reason) =>
    new Logger('Process').error(`Unhandled rejection (a bug; the process keeps running): ${describeError(reason)}`),
  );
  return logger;
}

/**
 * The embedded-postgres module, loaded only when there is no DATABASE_URL. Loading it registers an
 * exit hook (async-exit-hook) that, on SIGINT/SIGTERM, stops the server and ends the process about
 * a second later, before any drain; those two listeners are removed again, and handleShutdown
 * stops the server after the application has drained.
 */
async function embeddedPostgres(): Promise<typeof import('./database/embedded-postgres.js')> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const module = await import('./database/embedded-postgres.js');
  for (const s of signals)
    for (const listener of process.listeners(s)) if (!before.get(s)!.has(listener)) process.removeListener(s, listener);
  return module;
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
    embedded = await (await embeddedPostgres()).startEmbeddedPostgres(env.DATA_DIR, env.EMBEDDED_PG_PORT);
    databaseUrl = embedded.url;
  }
  try {
    const app = await NestFactory.create<NestFastifyApplication>(ApiModule.forRoot({ databaseUrl }), createHttpAdapter(env), {
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
  const databaseUrl = env.DATABASE_URL ?? (await (await embeddedPostgres()).attachEmbeddedPostgres(env.DATA_DIR, env.EMBEDDED_PG_PORT));
  const app = await createWorker(databaseUrl, { logger });
  return { app, env };
}

/** The worker's application context: WorkerModule, no HTTP adapter (and so no routes, Swagger or console). */
export function createWorker(databaseUrl: string, options: NestApplicationContextOptions = {}): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(WorkerModule.forRoot({ databaseUrl }), options);
}

/**
 * On SIGINT/SIGTERM: an API stops accepting connections at once and answers the requests in flight
 * (up to SHUTDOWN_DRAIN_SECONDS); the queue takes no new jobs and lets running ones finish within
 * the same window, then hands back what is left (QueueService); then the pools close, the embedded
 * server (if any) stops, and the process exits.
 */
export function handleShutdown({ app, env, embedded }: Started<INestApplicationContext>): void {
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    const logger = new Logger('Shutdown');
    const started = Date.now();
    logger.log(`${signal} received: draining (up to ${env.SHUTDOWN_DRAIN_SECONDS} s), then exiting`);
    // Whatever hangs, the process still ends: drain, hand-back grace, pool and server stops.
    setTimeout(
      () => {
        logger.error('Shutdown did not finish in time; exiting anyway');
        process.exit(1);
      },
      (env.SHUTDOWN_DRAIN_SECONDS + 40) * 1000,
    ).unref();
    const server = 'getHttpServer' in app ? ((app as NestFastifyApplication).getHttpServer() as Server) : undefined;
    if (server) stopAccepting(server, env.SHUTDOWN_DRAIN_SECONDS);
    try {
      // Nest closes the HTTP server again (that waits for the requests still in flight) before the
      // database pool, so every request in flight is answered with the database still there.
      await app.close();
    } catch (err) {
      logger.error(`Error while closing: ${describeError(err)}`);
    }
    await embedded?.stop().catch((err) => logger.warn(`Stopping the embedded PostgreSQL: ${describeError(err)}`));
    logger.log(`Shut down in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

/**
 * Stops listening (new connections are refused) and closes keep-alive connections as they go idle;
 * requests in flight go on. Connections still open after `drainSeconds` are cut.
 */
function stopAccepting(server: Server, drainSeconds: number): void {
  server.close();
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  const cut = setTimeout(() => server.closeAllConnections(), drainSeconds * 1000);
  server.once('close', () => {
    clearInterval(idle);
    clearTimeout(cut);
  });
  idle.unref();
  cut.unref();
}
