import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MetricsJobs } from '../../src/modules/metrics/metrics.jobs';
import { SimulatorProvider } from '../../src/modules/vms/providers/simulator.provider';
import { VM_PROVIDER } from '../../src/modules/vms/providers/vm-provider.interface';
import { VmReconciler } from '../../src/modules/vms/vms.reconciler';
import { hostQueue } from '../../src/queue/host';
import { PeriodicService } from '../../src/queue/periodic.service';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, createTestDatabase, TestContext, TEST_VM_QUEUE, TEST_HOST, registerHost } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };

interface VmRow {
  status: string;
  ip_address: string | null;
  ssh_port: number | null;
  uptime_seconds: number;
  last_started_at: Date | null;
}

describe('reconciliation (e2e)', () => {
  let ctx: TestContext;
  let sim: SimulatorProvider;
  let alice: TestUser;

  beforeAll(async () => {
    // The tests run passes themselves: no scheduled pass may race them.
    ctx = await createTestApp({ env: { RECONCILE_MINUTES: 0 } });
    sim = ctx.app.get(VM_PROVIDER) as SimulatorProvider;
    alice = await newUser(ctx, { credits: 1000 });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const reconcile = () => ctx.app.get(VmReconciler).reconcile();
  const row = async (id: string): Promise<VmRow> =>
    (await ctx.db.query(`SELECT status, ip_address, ssh_port, uptime_seconds, last_started_at FROM vms WHERE id = $1`, [id]))[0];
  const events = (id: string) =>
    ctx.db.query(
      `SELECT action, severity, details FROM events WHERE vm_id = $1 AND action IN ('system.status_drift', 'vm.stuck_failed') ORDER BY id`,
      [id],
    );

  async function runningVm(name: string): Promise<string> {
    const id = (
      await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name, ...spec })
        .expect(202)
    ).body.id as string;
    // Running, and its worker done with it: the reconciler leaves a VM alone while a lease is held.
    await eventually(
      async () => (await ctx.db.query(`SELECT 1 FROM vms WHERE id = $1 AND status = 'running' AND locked_by IS NULL`, [id])).length === 1,
      10_000,
      `${name} running`,
    );
    return id;
  }

  it('corrects a VM the hypervisor reports stopped, banking its uptime, with a warning event the owner sees', async () => {
    const id = await runningVm('drifter');
    await ctx.db.query(`UPDATE vms SET last_started_at = now() - interval '100 seconds' WHERE id = $1`, [id]);
    await sim.forceState(id, 'stopped');

    const report = await reconcile();
    expect(report.corrected).toContainEqual({ vmId: id, from: 'running', to: 'stopped', providerState: 'stopped' });
    const vm = await row(id);
    expect(vm).toMatchObject({ status: 'stopped', ip_address: null, ssh_port: null, last_started_at: null });
    expect(vm.uptime_seconds).toBeGreaterThanOrEqual(100);
    expect(await events(id)).toEqual([
      {
        action: 'system.status_drift',
        severity: 'warning',
        details: { from: 'running', to: 'stopped', provider_state: 'stopped', host: expect.any(String) },
      },
    ]);
    const feed = await ctx.http.get(`/api/events?vm_id=${id}&severity=warning`).set(alice.auth).expect(200);
    expect(feed.body.items.map((e: { action: string }) => e.action)).toEqual(['system.status_drift']);
    const api = await ctx.http.get(`/api/vms/${id}`).set(alice.auth).expect(200);
    expect(api.body.allowed_actions).toEqual(['start', 'destroy', 'resize', 'rebuild']);

    // Nothing left to correct: a second pass changes nothing and records nothing.
    const again = await reconcile();
    expect(again.corrected.map((d) => d.vmId)).not.toContain(id);
    expect(await events(id)).toHaveLength(1);
  });

  it('corrects a stopped VM the hypervisor reports running, with its connection', async () => {
    const id = await runningVm('waker');
    await ctx.http.post(`/api/vms/${id}/action`).set(alice.auth).send({ action: 'stop' }).expect(202);
    await eventually(async () => (await row(id)).status === 'stopped', 10_000, 'stopped');
    await sim.forceState(id, 'running');
    await reconcile();
    const vm = await row(id);
    expect(vm.status).toBe('running');
    expect(vm.ip_address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(vm.last_started_at).toBeInstanceOf(Date);
    expect((await events(id))[0]).toMatchObject({ severity: 'warning', details: { from: 'stopped', to: 'running' } });
  });

  it('fails a VM whose machine is gone, with a critical event', async () => {
    const id = await runningVm('vanished');
    await sim.forceState(id, 'not_created');
    await reconcile();
    expect((await row(id)).status).toBe('failed');
    expect(await events(id)).toEqual([
      {
        action: 'system.status_drift',
        severity: 'critical',
        details: expect.objectContaining({ from: 'running', to: 'failed', provider_state: 'not_created' }),
      },
    ]);
  });

  it('leaves alone a VM whose state the provider cannot tell, and one a worker is operating on', async () => {
    const unsure = await runningVm('unsure');
    await sim.forceState(unsure, 'unknown');
    const busy = await runningVm('busy');
    await sim.forceState(busy, 'stopped');
    await ctx.db.query(`UPDATE vms SET locked_by = gen_random_uuid(), locked_until = now() + interval '5 minutes' WHERE id = $1`, [busy]);
    await reconcile();
    expect((await row(unsure)).status).toBe('running');
    expect((await row(busy)).status).toBe('running');
    expect(await events(unsure)).toEqual([]);
    expect(await events(busy)).toEqual([]);
    // Once the lease is gone the drift is corrected.
    await ctx.db.query(`UPDATE vms SET locked_by = NULL, locked_until = NULL WHERE id = $1`, [busy]);
    await reconcile();
    expect((await row(busy)).status).toBe('stopped');
  });

  it('runs no reconcile pass of its own with RECONCILE_MINUTES=0 (sampling and the other tasks still run)', () => {
    const tasks = ctx.app.get(PeriodicService).scheduled();
    expect(tasks).toContain(hostQueue('metrics-collect', TEST_HOST));
    expect(tasks.filter((t) => t.startsWith('vm-reconcile') || t === 'host-watch')).toEqual([]);
  });
});

describe('the simulator across processes (e2e)', () => {
  it('shows every process the machines another one brought up: reconciling from a second process or after a restart fails nothing', async () => {
    const database = await createTestDatabase();
    // Two apps in one test process are as separate as two processes: each has its own provider instance.
    const env = { RECONCILE_MINUTES: 0, METRICS_COLLECT_MINUTES: 0, QUOTA_MAX_VMS: 0 };
    const first = await createTestApp({ database, env: { ...env, WORKER: true } });
    let second: TestContext | undefined;
    let restarted: TestContext | undefined;
    try {
      const user = await newUser(first, { credits: 1000 });
      const ids: string[] = [];
      for (let i = 0; i < 6; i++)
        ids.push(
          (
            await first.http
              .post('/api/vms')
              .set(user.auth)
              .send({ name: `shared-${i}`, ...spec })
              .expect(202)
          ).body.id,
        );
      await first.http.post(`/api/vms/${ids[0]}/action`).set(user.auth).send({ action: 'stop' });
      await eventually(
        async () => {
          const rows = await first.db.query(`SELECT status FROM vms WHERE id = ANY($1)`, [ids]);
          return (
            rows.filter((r: { status: string }) => r.status === 'running').length === 5 &&
            rows.some((r: { status: string }) => r.status === 'stopped')
          );
        },
        15_000,
        'five running, one stopped',
      );

      second = await createTestApp({ database, env: { ...env, WORKER: false } });
      const fromSecond = await second.app.get(VmReconciler).reconcile();
      expect(fromSecond).toEqual({ checked: 6, corrected: [], stuck: [] });

      // The first process goes away and another takes its place.
      await first.close();
      restarted = await createTestApp({ database, env: { ...env, WORKER: true } });
      expect(await restarted.app.get(VmReconciler).reconcile()).toEqual({ checked: 6, corrected: [], stuck: [] });
      const statuses = await restarted.db.query(`SELECT status, count(*)::int AS n FROM vms GROUP BY status ORDER BY status`);
      expect(statuses).toEqual([
        { status: 'running', n: 5 },
        { status: 'stopped', n: 1 },
      ]);
      // The machines' addresses are the ones every process reads back.
      const vm = await restarted.http.get(`/api/vms/${ids[1]}`).set(user.auth).expect(200);
      expect(await (restarted.app.get(VM_PROVIDER) as SimulatorProvider).connection({ id: ids[1] } as never)).toEqual({
        ip_address: vm.body.ip_address,
        ssh_port: vm.body.ssh_port,
      });
    } finally {
      await restarted?.close();
      await second?.close();
      await first.close().catch(() => undefined);
      await database.drop();
    }
  });
});

describe('stuck VMs (e2e)', () => {
  it('fails a VM left in a transitional status past the deadline; its late job then finds it stale', async () => {
    const database = await createTestDatabase();
    // An API-only process: it queues the provisioning job but runs no consumer and registers no schedule.
    const api = await createTestApp({ database, env: { WORKER: false, RECONCILE_STUCK_SECONDS: 600 } });
    await registerHost(api);
    let worker: TestContext | undefined;
    try {
      const user = await newUser(api, { credits: 100 });
      const stuck = (
        await api.http
          .post('/api/vms')
          .set(user.auth)
          .send({ name: 'stuck', ...spec })
          .expect(202)
      ).body.id as string;
      const fresh = (
        await api.http
          .post('/api/vms')
          .set(user.auth)
          .send({ name: 'fresh', ...spec })
          .expect(202)
      ).body.id as string;
      const leased = (
        await api.http
          .post('/api/vms')
          .set(user.auth)
          .send({ name: 'leased', ...spec })
          .expect(202)
      ).body.id as string;
      await api.db.query(`UPDATE vms SET status_changed_at = now() - interval '11 minutes' WHERE id = ANY($1)`, [[stuck, leased]]);
      await api.db.query(`UPDATE vms SET locked_by = gen_random_uuid(), locked_until = now() + interval '1 minute' WHERE id = $1`, [
        leased,
      ]);
      expect(api.app.get(PeriodicService).scheduled()).toEqual([]);

      const report = await api.app.get(VmReconciler).reconcile();
      expect(report.stuck).toEqual([stuck]);
      const statuses = await api.db.query(`SELECT id, status FROM vms WHERE user_id = $1`, [user.id]);
      expect(Object.fromEntries(statuses.map((r: { id: string; status: string }) => [r.id, r.status]))).toEqual({
        [stuck]: 'failed',
        [fresh]: 'provisioning',
        [leased]: 'provisioning',
      });
      const [event] = await api.db.query(`SELECT action, severity, details FROM events WHERE vm_id = $1 AND severity = 'critical'`, [
        stuck,
      ]);
      expect(event).toEqual({
        action: 'vm.stuck_failed',
        severity: 'critical',
        details: { from: 'provisioning', to: 'failed', stuck_seconds: expect.any(Number), deadline_seconds: 600 },
      });
      expect(event.details.stuck_seconds).toBeGreaterThanOrEqual(660);
      const vm = await api.http.get(`/api/vms/${stuck}`).set(user.auth).expect(200);
      expect(vm.body).toMatchObject({ status: 'failed', allowed_actions: ['destroy'] });

      // A worker comes up: the stuck VM's queued job is stale and leaves it failed; the fresh one runs.
      worker = await createTestApp({ database, env: { WORKER: true } });
      // A worker process runs the reconcile pass of its host, and the fleet-wide one, within seconds of its start.
      expect(worker.app.get(PeriodicService).scheduled()).toEqual(
        expect.arrayContaining([hostQueue('vm-reconcile', TEST_HOST), 'host-watch']),
      );
      await eventually(
        async () => {
          const runs: { name: string }[] = await worker!.db.query(`SELECT name FROM periodic_runs WHERE finished_at IS NOT NULL`);
          const names = runs.map((r) => r.name);
          return names.includes(hostQueue('vm-reconcile', TEST_HOST)) && names.includes('host-watch');
        },
        15_000,
        'the first reconcile passes',
      );
      await eventually(
        async () => {
          const [{ status }] = await worker!.db.query(`SELECT status FROM vms WHERE id = $1`, [fresh]);
          return status === 'running';
        },
        15_000,
        'the fresh VM to run',
      );
      await eventually(
        async () => {
          const [job] = await worker!.db.query(`SELECT state FROM pgboss.job WHERE name = '${TEST_VM_QUEUE}' AND data->>'vmId' = $1`, [
            stuck,
          ]);
          return job?.state === 'completed';
        },
        15_000,
        'the stale job to complete',
      );
      const [{ status }] = await worker.db.query(`SELECT status FROM vms WHERE id = $1`, [stuck]);
      expect(status).toBe('failed');
    } finally {
      await worker?.close();
      await api.close();
      await database.drop();
    }
  });
});

describe('watching a host costs one provider call per pass (e2e)', () => {
  it('a reconcile pass and a sampling pass over 50 VMs on one host each make ONE provider call', async () => {
    const ctx = await createTestApp({ env: { RECONCILE_MINUTES: 0, METRICS_COLLECT_MINUTES: 0 } });
    try {
      const sim = ctx.app.get<SimulatorProvider>(VM_PROVIDER);
      const user = await newUser(ctx, { credits: 100_000 });
      const ids: string[] = await ctx.db
        .query(
          `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, host, status_changed_at, metadata)
           SELECT gen_random_uuid(), $1, 'fleet-' || g, 'debian-12', 512, 10, 1, CASE WHEN g <= 40 THEN 'running' ELSE 'stopped' END,
                  1, $2, now(), '{}'
           FROM generate_series(1, 50) g ORDER BY g RETURNING id`,
          [user.id, TEST_HOST],
        )
        .then((rows: { id: string }[]) => rows.map((r) => r.id));
      const target = (id: string, i: number) => ({
        id,
        name: `fleet-${i + 1}`,
        osType: 'debian-12',
        ramMb: 512,
        diskGb: 10,
        cpuCores: 1,
        sshUser: 'vmuser',
        sshPublicKeys: [],
      });
      for (const [i, id] of ids.entries()) {
        await sim.up(target(id, i));
        if (i >= 40) await sim.halt(target(id, i));
      }
      // One running VM was stopped behind the API's back, one stopped one is gone.
      await sim.forceState(ids[0]!, 'stopped');
      await sim.destroy(target(ids[49]!, 49));

      const states = jest.spyOn(sim, 'states');
      const sample = jest.spyOn(sim, 'sample');
      const status = jest.spyOn(sim, 'status');
      const report = await ctx.app.get(VmReconciler).reconcile();
      expect(report.checked).toBe(50);
      expect(report.corrected.map((d) => [d.vmId, d.to]).sort()).toEqual(
        [
          [ids[0], 'stopped'],
          [ids[49], 'failed'],
        ].sort(),
      );
      expect(states).toHaveBeenCalledTimes(1);
      expect(states.mock.calls[0]![0]).toHaveLength(50);

      const collected = await ctx.app.get(MetricsJobs).collect();
      expect(collected).toEqual({ sampled: 39, failed: 0 });
      expect(sample).toHaveBeenCalledTimes(1);
      expect(sample.mock.calls[0]![0]).toHaveLength(39);
      expect(status).not.toHaveBeenCalled();
      const [{ vms, points }] = await ctx.db.query(
        `SELECT count(DISTINCT vm_id)::int AS vms, count(*)::int AS points FROM metrics WHERE vm_id = ANY($1)`,
        [ids],
      );
      expect(vms).toBe(39);
      // Every known figure the simulator gives: cpu, memory used and total, disk used, size and allocated, load.
      expect(points).toBe(39 * 7);
    } finally {
      await ctx.close();
    }
  });
});

describe('monitoring through the vagrant CLI (fake vagrant, e2e)', () => {
  it('samples and reconciles from one `virsh domstats` each, never `vagrant ssh` or `vagrant status`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmapi-vagrant-mon-'));
    const workdir = join(dir, 'machines');
    const ctx = await createTestApp({
      env: {
        VM_PROVIDER: 'vagrant',
        VAGRANT_BIN: resolve('test/fakes/vagrant'),
        VIRSH_BIN: resolve('test/fakes/virsh'),
        VAGRANT_ENV: JSON.stringify({ FAKE_VAGRANT_LOG: join(dir, 'vagrant.jsonl'), FAKE_VIRSH_LOG: join(dir, 'virsh.jsonl') }),
        VAGRANT_WORKDIR: workdir,
        RECONCILE_MINUTES: 0,
        METRICS_COLLECT_MINUTES: 0,
      },
    });
    try {
      const user = await newUser(ctx, { credits: 100 });
      const id = (
        await ctx.http
          .post('/api/vms')
          .set(user.auth)
          .send({ name: 'vagrant-mon', ...spec })
          .expect(202)
      ).body.id as string;
      await eventually(
        async () => (await ctx.db.query(`SELECT status FROM vms WHERE id = $1`, [id]))[0].status === 'running',
        15_000,
        'vagrant up',
      );

      expect(await ctx.app.get(MetricsJobs).collect()).toEqual({ sampled: 1, failed: 0 });
      const rows = await ctx.db.query(`SELECT name, value FROM metrics WHERE vm_id = $1 ORDER BY name`, [id]);
      // What libvirt sees of the domain (no CPU figure before a second reading; no guest figures).
      expect(rows).toEqual([
        { name: 'disk_allocated_gb', value: 0.5 },
        { name: 'disk_size_gb', value: 10 },
        { name: 'memory_total_mb', value: 512 },
        { name: 'memory_used_mb', value: 72 },
      ]);

      // The machine was shut down behind the API's back (the fake keeps its state in the VM's folder).
      await writeFile(join(workdir, id, '.fake-state'), JSON.stringify({ state: 'shutoff' }));
      const report = await ctx.app.get(VmReconciler).reconcile();
      expect(report.corrected).toEqual([{ vmId: id, from: 'running', to: 'stopped', providerState: 'stopped' }]);
      expect((await ctx.db.query(`SELECT status FROM vms WHERE id = $1`, [id]))[0].status).toBe('stopped');
      // A stopped VM is not sampled.
      expect(await ctx.app.get(MetricsJobs).collect()).toEqual({ sampled: 0, failed: 0 });
      const lines = async (file: string) => (await readFile(join(dir, file), 'utf8')).split('\n').filter(Boolean);
      const vagrantCommands = (await lines('vagrant.jsonl')).map((l) => (JSON.parse(l) as { command: string }).command);
      expect(vagrantCommands.filter((c) => c === 'ssh' || c === 'status')).toEqual([]);
      expect((await lines('virsh.jsonl')).map((l) => (JSON.parse(l) as { argv: string[] }).argv[0])).toEqual(['domstats', 'domstats']);
    } finally {
      await ctx.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
