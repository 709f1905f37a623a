import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmReconciler } from '../../src/modules/vms/vms.reconciler';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, createTestDatabase, TestContext, TestDatabase } from '../support/test-app';
import { ensureBuilt, ServiceProcess, startService } from '../support/processes';

// 1024 MB, 10 GB, 1 core: costs 22. Each host holds three (RAM is what runs out first).
const spec = { os_type: 'debian-12', ram_mb: 1024, disk_gb: 10, cpu_cores: 1 };
const HOSTS = ['hv-a', 'hv-b', 'hv-c'];
const timing = { HOST_HEARTBEAT_SECONDS: 1, HOST_OFFLINE_SECONDS: 3 };

describe('hypervisor hosts: placement, per-host operations, drain, offline (e2e, three worker processes)', () => {
  let database: TestDatabase;
  let api: TestContext;
  let stateDir: string;
  const workers = new Map<string, ServiceProcess>();
  let admin: TestUser;
  let users: TestUser[];

  const startHost = async (name: string) => {
    const w = await startService(name, 'worker', {
      DATABASE_URL: database.url,
      // Each host's simulator keeps its own machines, as separate machines would.
      SIMULATOR_STATE_DIR: join(stateDir, name),
      HOST_NAME: name,
      HOST_CPU_CORES: 4,
      HOST_RAM_MB: 3072,
      HOST_DISK_GB: 100,
      VM_PROVIDER: 'simulator',
      SIMULATOR_DELAY_MS: 100,
      WORKER_CONCURRENCY: 2,
      RECONCILE_MINUTES: 0,
      METRICS_COLLECT_MINUTES: 0,
      METRICS_PRUNE_MINUTES: 0,
      ...timing,
    });
    workers.set(name, w);
    return w;
  };
  const host = async (name: string) => (await api.http.get(`/api/admin/hosts/${name}`).set(admin.auth).expect(200)).body;
  const vmRow = async (id: string) =>
    (await api.db.query(`SELECT status, host FROM vms WHERE id = $1`, [id]))[0] as { status: string; host: string };
  const waitStatus = (id: string, status: string, ms = 20_000) =>
    eventually(async () => (await vmRow(id)).status === status, ms, `VM ${id} to be ${status}`);
  const create = (user: TestUser, name: string) =>
    api.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name, ...spec });
  const balance = async (user: TestUser) => (await api.db.query(`SELECT credits FROM users WHERE id = $1`, [user.id]))[0].credits as number;
  const vmsOn = async (name: string) =>
    (await api.db.query(`SELECT id, status FROM vms WHERE host = $1 AND status <> 'destroyed' ORDER BY created_at`, [name])) as {
      id: string;
      status: string;
    }[];

  beforeAll(async () => {
    database = await createTestDatabase();
    // The API process runs no worker and registers no host.
    api = await createTestApp({ database, env: { WORKER: false, QUOTA_MAX_VMS: 0, HOST_OFFLINE_WARN_SECONDS: 4, ...timing } });
    admin = await newUser(api, { role: 'admin' });
    users = [await newUser(api, { credits: 1000 }), await newUser(api, { credits: 1000 })];
    ensureBuilt();
    stateDir = await mkdtemp(join(tmpdir(), 'vmapi-hosts-'));
  });
  afterAll(async () => {
    await Promise.all([...workers.values()].map((w) => w.kill()));
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
    await api?.close();
    await database?.drop();
  });

  it('answers 503 capacity.unavailable with Retry-After and charges nothing while no host has registered', async () => {
    const res = await create(users[0]!, 'too-early').expect(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'capacity.unavailable', status: 503 });
    expect(await balance(users[0]!)).toBe(1000);
    expect(await api.db.query(`SELECT id FROM vms`)).toEqual([]);
    expect(await api.db.query(`SELECT id FROM credit_transactions WHERE user_id = $1 AND kind = 'vm_create'`, [users[0]!.id])).toEqual([]);
    expect(await api.db.query(`SELECT id FROM pgboss.job WHERE name LIKE 'vm-operation%'`)).toEqual([]);
  });

  it('registers each worker process as a host with its capacity', async () => {
    for (const name of HOSTS) await startHost(name);
    await eventually(
      async () => {
        const page = (await api.http.get('/api/admin/hosts').set(admin.auth).expect(200)).body;
        return page.items.length === 3 && page.items.every((h: { status: string }) => h.status === 'online');
      },
      60_000,
      'three hosts online',
    );
    expect(await host('hv-a')).toMatchObject({
      name: 'hv-a',
      status: 'online',
      schedulable: true,
      capacity: { cpu_cores: 4, ram_mb: 3072, disk_gb: 100 },
      allocation_ratios: { cpu: 4, ram: 1, disk: 1 },
      allocated: { cpu_cores: 0, ram_mb: 0, disk_gb: 0 },
      free: { cpu_cores: 16, ram_mb: 3072, disk_gb: 100 },
      vm_count: 0,
    });
  });

  it('spreads creates over the hosts (most free RAM first)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create(users[0]!, `spread-${i}`).expect(202)).body.id);
    const placed = await Promise.all(ids.map(async (id) => (await vmRow(id)).host));
    expect(placed.sort()).toEqual(HOSTS);
    // Users never see where a VM runs; admins do.
    const own = (await api.http.get(`/api/vms/${ids[0]}`).set(users[0]!.auth).expect(200)).body;
    expect(own).not.toHaveProperty('host');
    const adminView = (await api.http.get(`/api/admin/vms?host=${placed[0]}`).set(admin.auth).expect(200)).body;
    expect(adminView.items.map((v: { host: string }) => v.host)).toEqual([placed[0]]);
  });

  it('never overfills a host under concurrent creates; a full host’s share goes elsewhere; all full: 503, no charge', async () => {
    const before = await Promise.all(users.map(balance));
    // Six more fit (two per host); twenty race for them.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => create(users[i % 2]!, `race-${i}`)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(6);
    expect(statuses.filter((s) => s === 503)).toHaveLength(14);
    for (const r of results.filter((r) => r.status === 503)) expect(r.body.code).toBe('capacity.unavailable');
    for (const name of HOSTS) {
      const h = await host(name);
      expect(h).toMatchObject({ vm_count: 3, allocated: { ram_mb: 3072 }, free: { ram_mb: 0 } });
    }
    // Only the accepted creates were charged.
    const charged = await Promise.all(users.map(async (u, i) => before[i]! - (await balance(u))));
    expect(charged[0]! + charged[1]!).toBe(6 * 22);
    const [{ vms }] = await api.db.query(`SELECT count(*)::int AS vms FROM vms`);
    expect(vms).toBe(9);
    // A create that found its host full under the lock wrote nothing, not even its job.
    const [{ stray }] = await api.db.query(
      `SELECT count(*)::int AS stray FROM pgboss.job j
        WHERE j.name LIKE 'vm-operation.%' AND NOT EXISTS (SELECT 1 FROM vms WHERE id = (j.data->>'vmId')::uuid)`,
    );
    expect(stray).toBe(0);
  });

  it('runs every later operation of a VM on its own host', async () => {
    const vms: { id: string; host: string }[] = await api.db.query(`SELECT id, host FROM vms ORDER BY created_at`);
    for (const vm of vms) await waitStatus(vm.id, 'running');
    // One stop per host, then a restart of another VM per host.
    const byHost = new Map<string, string[]>();
    for (const vm of vms) byHost.set(vm.host, [...(byHost.get(vm.host) ?? []), vm.id]);
    for (const ids of byHost.values()) {
      await api.http.post(`/api/admin/vms/${ids[0]}/action`).set(admin.auth).send({ action: 'stop' }).expect(202);
      await api.http.post(`/api/admin/vms/${ids[1]}/action`).set(admin.auth).send({ action: 'restart' }).expect(202);
    }
    for (const ids of byHost.values()) {
      await waitStatus(ids[0]!, 'stopped');
      await waitStatus(ids[1]!, 'running');
    }
    const events: { vm_id: string; action: string; host: string | null; vm_host: string }[] = await api.db.query(
      `SELECT e.vm_id, e.action, e.details->>'host' AS host, v.host AS vm_host FROM events e JOIN vms v ON v.id = e.vm_id
        WHERE e.action IN ('vm.provisioned', 'vm.stopped', 'vm.restarted')`,
    );
    expect(events).toHaveLength(9 + 3 + 3);
    for (const e of events) expect(e.host).toBe(e.vm_host);
    // The owner's feed carries the same events without the host.
    const feed = (await api.http.get('/api/events?limit=100').set(users[0]!.auth).expect(200)).body.items;
    expect(feed.some((e: { action: string }) => e.action === 'vm.provisioned')).toBe(true);
    for (const e of feed) expect(e.details).not.toHaveProperty('host');
  });

  it('places nothing on a drained host, which still serves its VMs; returning it makes it eligible again', async () => {
    const drained = await api.http
      .patch('/api/admin/hosts/hv-b')
      .set(admin.auth)
      .send({ schedulable: false, reason: 'kernel upgrade' })
      .expect(200);
    expect(drained.body).toMatchObject({ name: 'hv-b', schedulable: false, schedulable_reason: 'kernel upgrade' });
    const [event] = await api.db.query(`SELECT actor_id, details FROM events WHERE action = 'admin.host_updated'`);
    expect(event).toEqual({
      actor_id: admin.id,
      details: { host: 'hv-b', schedulable: false, was_schedulable: true, reason: 'kernel upgrade' },
    });
    // Room on hv-a and hv-b (one VM destroyed on each): only hv-a's is used.
    const [onA, onB] = [(await vmsOn('hv-a'))[2]!.id, (await vmsOn('hv-b'))[2]!.id];
    for (const id of [onA, onB]) await api.http.post(`/api/admin/vms/${id}/action`).set(admin.auth).send({ action: 'destroy' }).expect(202);
    await waitStatus(onA, 'destroyed');
    await waitStatus(onB, 'destroyed');
    const placed = (await create(users[1]!, 'after-drain').expect(202)).body.id;
    expect((await vmRow(placed)).host).toBe('hv-a');
    const full = await create(users[1]!, 'no-room').expect(503);
    expect(full.body.code).toBe('capacity.unavailable');
    // The drained host's VMs keep working: start its stopped one.
    const stoppedOnB = (await vmsOn('hv-b')).find((v) => v.status === 'stopped')!.id;
    await api.http.post(`/api/admin/vms/${stoppedOnB}/action`).set(admin.auth).send({ action: 'start' }).expect(202);
    await waitStatus(stoppedOnB, 'running');
    await api.http.patch('/api/admin/hosts/hv-b').set(admin.auth).send({ schedulable: true }).expect(200);
    expect((await vmRow((await create(users[1]!, 'back-on-b').expect(202)).body.id)).host).toBe('hv-b');
  });

  it('a host whose workers die goes offline: start/restart answer 409, stop/destroy wait and run when it is back; other hosts keep working', async () => {
    const onC = await vmsOn('hv-c');
    const [toStop, toDestroy, stopped] = [
      onC.find((v) => v.status === 'running')!.id,
      onC.filter((v) => v.status === 'running')[1]!.id,
      onC.find((v) => v.status === 'stopped')!.id,
    ];
    const killedAt = Date.now();
    await workers.get('hv-c')!.kill();
    await eventually(async () => (await host('hv-c')).status === 'offline', 15_000, 'hv-c offline');
    const detectedMs = Date.now() - killedAt;

    const user = users[0];
    const owner = async (id: string) => (await api.db.query(`SELECT user_id FROM vms WHERE id = $1`, [id]))[0].user_id as string;
    const auth = async (id: string) => ((await owner(id)) === user!.id ? user!.auth : users[1]!.auth);
    const restart = await api.http
      .post(`/api/vms/${toStop}/action`)
      .set(await auth(toStop))
      .send({ action: 'restart' })
      .expect(409);
    expect(restart.body).toMatchObject({ code: 'host.offline', vm_status: 'running', allowed_actions: ['stop', 'destroy'] });
    expect(JSON.stringify(restart.body)).not.toContain('hv-c');
    const start = await api.http
      .post(`/api/vms/${stopped}/action`)
      .set(await auth(stopped))
      .send({ action: 'start' })
      .expect(409);
    expect(start.body.code).toBe('host.offline');
    expect((await vmRow(stopped)).status).toBe('stopped');
    expect(
      (
        await api.http
          .post(`/api/vms/${toStop}/action`)
          .set(await auth(toStop))
          .send({ action: 'stop' })
          .expect(202)
      ).body.status,
    ).toBe('stopping');
    expect(
      (
        await api.http
          .post(`/api/vms/${toDestroy}/action`)
          .set(await auth(toDestroy))
          .send({ action: 'destroy' })
          .expect(202)
      ).body.status,
    ).toBe('destroying');

    // The other hosts keep working, and creates never land on the offline one.
    const onA = (await vmsOn('hv-a')).find((v) => v.status === 'running')!.id;
    await api.http.post(`/api/admin/vms/${onA}/action`).set(admin.auth).send({ action: 'stop' }).expect(202);
    await waitStatus(onA, 'stopped');
    expect(await host('hv-c')).toMatchObject({ status: 'offline', free: { ram_mb: 0 } });

    // Offline past HOST_OFFLINE_WARN_SECONDS: reported once, never failed as stuck.
    await api.db.query(`UPDATE vms SET status_changed_at = now() - interval '2 hours' WHERE id = ANY($1)`, [[toStop, toDestroy]]);
    const reconciler = api.app.get(VmReconciler);
    expect(await reconciler.failStuck()).toEqual([]);
    await eventually(async () => (await reconciler.reportOfflineHosts()).includes('hv-c'), 15_000, 'the offline report');
    expect(await reconciler.reportOfflineHosts()).toEqual([]);
    const warnings = await api.db.query(`SELECT vm_id, severity FROM events WHERE action = 'vm.host_offline' ORDER BY vm_id`);
    expect(warnings.map((w: { vm_id: string }) => w.vm_id).sort()).toEqual((await vmsOn('hv-c')).map((v) => v.id).sort());
    expect(warnings.every((w: { severity: string }) => w.severity === 'warning')).toBe(true);
    const feed = (
      await api.http
        .get(`/api/events?vm_id=${toStop}`)
        .set(await auth(toStop))
        .expect(200)
    ).body.items;
    const warning = feed.find((e: { action: string }) => e.action === 'vm.host_offline');
    expect(warning).toBeDefined();
    expect(JSON.stringify(warning)).not.toContain('hv-c');
    expect((await vmRow(toStop)).status).toBe('stopping');
    expect((await vmRow(toDestroy)).status).toBe('destroying');

    // The host comes back: its waiting operations run there.
    const backAt = Date.now();
    await startHost('hv-c');
    await waitStatus(toStop, 'stopped', 60_000);
    await waitStatus(toDestroy, 'destroyed', 60_000);
    const caughtUpMs = Date.now() - backAt;
    const done = await api.db.query(
      `SELECT details->>'host' AS host FROM events WHERE vm_id = ANY($1) AND action IN ('vm.stopped', 'vm.destroyed')`,
      [[toStop, toDestroy]],
    );
    expect(done).toEqual([{ host: 'hv-c' }, { host: 'hv-c' }]);
    expect((await host('hv-c')).status).toBe('online');
    process.stdout.write(
      `hosts: SIGKILLed host seen offline after ${detectedMs} ms; its waiting stop+destroy done ${caughtUpMs} ms after a worker restarted (incl. process start)\n`,
    );
  });
});
