import { Logger } from '@nestjs/common';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres';

/** Set once this run's server and template exist: several projects of one run share them. */
const DONE = Symbol.for('vmapi.test.globalSetup');

/**
 * One PostgreSQL server for the whole run: DATABASE_URL when set (CI uses the machine's server),
 * otherwise an embedded one in a temporary folder. The migrations and pg-boss's schema run once, into
 * the template database named here (made by the first test file that needs it, see `createTestDatabase`
 * in test-app.ts: the migrations are TypeScript that only Jest's module mapping loads); each test file
 * then makes its own database as a copy of it (`{ empty: true }` for a test of migrating at boot).
 */
export default async function globalSetup(): Promise<void> {
  const state = globalThis as { [DONE]?: boolean; __EMBEDDED_PG__?: unknown };
  if (state[DONE]) return;
  state[DONE] = true;
  Logger.overrideLogger(['log', 'warn', 'error', 'fatal']);
  let url = process.env.DATABASE_URL;
  if (!url) {
    const dir = await mkdtemp(join(tmpdir(), 'vmapi-test-'));
    const port = 55000 + Math.floor(Math.random() * 5000);
    const embedded = await startEmbeddedPostgres(dir, port);
    state.__EMBEDDED_PG__ = embedded;
    url = embedded.url;
  }
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.end();
  process.env.TEST_SERVER_URL = url;
  // Names this run's databases, so teardown drops only its own (other runs may share the server).
  process.env.TEST_RUN_ID = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  process.env.TEST_TEMPLATE_DB = `vmapi_template_${process.env.TEST_RUN_ID}`;
  // The simulator's machines (shared by every app a test starts), away from the project's DATA_DIR.
  process.env.SIMULATOR_STATE_DIR = await mkdtemp(join(tmpdir(), 'vmapi-sim-'));
  // Tests build their own database URL; the app must never fall back to DATABASE_URL by itself.
  delete process.env.DATABASE_URL;
}
