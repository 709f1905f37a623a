import { ConsoleLogger, LogLevel } from '@nestjs/common';
import { Test, TestingModuleBuilder } from '@nestjs/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import TestAgent from 'supertest/lib/agent';
import PgBoss from 'pg-boss';
import { DataSource } from 'typeorm';
import { AppModule } from '../../src/app.module';
import { dataSourceOptions } from '../../src/data-source';
import { migrate } from '../../src/database/migrate';
import { validateEnv } from '../../src/config/env.validation';
import { buildOpenApiDocument, configureApp, createHttpAdapter } from '../../src/app.setup';
import { hostQueue } from '../../src/queue/host';
import { QUEUE_SCHEMA, QueueService } from '../../src/queue/queue.service';
import { ensureVmOperationQueue, VM_OPERATION_QUEUE, vmOperationQueue } from '../../src/modules/vms/vm-jobs';
import { createResponseValidator } from './response-validator';

/** HOST_NAME of every test app unless a test says otherwise. */
export const TEST_HOST = 'test-host';
/** Its VM operation queue. */
export const TEST_VM_QUEUE = hostQueue(VM_OPERATION_QUEUE, TEST_HOST);

/** argon2id at its cheapest settings, which the app accepts only under NODE_ENV=test. */
export const CHEAP_PASSWORD_HASHING = { PASSWORD_HASH_MEMORY_KIB: 1024, PASSWORD_HASH_TIME_COST: 1 } as const;

/** Records every line at every level, as the app would print it. */
class CapturingLogger extends ConsoleLogger {
  constructor(private readonly lines: string[]) {
    super({ logLevels: ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] });
  }

  protected printMessages(messages: unknown[], context = '', logLevel: LogLevel = 'log'): void {
    this.lines.push(
      `${logLevel} [${context}] ${messages.map((m) => (m instanceof Error ? m.stack : typeof m === 'string' ? m : JSON.stringify(m))).join(' ')}`,
    );
  }
}

export interface TestContext {
  app: NestFastifyApplication;
  http: TestAgent;
  db: DataSource;
  databaseUrl: string;
  close(): Promise<void>;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string | number | boolean>;
  /** Collect every log line (all levels) here instead of printing warnings and errors. */
  captureLogs?: string[];
  /** Reuse this database (it is then not dropped on close); default: a fresh one. */
  database?: TestDatabase;
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
}

function serverUrl(): string {
  const url = process.env.TEST_SERVER_URL;
  if (!url) throw new Error('TEST_SERVER_URL is not set: run the tests through `npm test` (jest globalSetup)');
  return url;
}

