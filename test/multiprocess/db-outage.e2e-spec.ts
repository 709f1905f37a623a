import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { eventually } from '../support/factories';
import { api, ensureBuilt, ready, registerUser, ServiceProcess, startService, startTestPostgres, TestPostgres } from '../support/processes';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };
const OUTAGE_MS = 12_000;
const BEFORE = 40;
const AFTER = 20;

/**
 * A PostgreSQL outage under load, with real processes: an API that also runs a worker and a
 * separate worker process, on a database the test stops for 12 s in the middle of a create burst.
 */
describe('database outage (real processes)', () => {
  let pg: TestPostgres;
  let stateDir: string;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    pg = await startTestPostgres();
    stateDir = await mkdtemp(join(tmpdir(), 'vmapi-sim-'));
  }, 180_000);

  afterAll(async () => {
    for (const s of services) await s.kill();
    await pg?.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('keeps every process alive, pauses and resumes the queue, and brings every VM to running exactly once', async () => {
    const env = {
      DATABASE_URL: pg.url,
      SIMULATOR_DELAY_MS: 1500,
      SIMULATOR_STATE_DIR: stateDir,
      INITIAL_CREDITS: 100_000,
      QUOTA_MAX_VMS: 0,
      QUOTA_MAX_CPU_CORES: 0,
      QUOTA_MAX_RAM_MB: 0,
      TIMEOUT_UP_SECONDS: 60,
      RECONCILE_MINUTES: 0,
      METRICS_COLLECT_MINUTES: 0,
    };
    const apiProcess = await startService('api', 'api', { ...env, WORKER: true });
    services.push(apiProcess);
    await ready(apiProcess, 'api');
    const worker = await startService('worker', 'worker', env);
    services.push(worker);
    await ready(worker, 'worker');

    const user = await registerUser(apiProcess, 'outage');
    const create = (name: string) => api(apiProcess, 'POST', '/api/vms', { name, ...spec }, user.token);

    // A burst, then the database goes away while its jobs are being worked on.
    const accepted: string[] = [];
    for (const res of await Promise.all(Array.from({ length: BEFORE }, (_, i) => create(`before-${i}`)))) {
      expect(res.status).toBe(202);
      accepted.push(res.body.id);
    }
    const db = new Client({ connectionString: pg.url });
    await db.connect();
    await eventually(
      async () => (await db.query(`SELECT count(*)::int AS n FROM vms WHERE locked_by IS NOT NULL`)).rows[0].n > 0,
      20_000,
      'jobs in flight',
    );
    await db.end();

    await pg.stop();
    const outageStarted = Date.now();
    const during: { health: number[]; creates: number[] } = { health: [], creates: [] };
    let n = 0;
    while (Date.now() - outageStarted < OUTAGE_MS) {
      const health = await api(apiProcess, 'GET', '/api/health');
      during.health.push(health.status);
      if (health.status !== 503 || health.body.status !== 'degraded' || health.body.database !== 'down') {
        throw new Error(`health during the outage: ${health.status} ${JSON.stringify(health.body)}`);
      }
      during.creates.push((await create(`during-${n++}`)).status);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(apiProcess.alive()).toBe(true);
    expect(worker.alive()).toBe(true);
    await pg.start();
    const outageSeconds = (Date.now() - outageStarted) / 1000;

    // Nothing was accepted while the database was gone; everything after it is.
    expect(new Set(during.creates)).toEqual(new Set([503]));
    await eventually(async () => (await api(apiProcess, 'GET', '/api/health')).status === 200, 30_000, 'health after the outage');
    for (const res of await Promise.all(Array.from({ length: AFTER }, (_, i) => create(`after-${i}`)))) {
      expect(res.status).toBe(202);
      accepted.push(res.body.id);
    }

    // Every VM reaches running (well within TIMEOUT_UP_SECONDS), each provisioned exactly once.
    const check = new Client({ connectionString: pg.url });
    await check.connect();
    try {
      await eventually(
        async () => (await check.query(`SELECT count(*)::int AS n FROM vms WHERE status = 'running'`)).rows[0].n === accepted.length,
        60_000,
        'every VM running',
      );
      const { rows: statuses } = await check.query(`SELECT status, count(*)::int AS n FROM vms GROUP BY status`);
      expect(statuses).toEqual([{ status: 'running', n: BEFORE + AFTER }]);
      const { rows: provisioned } = await check.query(
        `SELECT v.id, count(e.id)::int AS n FROM vms v LEFT JOIN events e ON e.vm_id = v.id AND e.action = 'vm.provisioned' GROUP BY v.id`,
      );
      expect(provisioned.filter((r) => r.n !== 1)).toEqual([]);
      const { rows: failures } = await check.query(
        `SELECT action, count(*)::int AS n FROM events WHERE severity = 'critical' GROUP BY action`,
      );
      expect(failures).toEqual([]);
      const { rows: locks } = await check.query(`SELECT count(*)::int AS n FROM vms WHERE locked_by IS NOT NULL`);
      expect(locks[0].n).toBe(0);
    } finally {
      await check.end();
    }

    // Both processes lived through it, said so, and the health check is ok again.
    expect(apiProcess.alive()).toBe(true);
    expect(worker.alive()).toBe(true);
    expect((await api(apiProcess, 'GET', '/api/health')).body.status).toBe('ok');
    for (const s of services) expect(s.lines.filter((l) => /unhandled|FATAL/i.test(l))).toEqual([]);
    // For the report: outage length survived and VMs created around it.
    console.log(
      `outage ${outageSeconds.toFixed(1)} s; ${accepted.length} VMs accepted (${BEFORE} before, ${AFTER} after), ${during.creates.length} creates refused with 503 during it; all running, one vm.provisioned each`,
    );
  }, 180_000);
});
