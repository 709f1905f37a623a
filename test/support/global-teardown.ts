import { rm } from 'node:fs/promises';
import { Client } from 'pg';

const DONE = Symbol.for('vmapi.test.globalTeardown');

export default async function globalTeardown(): Promise<void> {
  const state = globalThis as { [DONE]?: boolean; __EMBEDDED_PG__?: { stop(): Promise<void> } };
  if (state[DONE]) return;
  state[DONE] = true;
  const url = process.env.TEST_SERVER_URL;
  if (url) {
    // Drop databases a crashed test file of this run left behind, and the run's template (other runs
    // may share the server).
    const client = new Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`, [
      `vmapi\\_test\\_${process.env.TEST_RUN_ID}\\_%`,
      process.env.TEST_TEMPLATE_DB ?? '',
    ]);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await client.end();
  }
  if (process.env.SIMULATOR_STATE_DIR) await rm(process.env.SIMULATOR_STATE_DIR, { recursive: true, force: true });
  await state.__EMBEDDED_PG__?.stop();
}
