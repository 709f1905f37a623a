import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { day2InFlight, expectDay2Done, prepareDay2, requestDay2 } from '../support/day2-faults';
import { eventually } from '../support/factories';
import {
  api,
  ensureBuilt,
  getOnOwnConnection,
  openIdleConnection,
  ready,
  registerUser,
  ServiceProcess,
  startService,
  startTestPostgres,
  TestPostgres,
} from '../support/processes';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };

/** Connections established but not yet accepted by the process listening on `port` (its listen queue). */
function acceptQueue(port: string): number {
  const lines = execFileSync('ss', ['-Hltn', `( sport = :${port} )`], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return lines.reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[1] ?? 0), 0);
}

/** SIGTERM with work in flight, on real processes (DATABASE_URL set, as in production). */
describe('graceful shutdown (real processes)', () => {
  let pg: TestPostgres;
  let db: Client;
  let stateDir: string;
  const services: ServiceProcess[] = [];
  let base: Record<string, string | number | boolean>;

  beforeAll(async () => {
    ensureBuilt();
    pg = await startTestPostgres();
    // Room for one connection per in-flight request in the HTTP case.
    const c = new Client({ connectionString: pg.url });
    await c.connect();
    await c.query('ALTER SYSTEM SET max_connections = 400');
    await c.end();
    await pg.stop();
    await pg.start();
    db = new Client({ connectionString: pg.url });
    await db.connect();
    stateDir = await mkdtemp(join(tmpdir(), 'vmapi-sim-'));
    base = {
      DATABASE_URL: pg.url,
      SIMULATOR_STATE_DIR: stateDir,
      INITIAL_CREDITS: 10_000,
      QUOTA_MAX_VMS: 0,
      RECONCILE_MINUTES: 0,
      METRICS_COLLECT_MINUTES: 0,
      TIMEOUT_UP_SECONDS: 120,
    };
  }, 180_000);

  afterEach(async () => {
    // A failed test may have left the lock held (outside a transaction this only warns).
    await db.query('ROLLBACK');
    for (const s of services.splice(0)) await s.kill();
  });

  afterAll(async () => {
    await db?.end();
    await pg?.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });

  async function start(name: string, kind: 'api' | 'worker', env: Record<string, string | number | boolean>): Promise<ServiceProcess> {
    const s = await startService(name, kind, { ...base, ...env });
    services.push(s);
    await ready(s, kind);
    return s;
  }

  it('API: stops accepting at once, answers every request in flight, then exits', async () => {
    const server = await start('api', 'api', { WORKER: false, DB_POOL_SIZE: 200 });
    const user = await registerUser(server, 'drain-http');
    expect((await api(server, 'GET', '/api/vms', undefined, user.token)).status).toBe(200);

    // Slow requests: every VM list waits on a lock the test holds.
    await db.query('BEGIN');
    await db.query('LOCK TABLE vms IN ACCESS EXCLUSIVE MODE');
    const IN_FLIGHT = 150;
    const requests = Array.from({ length: IN_FLIGHT }, () =>
      getOnOwnConnection(server, '/api/vms', user.token).catch((err: Error) => String(err)),
    );
    // Every request has reached the server (its connection is established there) and is held up.
    const port = new URL(server.url).port;
    await eventually(
      async () =>
        execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' })
          .trim()
          .split('\n').length >= IN_FLIGHT,
      30_000,
      'every request connected',
    );
    await eventually(
      async () => (await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'`)).rows[0].n > 0,
      10_000,
      'requests waiting on the lock',
    );

    // Connections that send their request only as the signal goes out: the server has not read it yet.
    const late = await Promise.all(Array.from({ length: 20 }, () => openIdleConnection(server, '/api/vms', user.token)));
    // In flight means accepted by the server: a connection still in the kernel's accept queue when the
    // listener closes is refused (reset), as with any server that stops accepting.
    await eventually(async () => acceptQueue(port) === 0, 10_000, 'every connection accepted');
    const lateAnswers = late.map((c) => c.send().catch((err: Error) => String(err)));

    const signalled = Date.now();
    server.child.kill('SIGTERM');
    // New connections are refused while the ones in flight are still being served.
    await eventually(
      async () =>
        await api(server, 'GET', '/api/health').then(
          () => false,
          () => true,
        ),
      5_000,
      'connections refused',
    );
    expect(server.alive()).toBe(true);

    await db.query('COMMIT');
    const answers = [...(await Promise.all(requests)), ...(await Promise.all(lateAnswers))];
    const { code } = await server.exited;
    const drainMs = Date.now() - signalled;
    expect(answers.filter((a) => a !== 200)).toEqual([]);
    expect(code).toBe(0);
    console.log(
      `HTTP drain: ${answers.length} of ${IN_FLIGHT + late.length} in-flight requests answered 200 (${late.length} sent as SIGTERM went out); exited ${drainMs} ms after SIGTERM`,
    );
  }, 120_000);

  it('worker: lets running operations finish within the drain window, then exits', async () => {
    const server = await start('api', 'api', { WORKER: false });
    const worker = await start('worker', 'worker', { SIMULATOR_DELAY_MS: 4000, WORKER_CONCURRENCY: 4, SHUTDOWN_DRAIN_SECONDS: 30 });
    const user = await registerUser(server, 'drain-ops');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await api(server, 'POST', '/api/vms', { name: `drain-${i}`, ...spec }, user.token)).body.id);
    await eventually(
      async () =>
        (await db.query(`SELECT count(*)::int AS n FROM vms WHERE id = ANY($1) AND locked_by IS NOT NULL`, [ids])).rows[0].n === 4,
      20_000,
      'all four leased',
    );

    const signalled = Date.now();
    worker.child.kill('SIGTERM');
    const { code } = await worker.exited;
    const drainMs = Date.now() - signalled;
    expect(code).toBe(0);
    const { rows } = await db.query(`SELECT status, locked_by FROM vms WHERE id = ANY($1)`, [ids]);
    expect(rows).toEqual(ids.map(() => ({ status: 'running', locked_by: null })));
    const { rows: events } = await db.query(
      `SELECT vm_id, count(*)::int AS n FROM events WHERE action = 'vm.provisioned' AND vm_id = ANY($1) GROUP BY vm_id`,
      [ids],
    );
    expect(events.map((e) => e.n)).toEqual([1, 1, 1, 1]);
    console.log(`worker drain: 4 of 4 running operations finished; exited ${drainMs} ms after SIGTERM`);
  }, 120_000);

  it('worker: past a short drain window, hands its jobs back and another worker takes them at once', async () => {
    const server = await start('api', 'api', { WORKER: false });
    // Operations far longer than the drain window.
    const leaving = await start('leaving', 'worker', { SIMULATOR_DELAY_MS: 60_000, WORKER_CONCURRENCY: 2, SHUTDOWN_DRAIN_SECONDS: 1 });
    const user = await registerUser(server, 'handback');
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await api(server, 'POST', '/api/vms', { name: `handback-${i}`, ...spec }, user.token)).body.id);
    await eventually(
      async () =>
        (await db.query(`SELECT count(*)::int AS n FROM vms WHERE id = ANY($1) AND locked_by IS NOT NULL`, [ids])).rows[0].n === 2,
      20_000,
      'both leased',
    );
    const { rows: before } = await db.query(`SELECT id, locked_by, locked_until FROM vms WHERE id = ANY($1)`, [ids]);
    const staying = await start('staying', 'worker', { SIMULATOR_DELAY_MS: 500 });

    const signalled = Date.now();
    leaving.child.kill('SIGTERM');
    const { code } = await leaving.exited;
    const exitedAt = Date.now();
    expect(code).toBe(0);
    // The other worker takes both at once, long before the leases would have expired.
    const taken = await eventually(
      async () => {
        const { rows } = await db.query(
          `SELECT id, locked_by FROM vms WHERE id = ANY($1) AND (status = 'running' OR locked_by IS NOT NULL)`,
          [ids],
        );
        const moved = rows.filter((r) => r.locked_by !== before.find((b) => b.id === r.id).locked_by);
        return moved.length === 2 ? Date.now() : null;
      },
      20_000,
      'the other worker to take both jobs',
    );
    await eventually(
      async () => (await db.query(`SELECT count(*)::int AS n FROM vms WHERE id = ANY($1) AND status = 'running'`, [ids])).rows[0].n === 2,
      20_000,
      'both running',
    );
    const leaseExpiry = Math.min(...before.map((b) => new Date(b.locked_until).getTime()));
    expect(taken).toBeLessThan(leaseExpiry);
    expect(taken - exitedAt).toBeLessThan(10_000);
    const { rows: provisioned } = await db.query(
      `SELECT count(*)::int AS n FROM events WHERE action = 'vm.provisioned' AND vm_id = ANY($1)`,
      [ids],
    );
    expect(provisioned[0].n).toBe(2);
    const { rows: critical } = await db.query(`SELECT count(*)::int AS n FROM events WHERE severity = 'critical' AND vm_id = ANY($1)`, [
      ids,
    ]);
    expect(critical[0].n).toBe(0);
    console.log(
      `hand-back: worker exited ${exitedAt - signalled} ms after SIGTERM (drain window 1 s); the other worker had both jobs ${taken - exitedAt} ms later` +
        ` (their leases would have expired ${Math.round((leaseExpiry - exitedAt) / 1000)} s later)`,
    );
  }, 180_000);

  /** An API (WORKER=false) and a user with a VM per day-2 operation, made ready by a quick worker that has exited since. */
  async function day2Setup(tag: string, ops: Parameters<typeof prepareDay2>[3]) {
    const server = await start('api', 'api', { WORKER: false });
    const user = await registerUser(server, tag);
    const quick = await start('quick', 'worker', {});
    const run = await prepareDay2(server, user.token, db, ops);
    quick.child.kill('SIGTERM');
    expect((await quick.exited).code).toBe(0);
    return { server, user, run };
  }

  it('worker: hands back resize, rebuild, snapshot create, restore and snapshot delete past the drain window; another worker finishes each once', async () => {
    const { server, user, run } = await day2Setup('handback-day2', ['resize', 'rebuild', 'snapshot', 'restore', 'delete']);
    const leaving = await start('leaving', 'worker', { SIMULATOR_DELAY_MS: 60_000, WORKER_CONCURRENCY: 5, SHUTDOWN_DRAIN_SECONDS: 1 });
    await requestDay2(server, user.token, db, run);
    await day2InFlight(db, run);
    const staying = await start('staying', 'worker', { SIMULATOR_DELAY_MS: 500 });

    const signalled = Date.now();
    leaving.child.kill('SIGTERM');
    expect((await leaving.exited).code).toBe(0);
    const exitedAt = Date.now();
    // Each job was given back (completed as handed back, sent again), not left to expire.
    const ids = Object.values(run.vm);
    const { rows: handedBack } = await db.query(
      `SELECT count(*)::int AS n FROM pgboss.job WHERE output->>'handed_back' = 'true' AND data->>'vmId' = ANY($1)`,
      [ids],
    );
    expect(handedBack[0].n).toBe(ids.length);
    await expectDay2Done(db, run, stateDir, 30_000);
    expect(staying.alive()).toBe(true);
    console.log(
      `day-2 hand-back: worker exited ${exitedAt - signalled} ms after SIGTERM with resize, rebuild, snapshot create, restore and snapshot delete running; ` +
        `the other worker finished all five ${Date.now() - exitedAt} ms later, each charged and recorded once`,
    );
  }, 180_000);

  it('worker killed (kill -9) mid-resize and mid-snapshot: the jobs are retried at their expiry and finish once', async () => {
    const { server, user, run } = await day2Setup('kill9-day2', ['resize', 'snapshot']);
    const doomed = await start('doomed', 'worker', { SIMULATOR_DELAY_MS: 60_000, WORKER_CONCURRENCY: 2 });
    await requestDay2(server, user.token, db, run);
    await day2InFlight(db, run);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const ids = Object.values(run.vm);
    // Its jobs stay active, their VMs leased: what expires them is their expiry (minutes away), made 1 s here.
    const { rows: jobs } = await db.query<{ id: string }>(
      `UPDATE pgboss.job SET expire_in = interval '1 second', retry_delay = 0, retry_backoff = false
        WHERE state = 'active' AND data->>'vmId' = ANY($1) RETURNING id`,
      [ids],
    );
    expect(jobs).toHaveLength(ids.length);
    const killedAt = Date.now();
    await start('restarted', 'worker', { SIMULATOR_DELAY_MS: 500, QUEUE_MAINTENANCE_SECONDS: 1, QUEUE_POLL_SECONDS: 1 });
    await expectDay2Done(db, run, stateDir, 60_000);
    const { rows: retried } = await db.query(`SELECT retry_count, state FROM pgboss.job WHERE id = ANY($1)`, [jobs.map((j) => j.id)]);
    expect(retried).toEqual(jobs.map(() => ({ retry_count: 1, state: 'completed' })));
    console.log(`day-2 kill -9: resize and snapshot retried by a restarted worker, both done ${Date.now() - killedAt} ms after the kill`);
  }, 180_000);
});
