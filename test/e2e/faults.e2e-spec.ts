import { describe, expect, it } from '@jest/globals';
import { Client } from 'pg';
import { eventually, newUser } from '../support/factories';
import { createTestApp, createTestDatabase, TEST_VM_QUEUE } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }; // costs 17

async function admin(sql: string, params: unknown[] = []) {
  const c = new Client({ connectionString: process.env.TEST_SERVER_URL });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

describe('fault injection (e2e)', () => {
  it('answers 503 while the database is gone and works again after, with no lost, duplicated or partial work', async () => {
    const database = await createTestDatabase();
    const ctx = await createTestApp({ database });
    const dbName = new URL(database.url).pathname.slice(1);
    try {
      const user = await newUser(ctx, { credits: 100 });
      const before = await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'before', ...spec })
        .expect(202);
      await eventually(async () => (await ctx.http.get(`/api/vms/${before.body.id}`).set(user.auth)).body.status === 'running');

      // The database goes away: no new connections, and the app's existing ones are cut.
      await admin(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [dbName]);
      const down = [
        await ctx.http.get('/api/health'),
        await ctx.http.get('/api/vms').set(user.auth),
        await ctx.http
          .post('/api/vms')
          .set(user.auth)
          .send({ name: 'during', ...spec }),
      ];
      for (const res of down) {
        expect(res.status).toBe(503);
        expect(JSON.stringify(res.body)).not.toMatch(/SELECT|INSERT|stack|ECONN/);
      }

      // It comes back.
      await admin(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
      await eventually(async () => (await ctx.http.get('/api/health')).status === 200, 20_000, 'health after the outage');
      const after = await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'after', ...spec })
        .expect(202);
      await eventually(
        async () => (await ctx.http.get(`/api/vms/${after.body.id}`).set(user.auth)).body.status === 'running',
        30_000,
        'provisioning after the outage',
      );

      const vms = await ctx.db.query(`SELECT name FROM vms WHERE user_id = $1 ORDER BY name`, [user.id]);
      expect(vms.map((v: { name: string }) => v.name)).toEqual(['after', 'before']);
      const jobs = await ctx.db.query(
        `SELECT data->>'vmId' AS vm, count(*)::int AS n FROM pgboss.job WHERE name = '${TEST_VM_QUEUE}' GROUP BY 1`,
      );
      expect(jobs.map((j: { n: number }) => j.n)).toEqual([1, 1]);
      const [{ credits }] = await ctx.db.query('SELECT credits FROM users WHERE id = $1', [user.id]);
      expect(credits).toBe(100 - 2 * 17);
    } finally {
      await admin(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`).catch(() => undefined);
      await ctx.close();
      await database.drop();
    }
  });

  it('finishes the running operation on graceful shutdown (what SIGTERM triggers) before closing', async () => {
    const database = await createTestDatabase();
    const ctx = await createTestApp({ database, env: { SIMULATOR_DELAY_MS: 1500 } });
    let vmId: string;
    try {
      const user = await newUser(ctx);
      vmId = (
        await ctx.http
          .post('/api/vms')
          .set(user.auth)
          .send({ name: 'busy', ...spec })
          .expect(202)
      ).body.id;
      // The worker has leased the VM: the provider is working on it.
      await eventually(async () => (await ctx.db.query('SELECT locked_by FROM vms WHERE id = $1', [vmId]))[0].locked_by !== null);
    } finally {
      await ctx.close();
    }
    const c = new Client({ connectionString: database.url });
    await c.connect();
    const { rows } = await c.query('SELECT status, locked_by FROM vms WHERE id = $1', [vmId!]);
    await c.end();
    await database.drop();
    expect(rows[0]).toEqual({ status: 'running', locked_by: null });
  });
});
