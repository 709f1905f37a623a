import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { MetricsRepository } from '../../src/modules/metrics/metrics.repository';
import { eventually, newUser } from '../support/factories';
import { createTestApp, createTestDatabase, TestContext, TestDatabase } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };

function withUser(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

async function asRole<T>(url: string, work: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/**
 * Least privilege: scripts/db/create-roles.sql on a fresh database, migrations and pg-boss's schema
 * as the owner (MIGRATIONS_DATABASE_URL), the service as the app role (DATABASE_URL). Roles are
 * cluster-wide: unique names per run, dropped afterwards.
 */
describe('an owner role for migrations, an app role that only reads and writes (e2e)', () => {
  const suffix = randomBytes(4).toString('hex');
  const owner = `vmapi_test_owner_${suffix}`;
  const app = `vmapi_test_app_${suffix}`;
  let database: TestDatabase;
  let appUrl: string;
  let ctx: TestContext | undefined;

  beforeAll(async () => {
    // Empty: the owner role runs every migration at boot, and owns what they create.
    database = await createTestDatabase({ empty: true });
    execFileSync(
      'psql',
      [
        '-X',
        '-q',
        '-d',
        database.url,
        '-v',
        `owner=${owner}`,
        '-v',
        `app=${app}`,
        '-v',
        'owner_password=owner-pw',
        '-v',
        'app_password=app-pw',
        '-f',
        join(process.cwd(), 'scripts/db/create-roles.sql'),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    appUrl = withUser(database.url, app, 'app-pw');
    ctx = await createTestApp({
      database: { url: appUrl, drop: async () => undefined },
      env: { MIGRATIONS_DATABASE_URL: withUser(database.url, owner, 'owner-pw') },
    });
  });
  afterAll(async () => {
    await ctx?.close();
    await database.drop();
    await asRole(process.env.TEST_SERVER_URL!, async (c) => {
      await c.query(`DROP ROLE IF EXISTS "${app}"`);
      await c.query(`DROP ROLE IF EXISTS "${owner}"`);
    });
  });

  it('runs as the app role: registers a user, and a VM is provisioned by the worker (its queue created at run time)', async () => {
    const c = ctx!;
    const [me] = await c.db.query(
      `SELECT current_user::text AS who, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser`,
    );
    expect(me).toEqual({ who: app, superuser: false });
    const alice = await newUser(c, { credits: 100 });
    const id = (
      await c.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'least-privilege', ...spec })
        .expect(202)
    ).body.id;
    await eventually(async () => (await c.http.get(`/api/vms/${id}`).set(alice.auth)).body.status === 'running', 15_000, 'VM running');
    // Every table belongs to the owner, pg-boss's per-queue partitions included.
    const owners = await c.db.query(`SELECT DISTINCT tableowner::text AS owner FROM pg_tables WHERE schemaname IN ('public', 'pgboss')`);
    expect(owners.map((r: { owner: string }) => r.owner)).toEqual([owner]);
    const sessions = await c.db.query(`SELECT DISTINCT usename::text AS who FROM pg_stat_activity WHERE datname = current_database()`);
    expect(sessions.map((r: { who: string }) => r.who)).toEqual([app]);
  });

  it("the app role makes and drops metrics partitions only through the owner's functions", async () => {
    const repo = new MetricsRepository(ctx!.db);
    const day = new Date(Date.UTC(2031, 2, 1));
    expect(await repo.createPartitions([day])).toEqual(['metrics_p20310301_0000']);
    const [{ owner: partitionOwner }] = await ctx!.db.query(
      `SELECT tableowner::text AS owner FROM pg_tables WHERE tablename = 'metrics_p20310301_0000'`,
    );
    expect(partitionOwner).toBe(owner);
    await repo.insert([
      { vmId: (await ctx!.db.query(`SELECT id FROM vms LIMIT 1`))[0].id, name: 'cpu_percent', value: 1, unit: '%', recordedAt: day },
    ]);
    expect(await repo.dropPartition('metrics_p20310301_0000')).toBe(true);
    await asRole(appUrl, async (c) => {
      await expect(c.query(`DROP TABLE ${(await repo.partitions())[0]!.name}`)).rejects.toMatchObject({ code: '42501' });
    });
  });

  it('the app role cannot drop, alter or create a table', async () => {
    await asRole(appUrl, async (c) => {
      await expect(c.query('DROP TABLE vms')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('ALTER TABLE users ADD COLUMN x int')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('CREATE TABLE stray (id int)')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('CREATE TABLE pgboss.stray (id int)')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('TRUNCATE events')).rejects.toMatchObject({ code: '42501' });
    });
  });
});
