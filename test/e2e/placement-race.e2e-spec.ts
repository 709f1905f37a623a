import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from 'pg';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, registerHost, TestContext } from '../support/test-app';

// 1024 MB, 10 GB, 1 core: each host below holds exactly one.
const spec = { os_type: 'debian-12', ram_mb: 1024, disk_gb: 10, cpu_cores: 1 };

describe('placement: a create that finds its host full under the lock (e2e)', () => {
  let ctx: TestContext;
  let user: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { WORKER: false, QUOTA_MAX_VMS: 0 } });
    user = await newUser(ctx, { credits: 1000 });
    // Equal room: hv-a ranks first (same free RAM, then by name).
    for (const name of ['hv-a', 'hv-b']) await registerHost(ctx, { name, cpuCores: 1, ramMb: 1024, diskGb: 10 });
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('writes nothing on that host, not even its job, and places the VM on the next one', async () => {
    // Another transaction holds both hosts and fills hv-a; the create waits for hv-a, chosen on a
    // snapshot in which hv-a still has room, and gets it only once hv-a is full.
    const other = new Client({ connectionString: ctx.databaseUrl });
    await other.connect();
    let status: number;
    let body: { id: string };
    try {
      await other.query('BEGIN');
      await other.query(`SELECT name FROM hosts WHERE name IN ('hv-a', 'hv-b') FOR UPDATE`);
      await other.query(
        `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, host, status_changed_at, metadata)
         VALUES (gen_random_uuid(), $1, 'filler', 'debian-12', 1024, 10, 1, 'running', 22, 'hv-a', now(), '{}')`,
        [user.id],
      );
      const pending = ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'late', ...spec })
        .then((r) => r);
      await eventually(
        async () => {
          const [{ waiting }] = await ctx.db.query(
            `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          return waiting > 0;
        },
        10_000,
        'the create to wait for the host lock',
      );
      await other.query('COMMIT');
      ({ status, body } = await pending);
    } finally {
      await other.end();
    }
    expect(status).toBe(202);
    const [vm] = await ctx.db.query(`SELECT host FROM vms WHERE id = $1`, [body.id]);
    expect(vm.host).toBe('hv-b');
    const jobs: { name: string }[] = await ctx.db.query(`SELECT name FROM pgboss.job WHERE data->>'vmId' = $1`, [body.id]);
    expect(jobs.map((j) => j.name)).toEqual(['vm-operation.hv-b']);
    // Charged once, with one ledger row.
    const [{ credits, rows }] = await ctx.db.query(
      `SELECT u.credits, (SELECT count(*)::int FROM credit_transactions WHERE vm_id = $2) AS rows FROM users u WHERE u.id = $1`,
      [user.id, body.id],
    );
    expect({ credits, rows }).toEqual({ credits: 1000 - 22, rows: 1 });
  });
});
