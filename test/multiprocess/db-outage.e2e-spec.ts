import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { eventually } from '../support/factories';
import { expectProcessesSurvived, expectVmsSettled } from '../support/settled';
import { WebhookReceiver } from '../support/webhook-receiver';
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
  let receiver: WebhookReceiver;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    pg = await startTestPostgres();
    stateDir = await mkdtemp(join(tmpdir(), 'vmapi-sim-'));
    receiver = await new WebhookReceiver().start();
  }, 180_000);

  afterAll(async () => {
    for (const s of services) await s.kill();
    await pg?.destroy();
    await receiver.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('keeps every process alive, pauses and resumes the queue, brings every VM to running exactly once and delivers every webhook', async () => {
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
      WEBHOOKS_ALLOW_HTTP: true,
      WEBHOOKS_ALLOW_LOOPBACK: true,
      WEBHOOKS_RETRY_BASE_DELAY_MS: 500,
      WEBHOOKS_RETRY_MAX_DELAY_MS: 2_000,
    };
    const apiProcess = await startService('api', 'api', { ...env, WORKER: true });
    services.push(apiProcess);
    await ready(apiProcess, 'api');
    const worker = await startService('worker', 'worker', env);
    services.push(worker);
    await ready(worker, 'worker');

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
});
