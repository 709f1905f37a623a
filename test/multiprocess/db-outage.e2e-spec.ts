import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { day2InFlight, expectDay2Done, prepareDay2, requestDay2 } from '../support/day2-faults';
import { hostQueue } from '../../src/queue/host';
import { nextRunAt, phaseMs } from '../../src/queue/periodic.service';
import { eventually } from '../support/factories';
import { expectProcessesSurvived, expectVmsSettled } from '../support/settled';
import { WebhookReceiver } from '../support/webhook-receiver';
import { api, ensureBuilt, registerUser, ServiceProcess, startApiAndWorker, startTestPostgres, TestPostgres } from '../support/processes';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };
const OUTAGE_MS = 12_000;
const BEFORE = 40;
const AFTER = 20;
/** The database's absence while day-2 operations run. */
const DAY2_OUTAGE_MS = 6_000;
/** The database's absence across a periodic run that falls due. */
const PERIODIC_OUTAGE_MS = 10_000;
const MINUTE = 60_000;

/**
 * A host name whose reconcile pass (a periodic task, phased by its name) next falls 68-72 s from now,
 * more than an interval after its first run at the processes' start (a run within 0.9 of an interval
 * of the last is not claimed), and whose sampling pass falls 13-17 s before that: the sampling run
 * lands inside an outage that starts 3 s before it, the reconcile run after the database is back.
 */
function hostWithPhases(now: number): { host: string; samplingAt: number; reconcileAt: number } {
  for (let i = 0; ; i++) {
    const host = `outage-${i}`;
    const reconcileAt = nextRunAt(now + 68_000, MINUTE, phaseMs(hostQueue('vm-reconcile', host), MINUTE));
    const samplingAt = nextRunAt(reconcileAt - 18_000, MINUTE, phaseMs(hostQueue('metrics-collect', host), MINUTE));
    if (reconcileAt <= now + 72_000 && reconcileAt - samplingAt >= 13_000 && reconcileAt - samplingAt <= 17_000)
      return { host, samplingAt, reconcileAt };
  }
}

/**
 * A PostgreSQL outage under load, with real processes: an API that also runs a worker and a
 * separate worker process, on a database the test stops for 12 s in the middle of a create burst,
 * then for 6 s while a resize, a rebuild, a snapshot create, a restore and a snapshot delete run.
 */
