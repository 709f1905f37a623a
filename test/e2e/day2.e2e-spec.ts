import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { Vm } from '../../sdk/index';
import { SimulatorProvider } from '../../src/modules/vms/providers/simulator.provider';
import { VM_PROVIDER } from '../../src/modules/vms/providers/vm-provider.interface';
import { VmWorker } from '../../src/modules/vms/vms.worker';
import { eventually, newUser, TestUser } from '../support/factories';
import { sshKeygen } from '../support/ssh-keygen';
import { createTestApp, TEST_HOST, TestContext } from '../support/test-app';

type VmJson = Vm & Record<string, unknown>;

// 1024 MB, 20 GB, 2 cores: 34 credits. Snapshots of 20 GB: max(1, ceil(20 / 10 * 1.5)) = 3 credits.
const spec = { os_type: 'ubuntu-22.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 };
const SNAPSHOT_PRICE = 3;

/**
 * Day-2 operations on the simulator: resize, rebuild and snapshots through the API, with the
 * worker running them. Provider operations take 300 ms, so a request that races an operation meets
 * it in flight.
 */
describe('Day-2 operations (e2e, simulator provider)', () => {
  let ctx: TestContext;
  let sim: SimulatorProvider;
  let alice: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp({
      env: {
        QUOTA_MAX_VMS: 0,
        SIMULATOR_DELAY_MS: 300,
        SNAPSHOT_CREDITS_PER_10GB: 1.5,
        SNAPSHOTS_MAX_PER_VM: 2,
        HOST_HEARTBEAT_SECONDS: 3000,
        HOST_OFFLINE_SECONDS: 3600,
      },
    });
    sim = ctx.app.get<SimulatorProvider>(VM_PROVIDER);
    alice = await newUser(ctx, { credits: 10_000 });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const idOf = (res: { body: unknown }): string => (res.body as { id: string }).id;
  const getVm = async (id: string, user = alice): Promise<VmJson> =>
    (await ctx.http.get(`/api/vms/${id}`).set(user.auth).expect(200)).body as VmJson;
  const waitFor = (id: string, status: string, user = alice) =>
    eventually(
      async () => {
        const vm = await getVm(id, user);
        return vm.status === status && vm.pending_operation === null ? vm : null;
      },
      20_000,
      `VM ${id} to be ${status}`,
    );
  const balance = async (user = alice) => (await ctx.http.get('/api/users/me').set(user.auth).expect(200)).body.credits as number;
  const ledger = async (user: TestUser, kind: string) =>
    ctx.db.query<{ amount: number; vm_id: string }[]>(
      `SELECT amount, vm_id FROM credit_transactions WHERE user_id = $1 AND kind = $2 ORDER BY created_at`,
      [user.id, kind],
    );
  const action = (id: string, body: Record<string, unknown>, user = alice) =>
    ctx.http.post(`/api/vms/${id}/action`).set(user.auth).send(body);
  const launch = async (name: string, user = alice, extra: Record<string, unknown> = {}) => {
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name, ...spec, ...extra })
      .expect(202);
    return (await waitFor(idOf(res), 'running', user)).id;
  };
  const launchStopped = async (name: string, user = alice) => {
    const id = await launch(name, user);
    await action(id, { action: 'stop' }, user).expect(202);
    await waitFor(id, 'stopped', user);
    return id;
  };
  const actions = async (id: string) =>
    (await ctx.db.query<{ action: string }[]>(`SELECT action FROM events WHERE vm_id = $1 ORDER BY created_at, id`, [id])).map(
      (e) => e.action,
    );
  const snapshot = (vmId: string, name: string, user = alice) => ctx.http.post(`/api/vms/${vmId}/snapshots`).set(user.auth).send({ name });
  const waitSnapshot = (vmId: string, id: string, status: string) =>
    eventually(
      async () => {
        const s = (await ctx.http.get(`/api/vms/${vmId}/snapshots/${id}`).set(alice.auth).expect(200)).body as { status: string };
        return s.status === status ? s : null;
      },
      20_000,
      `snapshot ${id} to be ${status}`,
    );

  describe('resize', () => {
    it('is refused while running, naming EC2’s rule, and changes nothing', async () => {
      const id = await launch('rs-running');
      const before = await balance();
      const res = await action(id, { action: 'resize', ram_mb: 2048 }).expect(409);
      expect(res.body).toMatchObject({
        code: 'vm.invalid_transition',
        vm_status: 'running',
        allowed_actions: ['stop', 'restart', 'destroy', 'rebuild'],
      });
      expect(res.body.detail).toMatch(/resized while stopped, as on EC2/);
      expect(await balance()).toBe(before);
      expect(await getVm(id)).toMatchObject({ ram_mb: 1024, status: 'running' });
    });

    it('resizes a stopped VM: resizing -> stopped with the new size, the difference debited once (vm_resize)', async () => {
      const id = await launchStopped('rs-grow');
      const before = await balance();
      const key = randomUUID();
      const body = { action: 'resize', ram_mb: 2048, cpu_cores: 3, disk_gb: 30 };
      const res = await action(id, body).set('Idempotency-Key', key).expect(202);
      expect(res.body).toMatchObject({ status: 'resizing', ram_mb: 2048, cpu_cores: 3, disk_gb: 30, allowed_actions: ['destroy'] });
      // The same key replays the answer: one charge, one job.
      const replay = await action(id, body).set('Idempotency-Key', key).expect(202);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      const done = await waitFor(id, 'stopped');
      // 2048 MB, 30 GB, 3 cores: ceil(20 + 6 + 30) = 56; it cost 34.
      expect(done).toMatchObject({
        ram_mb: 2048,
        cpu_cores: 3,
        disk_gb: 30,
        cost: 56,
        allowed_actions: ['start', 'destroy', 'resize', 'rebuild'],
      });
      expect(await balance()).toBe(before - 22);
      expect((await ledger(alice, 'vm_resize')).filter((r) => r.vm_id === id)).toEqual([{ amount: -22, vm_id: id }]);
      expect((await sim.read(id))?.size).toMatchObject({ ramMb: 2048, cpuCores: 3, diskGb: 30 });
      expect(await actions(id)).toEqual(expect.arrayContaining(['vm.action_requested', 'system.credit_deduction', 'vm.resized']));
      // It starts with the new size.
      await action(id, { action: 'start' }).expect(202);
      expect(await waitFor(id, 'running')).toMatchObject({ ram_mb: 2048, cpu_cores: 3 });
    });

    it('never shrinks a disk (409 vm.disk_shrink) and refunds nothing for a smaller VM', async () => {
      const id = await launchStopped('rs-shrink');
      const before = await balance();
      const shrink = await action(id, { action: 'resize', disk_gb: 10 }).expect(409);
      expect(shrink.body).toMatchObject({ code: 'vm.disk_shrink', disk_gb: 20 });
      const smaller = await action(id, { action: 'resize', ram_mb: 512, cpu_cores: 1 }).expect(202);
      expect(smaller.body).toMatchObject({ status: 'resizing', ram_mb: 512, cpu_cores: 1 });
      // 512 MB, 20 GB, 1 core: ceil(5 + 4 + 10) = 19, cheaper than 34, and nothing comes back.
      expect(await waitFor(id, 'stopped')).toMatchObject({ ram_mb: 512, cpu_cores: 1, cost: 19 });
      expect(await balance()).toBe(before);
      expect((await ledger(alice, 'vm_resize')).filter((r) => r.vm_id === id)).toEqual([]);
      expect((await ledger(alice, 'refund')).filter((r) => r.vm_id === id)).toEqual([]);
      // Growing back pays the difference from the smaller price: 34 - 19.
      await action(id, { action: 'resize', ram_mb: 1024, cpu_cores: 2 }).expect(202);
      await waitFor(id, 'stopped');
      expect(await balance()).toBe(before - 15);
    });

    it('refuses a body that is not a resize: no size, a size on another action, the same size', async () => {
      const id = await launchStopped('rs-bodies');
      expect((await action(id, { action: 'resize' }).expect(400)).body).toMatchObject({
        code: 'vm.invalid_action_body',
        detail: expect.stringMatching(/at least one of ram_mb, cpu_cores, disk_gb/),
      });
      expect((await action(id, { action: 'start', ram_mb: 2048 }).expect(400)).body).toMatchObject({
        code: 'vm.invalid_action_body',
        detail: expect.stringMatching(/ram_mb is only accepted with action resize/),
      });
      // The body is refused before the VM is looked up: the same 400 for a VM that does not exist.
      expect((await action(randomUUID(), { action: 'resize', os_type: 'debian-12' }).expect(400)).body.code).toBe('vm.invalid_action_body');
      await action(id, { action: 'resize', ram_mb: 100 }).expect(400);
      expect((await action(id, { action: 'resize', ram_mb: 1024, cpu_cores: 2 }).expect(409)).body.code).toBe('vm.resize_unchanged');
    });

    it('answers 402 when the difference cannot be paid, and changes nothing', async () => {
      const bob = await newUser(ctx, { credits: 40 });
      const id = await launchStopped('rs-poor', bob);
      expect(await balance(bob)).toBe(6);
      const res = await action(id, { action: 'resize', cpu_cores: 3 }, bob).expect(402);
      expect(res.body).toMatchObject({ code: 'credits.insufficient', cost: 10, balance: 6 });
      expect(await getVm(id, bob)).toMatchObject({ status: 'stopped', cpu_cores: 2, cost: 34 });
      expect(await balance(bob)).toBe(6);
    });

    it('checks the host’s room under the placement lock: 409 capacity.host_full, nothing charged', async () => {
      const id = await launchStopped('rs-full');
      // Shrink the host to what it holds now plus one core.
      const [{ cpu }] = await ctx.db.query(
        `SELECT sum(cpu_cores)::int AS cpu FROM vms WHERE host = $1 AND status <> 'destroyed' AND released_at IS NULL`,
        [TEST_HOST],
      );
      const [was] = await ctx.db.query(`SELECT cpu_cores, cpu_allocation_ratio FROM hosts WHERE name = $1`, [TEST_HOST]);
      await ctx.db.query(`UPDATE hosts SET cpu_cores = $2, cpu_allocation_ratio = 1 WHERE name = $1`, [TEST_HOST, Number(cpu) + 1]);
      try {
        const before = await balance();
        const full = await action(id, { action: 'resize', cpu_cores: 4 }).expect(409);
        expect(full.body).toMatchObject({ code: 'capacity.host_full', resource: 'cpu_cores' });
        expect(full.body.detail).toMatch(/nothing was charged/);
        expect(await balance()).toBe(before);
        expect(await getVm(id)).toMatchObject({ status: 'stopped', cpu_cores: 2 });
        // One more core still fits.
        await action(id, { action: 'resize', cpu_cores: 3 }).expect(202);
        await waitFor(id, 'stopped');
        expect(await balance()).toBe(before - 10);
      } finally {
        await ctx.db.query(`UPDATE hosts SET cpu_cores = $2, cpu_allocation_ratio = $3 WHERE name = $1`, [
          TEST_HOST,
          was.cpu_cores,
          was.cpu_allocation_ratio,
        ]);
      }
    });
  });

  describe('resize, admin and limits', () => {
    it('re-checks the quota on the cores and RAM it adds (403 quota.exceeded, nothing charged), even when the VM count is over a lowered limit', async () => {
      const admin = await newUser(ctx, { role: 'admin' });
      const dave = await newUser(ctx, { credits: 1000 });
      const id = await launchStopped('rs-quota', dave);
      // One VM of 2 cores and 1024 MB: the VM count is at its (lowered) limit, two more cores would pass 3.
      await ctx.http
        .patch(`/api/admin/users/${dave.id}`)
        .set(admin.auth)
        .send({ quotas: { vms: 1, cpu_cores: 3 } })
        .expect(200);
      const before = await balance(dave);
      const over = await action(id, { action: 'resize', cpu_cores: 4 }, dave).expect(403);
      expect(over.body).toMatchObject({ code: 'quota.exceeded', resource: 'cpu_cores', requested: 2, used: 2, limit: 3 });
      expect(over.body.detail).toMatch(/This resize needs 2 more cpu_cores/);
      expect(await balance(dave)).toBe(before);
      expect(await getVm(id, dave)).toMatchObject({ status: 'stopped', cpu_cores: 2 });
      // One more core fits; the VM count (1 of 1) is not asked for.
      await action(id, { action: 'resize', cpu_cores: 3 }, dave).expect(202);
      expect(await waitFor(id, 'stopped', dave)).toMatchObject({ cpu_cores: 3 });
    });

    it('lets an admin resize any VM: the owner pays, an admin event names the reason', async () => {
      const admin = await newUser(ctx, { role: 'admin' });
      const id = await launchStopped('rs-admin');
      const before = await balance();
      const res = await ctx.http
        .post(`/api/admin/vms/${id}/action`)
        .set(admin.auth)
        .send({ action: 'resize', ram_mb: 1536, reason: 'ticket 42' })
        .expect(202);
      expect(res.body).toMatchObject({ status: 'resizing', ram_mb: 1536, owner: { id: alice.id } });
      await waitFor(id, 'stopped');
      // 1536 MB, 20 GB, 2 cores: ceil(15 + 4 + 20) = 39; it cost 34.
      expect(await balance()).toBe(before - 5);
      expect((await ledger(alice, 'vm_resize')).filter((r) => r.vm_id === id)).toEqual([{ amount: -5, vm_id: id }]);
      const [event] = await ctx.db.query<{ details: { reason: string; charged: number } }[]>(
        `SELECT details FROM events WHERE vm_id = $1 AND action = 'admin.vm_action'`,
        [id],
      );
      expect(event?.details).toMatchObject({ reason: 'ticket 42', charged: 5 });
    });

    it('refuses resize, rebuild and snapshots while the VM’s host is offline (409 host.offline), charging nothing', async () => {
      const id = await launchStopped('rs-offline');
      const [host] = await ctx.db.query<{ seen: Date }[]>(`SELECT last_seen_at AS seen FROM hosts WHERE name = $1`, [TEST_HOST]);
      await ctx.db.query(`UPDATE hosts SET last_seen_at = now() - interval '2 hours' WHERE name = $1`, [TEST_HOST]);
      try {
        const before = await balance();
        expect((await action(id, { action: 'resize', cpu_cores: 3 }).expect(409)).body).toMatchObject({
          code: 'host.offline',
          allowed_actions: ['destroy'],
        });
        expect((await action(id, { action: 'rebuild' }).expect(409)).body.code).toBe('host.offline');
        expect((await snapshot(id, 'offline').expect(409)).body.code).toBe('host.offline');
        expect(await balance()).toBe(before);
        expect(await getVm(id)).toMatchObject({ status: 'stopped', cpu_cores: 2, pending_operation: null });
      } finally {
        await ctx.db.query(`UPDATE hosts SET last_seen_at = $2 WHERE name = $1`, [TEST_HOST, host!.seen]);
      }
    });
  });

  describe('rebuild', () => {
    it('reinstalls a running VM: same id, name and size, disk wiped, keys again, snapshots gone, free', async () => {
      const key = sshKeygen('ed25519');
      const added = await ctx.http
        .post('/api/ssh-keys')
        .set(alice.auth)
        .send({ name: 'rebuild-key', public_key: key.publicKey })
        .expect(201);
      const id = await launch('rb-1', alice, { ssh_key_ids: [added.body.id] });
      const snap = await snapshot(id, 'before').expect(202);
      await waitSnapshot(id, idOf(snap), 'available');
      const written = await sim.writeDisk(id, 'a-file');
      const before = await balance();
      const res = await action(id, { action: 'rebuild', os_type: 'debian-12' }).expect(202);
      expect(res.body).toMatchObject({ status: 'rebuilding', os_type: 'debian-12', allowed_actions: ['destroy'] });
      const done = await waitFor(id, 'running');
      expect(done).toMatchObject({ id, name: 'rb-1', os_type: 'debian-12', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 });
      const machine = await sim.read(id);
      expect(machine?.disk).not.toBe(written);
      expect(machine?.disk).not.toContain('a-file');
      expect(await sim.sshPublicKeysOf(id)).toEqual([key.publicKey]);
      expect(await balance()).toBe(before);
      expect((await ctx.http.get(`/api/vms/${id}/snapshots`).set(alice.auth).expect(200)).body.items).toEqual([]);
      expect(await actions(id)).toEqual(expect.arrayContaining(['vm.rebuilt']));
    });

    it('runs the VM’s user data again: user_data_status pending, then its outcome in a new vm.user_data_finished', async () => {
      const script = '#!/bin/sh\n# simulate-exit: 0\n# simulate-output: hello again\necho hello\n';
      const id = await launch('rb-ud', alice, { user_data: script });
      expect(await getVm(id)).toMatchObject({ user_data_status: 'succeeded' });
      const res = await action(id, { action: 'rebuild' }).expect(202);
      expect(res.body).toMatchObject({ status: 'rebuilding', user_data_status: 'pending' });
      expect(await waitFor(id, 'running')).toMatchObject({ user_data_status: 'succeeded', user_data_size: Buffer.byteLength(script) });
      const finished = await ctx.db.query<{ details: { status: string; output_tail: string } }[]>(
        `SELECT details FROM events WHERE vm_id = $1 AND action = 'vm.user_data_finished' ORDER BY created_at, id`,
        [id],
      );
      expect(finished.map((e) => e.details)).toEqual([
        expect.objectContaining({ status: 'succeeded', output_tail: 'hello again' }),
        expect.objectContaining({ status: 'succeeded', output_tail: 'hello again' }),
      ]);
    });

    it('rebuilds a stopped VM into a running one, and refuses an unknown OS or an os_type on another action', async () => {
      const id = await launchStopped('rb-2');
      expect((await action(id, { action: 'rebuild', os_type: 'plan9' }).expect(400)).body.code).toBe('vm.unknown_os_type');
      expect((await action(id, { action: 'start', os_type: 'debian-12' }).expect(400)).body).toMatchObject({
        code: 'vm.invalid_action_body',
        detail: expect.stringMatching(/os_type is only accepted with action rebuild/),
      });
      await action(id, { action: 'rebuild' }).expect(202);
      expect(await waitFor(id, 'running')).toMatchObject({ os_type: 'ubuntu-22.04' });
    });
  });

  describe('snapshots', () => {
    it('takes a snapshot of a running VM without changing its status, charges it once and lists it', async () => {
      const id = await launch('sn-1');
      const before = await balance();
      const key = randomUUID();
      const res = await snapshot(id, 'first').set('Idempotency-Key', key).expect(202);
      expect(res.headers.location).toBe(`/api/vms/${id}/snapshots/${res.body.id}`);
      expect(res.body).toEqual({
        id: expect.any(String),
        vm_id: id,
        name: 'first',
        status: 'creating',
        size_gb: 20,
        created_at: expect.any(String),
      });
      const replay = await snapshot(id, 'first').set('Idempotency-Key', key).expect(202);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body.id).toBe(res.body.id);
      // The VM stays running; it holds its one operation slot meanwhile.
      expect(await getVm(id)).toMatchObject({ status: 'running', pending_operation: 'snapshot_create', allowed_actions: ['destroy'] });
      await waitSnapshot(id, idOf(res), 'available');
      expect(await getVm(id)).toMatchObject({ status: 'running', pending_operation: null });
      expect(await balance()).toBe(before - SNAPSHOT_PRICE);
      expect((await ledger(alice, 'snapshot_create')).filter((r) => r.vm_id === id)).toEqual([{ amount: -SNAPSHOT_PRICE, vm_id: id }]);
      const list = await ctx.http.get(`/api/vms/${id}/snapshots`).set(alice.auth).expect(200);
      expect(list.body).toEqual({ items: [expect.objectContaining({ id: res.body.id, status: 'available' })], next_cursor: null });
      expect(await actions(id)).toEqual(
        expect.arrayContaining(['vm.snapshot_requested', 'system.credit_deduction', 'vm.snapshot_created']),
      );
      // Another user sees neither the VM nor its snapshots.
      const eve = await newUser(ctx);
      await ctx.http.get(`/api/vms/${id}/snapshots`).set(eve.auth).expect(404);
      await ctx.http.get(`/api/vms/${id}/snapshots/${res.body.id}`).set(eve.auth).expect(404);
      await snapshot(id, 'mine', eve).expect(404);
    });

    it('restores a running VM: restoring, then running again with the disk as it was', async () => {
      const id = await launch('sn-2');
      const snap = await snapshot(id, 'clean').expect(202);
      await waitSnapshot(id, idOf(snap), 'available');
      const clean = (await sim.read(id))?.disk;
      await sim.writeDisk(id, 'written-after');
      const res = await ctx.http.post(`/api/vms/${id}/snapshots/${snap.body.id}/restore`).set(alice.auth).expect(202);
      expect(res.body).toMatchObject({ id, status: 'restoring', allowed_actions: ['destroy'] });
      const done = await waitFor(id, 'running');
      expect(done.ip_address).toEqual(expect.any(String));
      expect((await sim.read(id))?.disk).toBe(clean);
      expect(await actions(id)).toEqual(expect.arrayContaining(['vm.snapshot_restore_requested', 'vm.snapshot_restored']));
    });

    it('honours the Idempotency-Key on restore and delete: a retry replays the answer and queues nothing more', async () => {
      const id = await launch('sn-keys');
      const snap = await snapshot(id, 'keyed').expect(202);
      await waitSnapshot(id, idOf(snap), 'available');
      const restoreKey = randomUUID();
      const restore = () =>
        ctx.http
          .post(`/api/vms/${id}/snapshots/${idOf(snap)}/restore`)
          .set(alice.auth)
          .set('Idempotency-Key', restoreKey);
      const first = await restore().expect(202);
      const again = await restore().expect(202);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(first.body);
      await waitFor(id, 'running');
      const deleteKey = randomUUID();
      const del = () =>
        ctx.http
          .delete(`/api/vms/${id}/snapshots/${idOf(snap)}`)
          .set(alice.auth)
          .set('Idempotency-Key', deleteKey);
      expect((await del().expect(202)).body).toMatchObject({ status: 'deleting' });
      expect((await del().expect(202)).headers['idempotent-replayed']).toBe('true');
      await eventually(
        async () => (await ctx.http.get(`/api/vms/${id}/snapshots/${idOf(snap)}`).set(alice.auth)).status === 404,
        20_000,
        'deleted',
      );
      const events = await actions(id);
      expect(events.filter((a) => a === 'vm.snapshot_restore_requested')).toHaveLength(1);
      expect(events.filter((a) => a === 'vm.snapshot_restored')).toHaveLength(1);
      expect(events.filter((a) => a === 'vm.snapshot_delete_requested')).toHaveLength(1);
    });

    it('restores a stopped VM and leaves it stopped', async () => {
      const id = await launchStopped('sn-3');
      const snap = await snapshot(id, 'cold').expect(202);
      await waitSnapshot(id, idOf(snap), 'available');
      expect((await getVm(id)).status).toBe('stopped');
      await ctx.http.post(`/api/vms/${id}/snapshots/${snap.body.id}/restore`).set(alice.auth).expect(202);
      await waitFor(id, 'stopped');
      expect((await sim.read(id))?.state).toBe('stopped');
    });

    it('runs one operation per VM: a snapshot and an action at once, one wins, the other answers 409', async () => {
      const id = await launch('sn-4');
      const [snap, stop] = await Promise.all([snapshot(id, 'race'), action(id, { action: 'stop' })]);
      expect([snap.status, stop.status].sort()).toEqual([202, 409]);
      const loser = snap.status === 409 ? snap : stop;
      expect(['vm.operation_in_progress', 'vm.invalid_transition']).toContain(loser.body.code);
      // While the snapshot is taken: no action but destroy, no second snapshot, no restore.
      if (snap.status === 202) {
        const busy = await action(id, { action: 'restart' }).expect(409);
        expect(busy.body).toMatchObject({ code: 'vm.operation_in_progress', operation: 'snapshot_create', allowed_actions: ['destroy'] });
        expect((await snapshot(id, 'second').expect(409)).body.code).toBe('vm.operation_in_progress');
        await waitSnapshot(id, idOf(snap), 'available');
      } else {
        expect((await snapshot(id, 'late').expect(409)).body).toMatchObject({ code: 'vm.invalid_transition', vm_status: 'stopping' });
        await waitFor(id, 'stopped');
      }
    });

    it('refuses snapshots past SNAPSHOTS_MAX_PER_VM (403), a taken name (409), and short credits (402), charging nothing', async () => {
      const carol = await newUser(ctx, { credits: 34 + 2 * SNAPSHOT_PRICE + 1 });
      const id = await launch('sn-5', carol);
      const first = await snapshot(id, 'one', carol).expect(202);
      await eventually(async () => (await getVm(id, carol)).pending_operation === null, 20_000, 'snapshot one');
      expect((await snapshot(id, 'one', carol).expect(409)).body.code).toBe('snapshot.name_taken');
      await snapshot(id, 'two', carol).expect(202);
      await eventually(async () => (await getVm(id, carol)).pending_operation === null, 20_000, 'snapshot two');
      expect(await balance(carol)).toBe(1);
      const limit = await snapshot(id, 'three', carol).expect(403);
      expect(limit.body).toMatchObject({ code: 'snapshot.limit_reached', limit: 2 });
      // Deleting one makes room; its price is then more than the balance.
      const del = await ctx.http.delete(`/api/vms/${id}/snapshots/${first.body.id}`).set(carol.auth).expect(202);
      expect(del.body).toMatchObject({ id: first.body.id, status: 'deleting' });
      await eventually(
        async () => (await ctx.http.get(`/api/vms/${id}/snapshots/${first.body.id}`).set(carol.auth)).status === 404,
        20_000,
        'deleted',
      );
      const poor = await snapshot(id, 'three', carol).expect(402);
      expect(poor.body).toMatchObject({ code: 'credits.insufficient', cost: SNAPSHOT_PRICE, balance: 1 });
      expect(await balance(carol)).toBe(1);
      const [{ count }] = await ctx.db.query(`SELECT count(*)::int AS count FROM vm_snapshots WHERE vm_id = $1`, [id]);
      expect(count).toBe(1);
    });

    it('refuses snapshot operations while the VM is not settled, and unknown snapshots', async () => {
      const res = await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'sn-6', ...spec })
        .expect(202);
      const early = await snapshot(idOf(res), 'too-early').expect(409);
      expect(early.body).toMatchObject({ code: 'vm.invalid_transition', vm_status: 'provisioning' });
      await waitFor(idOf(res), 'running');
      await ctx.http.get(`/api/vms/${res.body.id}/snapshots/${randomUUID()}`).set(alice.auth).expect(404);
      await ctx.http.post(`/api/vms/${res.body.id}/snapshots/${randomUUID()}/restore`).set(alice.auth).expect(404);
      await snapshot(idOf(res), 'Bad Name').expect(400);
    });

    it('goes with the VM’s destroy, from the database and the host', async () => {
      const id = await launch('sn-7');
      const snap = await snapshot(id, 'doomed').expect(202);
      await waitSnapshot(id, idOf(snap), 'available');
      expect(Object.keys((await sim.read(id))?.snapshots ?? {})).toEqual([snap.body.id]);
      await action(id, { action: 'destroy' }).expect(202);
      await waitFor(id, 'destroyed');
      const rows = await ctx.db.query(`SELECT id FROM vm_snapshots WHERE vm_id = $1`, [id]);
      expect(rows).toEqual([]);
      expect(await sim.read(id)).toBeNull();
      // The charge stays: snapshots are never refunded.
      expect((await ledger(alice, 'snapshot_create')).filter((r) => r.vm_id === id)).toHaveLength(1);
    });

    it('a snapshot job that exhausted its retries (dead letter): the snapshot failed, the slot free, a critical event, no refund', async () => {
      const id = await launch('sn-dead');
      const before = await balance();
      const snap = await snapshot(id, 'doomed-job').expect(202);
      await ctx.app.get(VmWorker).abandon({ vmId: id, op: 'snapshot_create', expect: 'running', snapshotId: idOf(snap) });
      // The job still running then finds its snapshot no longer creating and changes nothing.
      expect(await waitSnapshot(id, idOf(snap), 'failed')).toMatchObject({ status: 'failed' });
      expect(await getVm(id)).toMatchObject({ status: 'running', pending_operation: null });
      expect(await actions(id)).toContain('vm.snapshot_failed');
      expect(await balance()).toBe(before - SNAPSHOT_PRICE);
      // A failed snapshot can be deleted, and the VM takes actions again.
      await ctx.http
        .delete(`/api/vms/${id}/snapshots/${idOf(snap)}`)
        .set(alice.auth)
        .expect(202);
      await eventually(
        async () => (await ctx.http.get(`/api/vms/${id}/snapshots/${idOf(snap)}`).set(alice.auth)).status === 404,
        20_000,
        'deleted',
      );
      await action(id, { action: 'stop' }).expect(202);
    });

    it('accepts a destroy while a snapshot is being taken', async () => {
      const id = await launch('sn-8');
      await snapshot(id, 'inflight').expect(202);
      await action(id, { action: 'destroy' }).expect(202);
      await waitFor(id, 'destroyed');
      expect(await ctx.db.query(`SELECT id FROM vm_snapshots WHERE vm_id = $1`, [id])).toEqual([]);
    });
  });
});
