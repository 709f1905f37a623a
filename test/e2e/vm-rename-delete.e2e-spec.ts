import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

const spec = { os_type: 'ubuntu-22.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 };

describe('rename (PATCH name) and DELETE /api/vms/{id} (e2e, simulator)', () => {
  let ctx: TestContext;
  let alice: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp();
    alice = await newUser(ctx, { credits: 5000 });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const create = async (name: string, user = alice) =>
    (
      await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name, ...spec })
        .expect(202)
    ).body as { id: string };
  const statusOf = async (id: string) => (await ctx.http.get(`/api/vms/${id}/status`).set(alice.auth).expect(200)).body.status as string;
  const waitFor = (id: string, status: string) => eventually(async () => (await statusOf(id)) === status, 10_000, `VM ${id} ${status}`);
  const eventsOf = async (id: string) =>
    (
      (await ctx.http.get(`/api/events?vm_id=${id}&limit=100`).set(alice.auth).expect(200)).body.items as {
        action: string;
        details: Record<string, unknown>;
      }[]
    ).reverse();

  describe('rename', () => {
    it('renames with create’s rules, records vm.renamed with old and new name, and frees the old name', async () => {
      const vm = await create('before');
      const res = await ctx.http.patch(`/api/vms/${vm.id}`).set(alice.auth).send({ name: 'after' }).expect(200);
      expect(res.body).toMatchObject({ id: vm.id, name: 'after' });
      expect((await ctx.http.get(`/api/vms/${vm.id}`).set(alice.auth).expect(200)).body.name).toBe('after');
      const renamed = (await eventsOf(vm.id)).filter((e) => e.action === 'vm.renamed');
      expect(renamed.map((e) => e.details)).toEqual([{ old_name: 'before', new_name: 'after' }]);
      await create('before');
      // The same name again changes nothing and records nothing.
      await ctx.http.patch(`/api/vms/${vm.id}`).set(alice.auth).send({ name: 'after' }).expect(200);
      expect((await eventsOf(vm.id)).filter((e) => e.action === 'vm.renamed')).toHaveLength(1);
    });

    it('answers 409 vm.name_taken for a name another live VM of yours has (as create does), changing nothing', async () => {
      const a = await create('alpha');
      await create('beta');
      const res = await ctx.http
        .patch(`/api/vms/${a.id}`)
        .set(alice.auth)
        .send({ name: 'beta', metadata: { x: 1 } })
        .expect(409);
      expect(res.body).toMatchObject({ code: 'vm.name_taken', status: 409 });
      const dupCreate = await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'beta', ...spec })
        .expect(409);
      expect(dupCreate.body.code).toBe(res.body.code);
      const row = await ctx.http.get(`/api/vms/${a.id}`).set(alice.auth).expect(200);
      expect(row.body).toMatchObject({ name: 'alpha', metadata: {} });
      // Another user's VM of that name is no obstacle.
      const bob = await newUser(ctx, { credits: 100 });
      await create('gamma', bob);
      await ctx.http.patch(`/api/vms/${a.id}`).set(alice.auth).send({ name: 'gamma' }).expect(200);
    });

    it('refuses a name that is not a hostname label (400, as create) and renames with metadata in one request', async () => {
      const vm = await create('label');
      for (const name of ['Upper', '-lead', 'x'.repeat(64), '', 7]) {
        const res = await ctx.http.patch(`/api/vms/${vm.id}`).set(alice.auth).send({ name });
        expect({ name, status: res.status, code: res.body.code }).toEqual({ name, status: 400, code: 'request.validation' });
      }
      const both = await ctx.http
        .patch(`/api/vms/${vm.id}`)
        .set(alice.auth)
        .send({ name: 'label-2', metadata: { env: 'prod' } })
        .expect(200);
      expect(both.body).toMatchObject({ name: 'label-2', metadata: { env: 'prod' } });
      const actions = (await eventsOf(vm.id)).map((e) => e.action);
      expect(actions).toEqual(expect.arrayContaining(['vm.renamed', 'vm.metadata_updated']));
    });

    it('keeps a destroyed VM’s name (409) and answers 404 for another user’s VM', async () => {
      const vm = await create('doomed');
      await ctx.http.delete(`/api/vms/${vm.id}`).set(alice.auth).expect(202);
      await waitFor(vm.id, 'destroyed');
      const res = await ctx.http.patch(`/api/vms/${vm.id}`).set(alice.auth).send({ name: 'zombie' }).expect(409);
      expect(res.body).toMatchObject({ code: 'vm.invalid_transition', vm_status: 'destroyed' });
      const mallory = await newUser(ctx);
      const live = await create('mine');
      await ctx.http.patch(`/api/vms/${live.id}`).set(mallory.auth).send({ name: 'theirs' }).expect(404);
    });
  });

  describe('DELETE /api/vms/{id}', () => {
    it('destroys like the destroy action: 202 destroying, then destroyed, the same events, the name free again', async () => {
      const vm = await create('gone');
      await waitFor(vm.id, 'running');
      const res = await ctx.http.delete(`/api/vms/${vm.id}`).set(alice.auth).expect(202);
      expect(res.body).toMatchObject({ id: vm.id, name: 'gone', status: 'destroying', allowed_actions: [] });
      await waitFor(vm.id, 'destroyed');
      const events = await eventsOf(vm.id);
      expect(events.map((e) => e.action).slice(-2)).toEqual(['vm.action_requested', 'vm.destroyed']);
      expect(events.find((e) => e.action === 'vm.action_requested')?.details).toMatchObject({
        action: 'destroy',
        from: 'running',
        to: 'destroying',
      });
      const again = await ctx.http.delete(`/api/vms/${vm.id}`).set(alice.auth).expect(409);
      expect(again.body).toMatchObject({ code: 'vm.invalid_transition', vm_status: 'destroyed', allowed_actions: [] });
      await create('gone');
    });

    it('honours Idempotency-Key (the retry replays the first answer) and answers 404 for anyone else’s VM', async () => {
      const vm = await create('keyed');
      const mallory = await newUser(ctx);
      await ctx.http.delete(`/api/vms/${vm.id}`).set(mallory.auth).expect(404);
      const first = await ctx.http.delete(`/api/vms/${vm.id}`).set(alice.auth).set('Idempotency-Key', `del-${vm.id}`).expect(202);
      const retry = await ctx.http.delete(`/api/vms/${vm.id}`).set(alice.auth).set('Idempotency-Key', `del-${vm.id}`).expect(202);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.body).toEqual(first.body);
      const requested = (await eventsOf(vm.id)).filter((e) => e.action === 'vm.action_requested');
      expect(requested).toHaveLength(1);
      await ctx.http.delete('/api/vms/not-a-uuid').set(alice.auth).expect(400);
    });
  });
});