describe('database outage (real processes)', () => {
  let pg: TestPostgres;
  let stateDir: string;
  let receiver: WebhookReceiver;
  const services: ServiceProcess[] = [];
  /** Settings of both tests' processes; each adds its own. */
  const common = () => ({ DATABASE_URL: pg.url, SIMULATOR_STATE_DIR: stateDir, RECONCILE_MINUTES: 0, METRICS_COLLECT_MINUTES: 0 });

  beforeAll(async () => {
    ensureBuilt();
    pg = await startTestPostgres();
    stateDir = await mkdtemp(join(tmpdir(), 'vmapi-sim-'));
    receiver = await new WebhookReceiver().start();
  }, 180_000);

  afterEach(async () => {
    for (const s of services.splice(0)) await s.kill();
  });

  afterAll(async () => {
    await pg?.destroy();
    await receiver.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('keeps every process alive, pauses and resumes the queue, brings every VM to running exactly once and delivers every webhook', async () => {
    const env = {
      ...common(),
      SIMULATOR_DELAY_MS: 1500,
      INITIAL_CREDITS: 100_000,
      QUOTA_MAX_VMS: 0,
      QUOTA_MAX_CPU_CORES: 0,
      QUOTA_MAX_RAM_MB: 0,
      TIMEOUT_UP_SECONDS: 60,
      WEBHOOKS_ALLOW_HTTP: true,
      WEBHOOKS_ALLOW_LOOPBACK: true,
      WEBHOOKS_RETRY_BASE_DELAY_MS: 500,
      WEBHOOKS_RETRY_MAX_DELAY_MS: 2_000,
    };
    const { apiProcess, worker } = await startApiAndWorker(env, services);

    const user = await registerUser(apiProcess, 'outage');
    const hook = await api(apiProcess, 'POST', '/api/webhooks', { url: receiver.url('/outage'), events: ['vm.provisioned'] }, user.token);
    expect(hook.status).toBe(201);
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

    // Every VM reaches running (well within TIMEOUT_UP_SECONDS), each provisioned exactly once; both
    // processes lived through it and the health check is ok again.
    const check = new Client({ connectionString: pg.url });
    await check.connect();
    try {
      await expectVmsSettled(check, BEFORE + AFTER);
      const { rows: statuses } = await check.query(`SELECT status, count(*)::int AS n FROM vms GROUP BY status`);
      expect(statuses).toEqual([{ status: 'running', n: BEFORE + AFTER }]);
      // The webhooks worker lived through it too: every vm.provisioned was delivered (at least once), no delivery is
      // left pending or failed, and each reached the receiver under one webhook-id per event.
      await eventually(
        async () =>
          (await check.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'delivered'`)).rows[0]!.n ===
          BEFORE + AFTER,
        60_000,
        'every webhook delivered',
      );
      const { rows: deliveries } = await check.query(`SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status`);
      expect(deliveries).toEqual([{ status: 'delivered', n: BEFORE + AFTER }]);
      const ids = new Set(receiver.at('/outage').map((r) => r.headers['webhook-id']));
      expect(ids.size).toBe(BEFORE + AFTER);
    } finally {
      await check.end();
    }
    await expectProcessesSurvived(apiProcess, services);
    // For the report: outage length survived and VMs created around it.
    console.log(
      `outage ${outageSeconds.toFixed(1)} s; ${accepted.length} VMs accepted (${BEFORE} before, ${AFTER} after), ${during.creates.length} creates refused with 503 during it; all running, one vm.provisioned each`,
    );
  }, 180_000);

  it('finishes a resize, a rebuild, a snapshot create, a restore and a snapshot delete in flight across an outage: each once, nothing stuck, every process alive', async () => {
    // Operations long enough to be running when the database goes, and to end while it is gone.
    const { apiProcess, worker } = await startApiAndWorker({ ...common(), SIMULATOR_DELAY_MS: 4000, INITIAL_CREDITS: 10_000 }, services);
    const user = await registerUser(apiProcess, 'outage-day2');

    const db = new Client({ connectionString: pg.url });
    await db.connect();
    const run = await prepareDay2(apiProcess, user.token, db, ['resize', 'rebuild', 'snapshot', 'restore', 'delete']);
    await requestDay2(apiProcess, user.token, db, run);
    await day2InFlight(db, run);
    await db.end();

    await pg.stop();
    const outageStarted = new Date();
    while (Date.now() - outageStarted.getTime() < DAY2_OUTAGE_MS) {
      const health = await api(apiProcess, 'GET', '/api/health');
      expect(health.status).toBe(503);
      expect(apiProcess.alive() && worker.alive()).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
    }
    await pg.start();
    const outageSeconds = (Date.now() - outageStarted.getTime()) / 1000;

    const check = new Client({ connectionString: pg.url });
    await check.connect();
    try {
      await expectDay2Done(check, run, stateDir);
      // Each outcome was recorded after the database came back: the operations were in flight across the outage.
      const { rows: early } = await check.query(
        `SELECT action FROM events WHERE vm_id = ANY($1) AND action IN ('vm.resized', 'vm.rebuilt', 'vm.snapshot_created', 'vm.snapshot_restored', 'vm.snapshot_deleted')
            AND created_at >= $2 AND created_at < $3`,
        [Object.values(run.vm), run.since, outageStarted],
      );
      expect(early).toEqual([]);
    } finally {
      await check.end();
    }
    await expectProcessesSurvived(apiProcess, services);
    console.log(
      `day-2 outage ${outageSeconds.toFixed(1)} s with resize, rebuild, snapshot create, restore and snapshot delete in flight on two worker processes: all five finished once after it, no process exited`,
    );
  }, 180_000);
  it('periodic tasks across a 10 s outage: the run due meanwhile is skipped, the next one runs, both processes live', async () => {
    const { host, samplingAt, reconcileAt } = hostWithPhases(Date.now());
    const sampling = hostQueue('metrics-collect', host);
    const reconcile = hostQueue('vm-reconcile', host);
    const { apiProcess, worker } = await startApiAndWorker(
      { ...common(), HOST_NAME: host, RECONCILE_MINUTES: 1, METRICS_COLLECT_MINUTES: 1 },
      services,
    );
    const db = new Client({ connectionString: pg.url });
    await db.connect();
    const finishedRuns = async () =>
      (await db.query<{ name: string; started_at: Date }>(`SELECT name, started_at FROM periodic_runs WHERE finished_at IS NOT NULL`)).rows;
    try {
      // Each task's first run comes within seconds of the processes' start.
      await eventually(
        async () => {
          const names = (await finishedRuns()).map((r) => r.name);
          return [sampling, reconcile, 'host-watch'].every((n) => names.includes(n));
        },
        15_000,
        'the first periodic runs',
      );
    } finally {
      await db.end();
    }
    expect(Date.now()).toBeLessThan(samplingAt - 3_000);
    await new Promise((r) => setTimeout(r, samplingAt - 3_000 - Date.now()));

    await pg.stop();
    const outageStarted = Date.now();
    while (Date.now() - outageStarted < PERIODIC_OUTAGE_MS) {
      expect(apiProcess.alive() && worker.alive()).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
    }
    await pg.start();
    const outageEnded = new Date();
    expect(outageEnded.getTime()).toBeLessThan(reconcileAt);

    const check = new Client({ connectionString: pg.url });
    await check.connect();
    try {
      // The reconcile pass due after the outage ran (and ended) in one of the two processes.
      await eventually(
        async () => {
          const { rows } = await check.query(
            `SELECT 1 FROM periodic_runs WHERE name = $1 AND started_at >= $2 AND finished_at IS NOT NULL`,
            [reconcile, outageEnded],
          );
          return rows.length === 1;
        },
        reconcileAt - Date.now() + 10_000,
        'the reconcile pass after the outage',
      );
      // The sampling run due during the outage could not be claimed: skipped, said so, not crashed.
      const { rows: sampled } = await check.query<{ started_at: Date }>(`SELECT started_at FROM periodic_runs WHERE name = $1`, [sampling]);
      expect(sampled[0]!.started_at.getTime()).toBeLessThan(outageStarted);
    } finally {
      // This test's host goes with its processes: a later test's creates must not be placed there.
      await check.query(`UPDATE hosts SET schedulable = false WHERE name = $1`, [host]);
      await check.end();
    }
    const skipped = [apiProcess, worker].flatMap((s) => s.lines).filter((l) => l.includes(`Periodic ${sampling} skipped`));
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    await expectProcessesSurvived(apiProcess, services);
    console.log(
      `periodic outage ${((outageEnded.getTime() - outageStarted) / 1000).toFixed(1)} s: the sampling run due in it skipped in ${skipped.length} process(es), the reconcile pass ${((reconcileAt - outageEnded.getTime()) / 1000).toFixed(1)} s after it ran`,
    );
  }, 150_000);
});