function databaseUrl(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

let template: Promise<string | undefined> | undefined;

/**
 * This run's template database (TEST_TEMPLATE_DB, named by the global setup): every migration and
 * pg-boss's schema, no rows but the migrations' own. The first test file to need it makes it, under an
 * advisory lock that the files running beside it wait on; the global teardown drops it.
 */
function templateDatabase(): Promise<string | undefined> {
  template ??= (async () => {
    const name = process.env.TEST_TEMPLATE_DB;
    if (!name) return undefined;
    const admin = new Client({ connectionString: serverUrl() });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_advisory_lock(hashtext($1))`, [name]);
      const { rowCount } = await admin.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [name]);
      if (!rowCount) {
        await admin.query(`CREATE DATABASE "${name}"`);
        try {
          await (await migrate(await new DataSource(dataSourceOptions(databaseUrl(name), 1)).initialize())).destroy();
          // What the app's queue does at its first start (QueueService.onModuleInit), without its workers.
          const boss = new PgBoss({
            connectionString: databaseUrl(name),
            schema: QUEUE_SCHEMA,
            max: 1,
            supervise: false,
            schedule: false,
            migrate: true,
          });
          const errors: Error[] = [];
          boss.on('error', (err) => errors.push(err));
          await boss.start();
          await boss.stop({ graceful: false, wait: true });
          if (errors.length) throw errors[0];
        } catch (err) {
          await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
          throw err;
        }
      }
      return name;
    } finally {
      await admin.end();
    }
  })();
  return template;
}

export interface TestDatabaseOptions {
  /** No tables at all, for a test of what the app does on a database it has to migrate. */
  empty?: boolean;
}

/**
 * A fresh database on the test server, for one test file: a copy of this run's template (migrated
 * once by the global setup, with pg-boss's schema), or with `empty` a database with no tables.
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `vmapi_test_${process.env.TEST_RUN_ID ?? 'adhoc'}_${randomBytes(4).toString('hex')}`;
  // Refuse to touch anything whose name does not say test.
  if (!name.includes('test')) throw new Error(`refusing to use database ${name}`);
  const template = options.empty ? undefined : await templateDatabase();
  const admin = new Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(template ? `CREATE DATABASE "${name}" TEMPLATE "${template}"` : `CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: databaseUrl(name),
    drop: async () => {
      const c = new Client({ connectionString: serverUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The real application (real PostgreSQL, real queue) on its own database, configured like main.ts. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestContext> {
  const database = options.database ?? (await createTestDatabase());
  const env = {
    VM_PROVIDER: 'simulator',
    SIMULATOR_DELAY_MS: 0,
    JWT_SECRET: 'test-secret-that-is-at-least-32-characters',
    // One roomy host that stays online for the length of a test; host tests set their own.
    HOST_NAME: TEST_HOST,
    HOST_CPU_CORES: 10_000,
    HOST_RAM_MB: 100_000_000,
    HOST_DISK_GB: 10_000_000,
    HOST_OFFLINE_SECONDS: 3600,
    // No metrics listener (its default port would clash between apps); tests of it set a free port.
    METRICS_PORT: 0,
    // Cheap password hashing (NODE_ENV=test only); password-hashing.e2e-spec.ts checks the production default once.
    ...CHEAP_PASSWORD_HASHING,
    ...options.env,
  };
  let builder = Test.createTestingModule({ imports: [AppModule.forRoot({ databaseUrl: database.url, env })] });
  if (options.override) builder = options.override(builder);
  const moduleRef = await builder.compile();
  const logger = options.captureLogs ? new CapturingLogger(options.captureLogs) : (['error', 'warn'] as LogLevel[]);
  // The HTTP server's settings, validated as AppModule validates them.
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createHttpAdapter(validateEnv({ ...process.env, ...env })), {
    bodyParser: false,
    logger,
  });
  // Every JSON answer is checked against the OpenAPI document (undeclared fields or statuses fail).
  const validator = createResponseValidator(() => buildOpenApiDocument(app) as unknown as Record<string, unknown>);
  app.getHttpAdapter().getInstance().addHook('onSend', validator.onSend);
  configureApp(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return {
    app,
    http: request(app.getHttpServer()),
    db: app.get(DataSource),
    databaseUrl: database.url,
    close: async () => {
      await app.close();
      if (!options.database) await database.drop();
      if (validator.violations.length) {
        throw new Error(`Responses that do not match the OpenAPI document:\n  ${[...new Set(validator.violations)].join('\n  ')}`);
      }
    },
  };
}

/**
 * Registers a host as its worker would (its queue, then its row), for API-only (WORKER=false) tests
 * that create VMs: placement needs an online host, and the jobs then wait in its queue.
 */
export async function registerHost(
  ctx: TestContext,
  host: { name?: string; cpuCores?: number; ramMb?: number; diskGb?: number } = {},
): Promise<string> {
  const name = host.name ?? TEST_HOST;
  await ensureVmOperationQueue(ctx.app.get(QueueService), vmOperationQueue(name));
  await ctx.db.query(
    `INSERT INTO hosts (name, cpu_cores, ram_mb, disk_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, version, last_seen_at)
     VALUES ($1, $2, $3, $4, 1, 1, 1, 'test', now()) ON CONFLICT (name) DO UPDATE SET last_seen_at = now()`,
    [name, host.cpuCores ?? 10_000, host.ramMb ?? 100_000_000, host.diskGb ?? 10_000_000],
  );
  return name;
}
