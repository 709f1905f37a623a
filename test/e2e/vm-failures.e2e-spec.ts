import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VM_PROVIDER, type VmProvider } from '../../src/modules/vms/providers/vm-provider.interface';
import { SimulatorProvider } from '../../src/modules/vms/providers/simulator.provider';
import { eventually, newUser } from '../support/factories';
import { createTestApp, createTestDatabase, TestContext, TEST_VM_QUEUE, registerHost } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }; // costs 17

async function vmRow(ctx: TestContext, id: string) {
  const [row] = await ctx.db.query('SELECT status, locked_by FROM vms WHERE id = $1', [id]);
  return row as { status: string; locked_by: string | null };
}

describe('provider failures (e2e)', () => {
  const open: TestContext[] = [];
  afterAll(async () => {
    for (const ctx of open.reverse()) await ctx.close();
  });

  it('marks the VM failed with a critical event carrying the provider output, and keeps the charge', async () => {
    const ctx = await createTestApp({ env: { SIMULATOR_FAILURE_RATE: 1 } });
    open.push(ctx);
    const user = await newUser(ctx, { credits: 100 });
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'doomed', ...spec })
      .expect(202);
    const vm = await eventually(async () => {
      const r = await ctx.http.get(`/api/vms/${res.body.id}`).set(user.auth).expect(200);
      return r.body.status === 'failed' ? r.body : null;
    });
    expect(vm.allowed_actions).toEqual(['destroy']);
    const events = await ctx.http.get(`/api/events?vm_id=${res.body.id}&severity=critical`).set(user.auth).expect(200);
    expect(events.body.items).toHaveLength(1);
    expect(events.body.items[0]).toMatchObject({
      type: 'vm',
      action: 'vm.provision_failed',
      severity: 'critical',
      details: { op: 'up', timed_out: false, output: expect.stringContaining('simulated failure') },
    });
    const me = await ctx.http.get('/api/users/me').set(user.auth).expect(200);
    expect(me.body.credits).toBe(100 - 17);
    expect((await vmRow(ctx, res.body.id)).locked_by).toBeNull();
  });

  it('fails an operation that hangs past its timeout', async () => {
    const hanging: VmProvider = Object.assign(
      new SimulatorProvider({ delayMs: 0, failureRate: 0, stateDir: process.env.SIMULATOR_STATE_DIR! }),
      {
        up: () => new Promise<never>(() => undefined),
      },
    );
    const ctx = await createTestApp({
      env: { TIMEOUT_UP_SECONDS: 1 },
      override: (b) => b.overrideProvider(VM_PROVIDER).useValue(hanging),
    });
    open.push(ctx);
    const user = await newUser(ctx);
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'slow', ...spec })
      .expect(202);
    const started = Date.now();
    await eventually(async () => (await vmRow(ctx, res.body.id)).status === 'failed', 10_000, 'the timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
    const [event] = await ctx.db.query(`SELECT details FROM events WHERE vm_id = $1 AND severity = 'critical'`, [res.body.id]);
    expect(event.details).toMatchObject({ op: 'up', timed_out: true, error: 'up timed out after 1 s' });
  });

  it("cancels the provider's call at the timeout (its signal aborts), not only stops waiting for it", async () => {
    let given: AbortSignal | undefined;
    const hanging: VmProvider = Object.assign(
      new SimulatorProvider({ delayMs: 0, failureRate: 0, stateDir: process.env.SIMULATOR_STATE_DIR! }),
      {
        up: (_vm: unknown, signal?: AbortSignal) => {
          given = signal;
          return new Promise<never>(() => undefined);
        },
      },
    );
    const ctx = await createTestApp({
      env: { TIMEOUT_UP_SECONDS: 1 },
      override: (b) => b.overrideProvider(VM_PROVIDER).useValue(hanging),
    });
    open.push(ctx);
    const user = await newUser(ctx);
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'cancelled', ...spec })
      .expect(202);
    await eventually(async () => (await vmRow(ctx, res.body.id)).status === 'failed', 10_000, 'the timeout');
    expect(given?.aborted).toBe(true);
    expect((given?.reason as Error).name).toBe('TimeoutError');
  });

  it('finishes the job of a worker that died mid-operation (expired, retried by another worker)', async () => {
    const database = await createTestDatabase();
    // Process A only takes requests.
    const a = await createTestApp({ database, env: { WORKER: false } });
    await registerHost(a);
    const user = await newUser(a, { credits: 100 });
    const res = await a.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'orphan', ...spec })
      .expect(202);
    const vmId = res.body.id as string;
    // A worker took the job, leased the VM and died: the job is active and past its expiry.
    const [[job]] = await a.db.query(
      `UPDATE pgboss.job SET state = 'active', started_on = now() - interval '10 minutes', expire_in = interval '1 second',
              retry_delay = 0, retry_backoff = false
        WHERE name = '${TEST_VM_QUEUE}' AND data->>'vmId' = $1 RETURNING id`,
      [vmId],
    );
    await a.db.query(`UPDATE vms SET locked_by = $2, locked_until = now() - interval '1 second' WHERE id = $1`, [vmId, job.id]);
    await a.close();

    // Process B comes up with a worker: queue maintenance expires the job, pg-boss retries it, B's
    // safety poll finds it (nothing announces a dead worker's retry) and B finishes it.
    const b = await createTestApp({ database, env: { WORKER: true, QUEUE_MAINTENANCE_SECONDS: 1, QUEUE_POLL_SECONDS: 2 } });
    open.push(b);
    try {
      await eventually(async () => (await vmRow(b, vmId)).status === 'running', 20_000, 'the retried job');
      const [retried] = await b.db.query(`SELECT retry_count FROM pgboss.job WHERE id = $1`, [job.id]);
      expect(retried.retry_count).toBe(1);
    } finally {
      await b.close();
      open.pop();
      await database.drop();
    }
  });

  it('drives VMs through the vagrant CLI (fake vagrant): running with the ssh-config address, or failed with its output', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmapi-vagrant-'));
    const control = join(dir, 'control.json');
    process.env.FAKE_VAGRANT_CONTROL = control;
    const ctx = await createTestApp({
      env: { VM_PROVIDER: 'vagrant', VAGRANT_BIN: resolve('test/fakes/vagrant'), VAGRANT_WORKDIR: join(dir, 'machines') },
    });
    open.push(ctx);
    try {
      const admin = await newUser(ctx, { role: 'admin' });
      const health = await ctx.http.get('/api/admin/health').set(admin.auth).expect(200);
      expect(health.body).toMatchObject({ provider: 'vagrant', provider_requested: 'vagrant', provider_reason: 'VM_PROVIDER=vagrant' });
      const user = await newUser(ctx, { credits: 100 });
      const ok = await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'real-ish', ...spec })
        .expect(202);
      await eventually(async () => (await vmRow(ctx, ok.body.id)).status === 'running', 15_000, 'vagrant up');
      const vm = await ctx.http.get(`/api/vms/${ok.body.id}/status`).set(user.auth).expect(200);
      expect(vm.body.ip_address).toMatch(/^192\.168\.121\.\d+$/);

      await writeFile(control, JSON.stringify({ up: { fail: { code: 1, stderr: 'The box could not be found: generic/debian12' } } }));
      const bad = await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'no-box', ...spec })
        .expect(202);
      await eventually(async () => (await vmRow(ctx, bad.body.id)).status === 'failed', 15_000, 'vagrant up to fail');
      const [event] = await ctx.db.query(`SELECT details FROM events WHERE vm_id = $1 AND severity = 'critical'`, [bad.body.id]);
      expect(event.details.output).toContain('The box could not be found');
      expect(event.details.error).toMatch(/vagrant up failed \(exit 1\)/);
    } finally {
      delete process.env.FAKE_VAGRANT_CONTROL;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
