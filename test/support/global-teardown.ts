import { rm } from 'node:fs/promises';
import { Client } from 'pg';

export default async function globalTeardown(): Promise<void> {
  const url = process.env.TEST_SERVER_URL;
  if (url) {
    // Drop databases a crashed test file of this run left behind (other runs may share the server).
    const client = new Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [
      `vmapi\\_test\\_${process.env.TEST_RUN_ID}\\_%`,
    ]);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await client.end();
  }
  if (process.env.SIMULATOR_STATE_DIR) await rm(process.env.SIMULATOR_STATE_DIR, { recursive: true, force: true });
  const embedded = (globalThis as { __EMBEDDED_PG__?: { stop(): Promise<void> } }).__EMBEDDED_PG__;
  await embedded?.stop();
}
