import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext, TEST_VM_QUEUE } from '../support/test-app';

const spec = { os_type: 'ubuntu-22.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }; // costs 34

describe('VM lifecycle (e2e, simulator provider)', () => {
  let ctx: TestContext;
  let alice: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp();
    alice = await newUser(ctx, { credits: 1000 });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const statusOf = async (id: string, user = alice) => (await ctx.http.get(`/api/vms/${id}/status`).set(user.auth).expect(200)).body;
  const waitFor = (id: string, status: string) =>
    eventually(async () => ((await statusOf(id)).status === status ? statusOf(id) : null), 10_000, `VM ${id} to be ${status}`);

  it('prices a VM without changing anything', async () => {
    const res = await ctx.http.post('/api/vms/quota-check').set(alice.auth).send({ ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }).expect(200);
    expect(res.body).toEqual({ cost: 34, balance: 1000, sufficient: true, balance_after: 966 });
  });

  it('walks create -> running -> stop -> start -> restart -> destroy', async () => {
    const created = await ctx.http
      .post('/api/vms')
      .set(alice.auth)
      .send({ name: 'web-1', ...spec, metadata: { team: 'web' } })
      .expect(202);
    expect(created.body).toMatchObject({
      name: 'web-1',
      status: 'provisioning',
      cost: 34,
      metadata: { team: 'web' },
      allowed_actions: ['destroy'],
      ip_address: null,
    });
    const id = created.body.id as string;
    const running = await waitFor(id, 'running');
    expect(running.ip_address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(running.ssh_port).toEqual(expect.any(Number));

    const me = await ctx.http.get('/api/users/me').set(alice.auth).expect(200);
    expect(me.body.credits).toBe(966);

    const vm = await ctx.http.get(`/api/vms/${id}`).set(alice.auth).expect(200);
    expect(vm.body.allowed_actions).toEqual(['stop', 'restart', 'destroy', 'rebuild']);

    await ctx.http.post(`/api/vms/${id}/action`).set(alice.auth).send({ action: 'stop' }).expect(202);
    await waitFor(id, 'stopped');
    const stopped = await ctx.http.get(`/api/vms/${id}`).set(alice.auth).expect(200);
    expect(stopped.body).toMatchObject({ allowed_actions: ['start', 'destroy', 'resize', 'rebuild'], ip_address: null });

    await ctx.http.post(`/api/vms/${id}/action`).set(alice.auth).send({ action: 'start' }).expect(202);
    await waitFor(id, 'running');
    await ctx.http.post(`/api/vms/${id}/action`).set(alice.auth).send({ action: 'restart' }).expect(202);
    await waitFor(id, 'running');
    const destroyed = await ctx.http.post(`/api/vms/${id}/action`).set(alice.auth).send({ action: 'destroy' }).expect(202);
    expect(destroyed.body.status).toBe('destroying');
    await waitFor(id, 'destroyed');

    const [row] = await ctx.db.query('SELECT destroyed_at FROM vms WHERE id = $1', [id]);
    expect(row.destroyed_at).toBeInstanceOf(Date);
    const events = await ctx.http.get(`/api/events?vm_id=${id}&limit=100`).set(alice.auth).expect(200);
    expect(events.body.items.map((e: { action: string }) => e.action).reverse()).toEqual([
      'vm.create',
      'system.credit_deduction',
      'vm.provisioned',
      'vm.action_requested',
      'vm.stopped',
      'vm.action_requested',
      'vm.started',
      'vm.action_requested',
      'vm.restarted',
      'vm.action_requested',
      'vm.destroyed',
    ]);

    // The name is free again, and the destroyed VM is hidden unless asked for.
    const again = await ctx.http
      .post('/api/vms')
      .set(alice.auth)
      .send({ name: 'web-1', ...spec })
      .expect(202);
    const list = await ctx.http.get('/api/vms').set(alice.auth).expect(200);
    expect(list.body.items.map((v: { id: string }) => v.id)).toEqual([again.body.id]);
    const all = await ctx.http.get('/api/vms?include_destroyed=true').set(alice.auth).expect(200);
    expect(all.body.items.map((v: { id: string }) => v.id)).toEqual([again.body.id, id]);
  });

  describe('creation errors', () => {
    it('answers 402 before any work when the balance is too low, changing nothing', async () => {
      const poor = await newUser(ctx, { credits: 20 });
      const res = await ctx.http
        .post('/api/vms')
        .set(poor.auth)
        .send({ name: 'big', ...spec })
        .expect(402);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 402, code: 'credits.insufficient', cost: 34, balance: 20 });
      const [{ count }] = await ctx.db.query('SELECT count(*)::int AS count FROM vms WHERE user_id = $1', [poor.id]);
      expect(count).toBe(0);
      const [{ credits }] = await ctx.db.query('SELECT credits FROM users WHERE id = $1', [poor.id]);
      expect(credits).toBe(20);
      // With an Idempotency-Key the debit answers instead of the guard's early check: the same problem.
      const keyed = await ctx.http
        .post('/api/vms')
        .set(poor.auth)
        .set('Idempotency-Key', 'poor-1')
        .send({ name: 'big', ...spec })
        .expect(402);
      expect(keyed.body).toEqual({ ...res.body, request_id: keyed.body.request_id });
    });

    it('answers 409 for a name already used by a live VM of the same user, but not of another user', async () => {
      const bob = await newUser(ctx, { credits: 500 });
      await ctx.http
        .post('/api/vms')
        .set(bob.auth)
        .send({ name: 'db', ...spec })
        .expect(202);
      const dup = await ctx.http
        .post('/api/vms')
        .set(bob.auth)
        .send({ name: 'db', ...spec })
        .expect(409);
      expect(dup.body.code).toBe('vm.name_taken');
      const [{ credits }] = await ctx.db.query('SELECT credits FROM users WHERE id = $1', [bob.id]);
      expect(credits).toBe(500 - 34);
      const carol = await newUser(ctx, { credits: 500 });
      await ctx.http
        .post('/api/vms')
        .set(carol.auth)
        .send({ name: 'db', ...spec })
        .expect(202);
    });

    it.each([
      ['name', { name: 'Bad_Name', ...spec }],
      ['name', { name: '-lead', ...spec }],
      ['name', { name: 'x'.repeat(64), ...spec }],
      ['ram_mb', { name: 'ok', ...spec, ram_mb: 256 }],
      ['ram_mb', { name: 'ok', ...spec, ram_mb: 1024.5 }],
      ['disk_gb', { name: 'ok', ...spec, disk_gb: 4096 }],
      ['cpu_cores', { name: 'ok', ...spec, cpu_cores: 0 }],
      ['cpu_cores', { name: 'ok', ...spec, cpu_cores: '2' }],
      ['metadata', { name: 'ok', ...spec, metadata: [1, 2] }],
      ['metadata', { name: 'ok', ...spec, metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }],
      ['metadata', { name: 'ok', ...spec, metadata: { blob: 'x'.repeat(17 * 1024) } }],
      ['status', { name: 'ok', ...spec, status: 'running' }],
    ])('answers 400 naming %s (case %#)', async (field, body) => {
      const res = await ctx.http.post('/api/vms').set(alice.auth).send(body).expect(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it('answers 400 for an os_type outside the catalog, listing the allowed ones', async () => {
      const res = await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'ok', ...spec, os_type: 'windows-95' })
        .expect(400);
      expect(res.body.code).toBe('vm.unknown_os_type');
      expect(res.body.allowed_os_types).toEqual(expect.arrayContaining(['ubuntu-22.04', 'ubuntu-24.04', 'debian-12', 'rocky-9']));
    });

    it('answers 401 without a token', async () => {
      await ctx.http
        .post('/api/vms')
        .send({ name: 'anon', ...spec })
        .expect(401);
    });
  });

  describe('ownership, actions and metadata', () => {
    let vmId: string;
    beforeAll(async () => {
      const res = await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'owned', ...spec, metadata: { a: 1, b: 2 } })
        .expect(202);
      vmId = res.body.id;
      await waitFor(vmId, 'running');
    });

    it('answers 404 (not 403) for another user’s VM on every route', async () => {
      const mallory = await newUser(ctx);
      await ctx.http.get(`/api/vms/${vmId}`).set(mallory.auth).expect(404);
      await ctx.http.get(`/api/vms/${vmId}/status`).set(mallory.auth).expect(404);
      await ctx.http
        .patch(`/api/vms/${vmId}`)
        .set(mallory.auth)
        .send({ metadata: { x: 1 } })
        .expect(404);
      const res = await ctx.http.post(`/api/vms/${vmId}/action`).set(mallory.auth).send({ action: 'stop' }).expect(404);
      expect(res.body.code).toBe('vm.not_found');
      const list = await ctx.http.get('/api/vms').set(mallory.auth).expect(200);
      expect(list.body.items).toEqual([]);
    });

    it('searches the list by name prefix in any case, among the caller’s own VMs only; a malformed prefix is a 400', async () => {
      const bob = await newUser(ctx);
      await ctx.http
        .post('/api/vms')
        .set(bob.auth)
        .send({ name: 'owned-by-bob', ...spec })
        .expect(202);
      for (const prefix of ['own', 'OWN', 'Owned']) {
        const res = await ctx.http.get('/api/vms').query({ name_prefix: prefix }).set(alice.auth).expect(200);
        expect({ prefix, names: (res.body as { items: { name: string }[] }).items.map((v) => v.name) }).toEqual({
          prefix,
          names: ['owned'],
        });
      }
      const none = await ctx.http.get('/api/vms').query({ name_prefix: 'owned-by' }).set(alice.auth).expect(200);
      expect(none.body.items).toEqual([]);
      for (const bad of ['own%', 'a_b', 'x'.repeat(64), '']) {
        const res = await ctx.http.get('/api/vms').query({ name_prefix: bad }).set(alice.auth).expect(400);
        expect((res.body as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain('name_prefix');
      }
    });

    it('answers 400 for an id that is not a UUID and 404 for an unknown one', async () => {
      await ctx.http.get('/api/vms/not-a-uuid').set(alice.auth).expect(400);
      await ctx.http.get('/api/vms/00000000-0000-4000-8000-000000000000').set(alice.auth).expect(404);
    });

    it('answers 409 with allowed_actions for an action the status does not allow', async () => {
      const res = await ctx.http.post(`/api/vms/${vmId}/action`).set(alice.auth).send({ action: 'start' }).expect(409);
      expect(res.body).toMatchObject({
        code: 'vm.invalid_transition',
        vm_status: 'running',
        allowed_actions: ['stop', 'restart', 'destroy', 'rebuild'],
      });
      await ctx.http.post(`/api/vms/${vmId}/action`).set(alice.auth).send({ action: 'explode' }).expect(400);
    });

    it('stores and returns metadata keys named like Object.prototype members; __proto__, constructor, prototype stay refused', async () => {
      const reserved = ['__proto__', 'constructor', 'prototype'];
      const names = Object.getOwnPropertyNames(Object.prototype).filter((k) => !reserved.includes(k));
      expect(names).toEqual(expect.arrayContaining(['hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', '__lookupSetter__']));
      const metadata = Object.fromEntries(names.map((k, i) => [k, `v${i}`]));
      const created = await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'proto-keys', ...spec, metadata })
        .expect(202);
      expect(created.body.metadata).toEqual(metadata);
      expect((await ctx.http.get(`/api/vms/${created.body.id}`).set(alice.auth).expect(200)).body.metadata).toEqual(metadata);
      const [row] = await ctx.db.query('SELECT metadata FROM vms WHERE id = $1', [created.body.id]);
      expect(row.metadata).toEqual(metadata);

      const patch = Object.fromEntries(names.map((k) => [k, `p-${k}`]));
      const patched = await ctx.http.patch(`/api/vms/${vmId}`).set(alice.auth).send({ metadata: patch }).expect(200);
      expect(patched.body.metadata).toMatchObject(patch);
      expect((await ctx.http.get(`/api/vms/${vmId}`).set(alice.auth).expect(200)).body.metadata).toMatchObject(patch);
      const removed = await ctx.http
        .patch(`/api/vms/${vmId}`)
        .set(alice.auth)
        .send({ metadata: Object.fromEntries(names.map((k) => [k, null])) })
        .expect(200);
      expect(Object.keys(removed.body.metadata).filter((k) => names.includes(k))).toEqual([]);

      for (const key of reserved) {
        const res = await ctx.http
          .patch(`/api/vms/${vmId}`)
          .set(alice.auth)
          .set('Content-Type', 'application/json')
          .send(`{"metadata":{"${key}":"x"}}`);
        expect({ key, status: res.status, code: res.body.code }).toEqual({ key, status: 400, code: 'request.reserved_key' });
      }
    });

    it('merges metadata, removes keys set to null, and changes nothing else', async () => {
      const res = await ctx.http
        .patch(`/api/vms/${vmId}`)
        .set(alice.auth)
        .send({ metadata: { b: null, c: 'three' } })
        .expect(200);
      expect(res.body.metadata).toEqual({ a: 1, c: 'three' });
      await ctx.http.patch(`/api/vms/${vmId}`).set(alice.auth).send({ metadata: {}, name: 'Not_A_Hostname' }).expect(400);
      await ctx.http.patch(`/api/vms/${vmId}`).set(alice.auth).send({ metadata: 'nope' }).expect(400);
      const vm = await ctx.http.get(`/api/vms/${vmId}`).set(alice.auth).expect(200);
      expect(vm.body.name).toBe('owned');
    });

    it('reports uptime including the current run', async () => {
      await ctx.db.query(`UPDATE vms SET last_started_at = now() - interval '90 seconds', uptime_seconds = 10 WHERE id = $1`, [vmId]);
      const res = await ctx.http.get(`/api/vms/${vmId}`).set(alice.auth).expect(200);
      expect(res.body.uptime_seconds).toBeGreaterThanOrEqual(100);
      expect(res.body.uptime_seconds).toBeLessThan(110);
    });

    it('filters the list by status and pages with a cursor', async () => {
      const pager = await newUser(ctx, { credits: 1000 });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          (
            await ctx.http
              .post('/api/vms')
              .set(pager.auth)
              .send({ name: `p${i}`, ...spec })
              .expect(202)
          ).body.id,
        );
      }
      const first = await ctx.http.get('/api/vms?limit=2').set(pager.auth).expect(200);
      expect(first.body.items.map((v: { id: string }) => v.id)).toEqual([ids[4], ids[3]]);
      const second = await ctx.http.get(`/api/vms?limit=2&cursor=${first.body.next_cursor}`).set(pager.auth).expect(200);
      const third = await ctx.http.get(`/api/vms?limit=2&cursor=${second.body.next_cursor}`).set(pager.auth).expect(200);
      expect([...second.body.items, ...third.body.items].map((v: { id: string }) => v.id)).toEqual([ids[2], ids[1], ids[0]]);
      expect(third.body.next_cursor).toBeNull();
      await ctx.http.get('/api/vms?limit=0').set(pager.auth).expect(400);
      await ctx.http.get('/api/vms?cursor=garbage').set(pager.auth).expect(400);
      await ctx.http.get('/api/vms?status=sleeping').set(pager.auth).expect(400);
      await eventually(async () => {
        const running = await ctx.http.get('/api/vms?status=running').set(pager.auth).expect(200);
        return running.body.items.length === 5;
      });
    });
  });

  describe('concurrent creates', () => {
    it('never overspend: exactly the affordable number succeed and the ledger sums to the balance', async () => {
      const attempts = 25;
      const affordable = 7;
      const user = await newUser(ctx, { credits: 34 * affordable + 20 });
      const results = await Promise.all(
        Array.from({ length: attempts }, (_, i) =>
          ctx.http
            .post('/api/vms')
            .set(user.auth)
            .send({ name: `c${i}`, ...spec }),
        ),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 202)).toHaveLength(affordable);
      expect(statuses.filter((s) => s === 402)).toHaveLength(attempts - affordable);
      const [row] = await ctx.db.query(
        `SELECT u.credits, (SELECT sum(amount)::int FROM credit_transactions t WHERE t.user_id = u.id) AS ledger,
                (SELECT count(*)::int FROM vms v WHERE v.user_id = u.id) AS vms,
                (SELECT count(*)::int FROM pgboss.job j WHERE j.name = '${TEST_VM_QUEUE}' AND j.data->>'vmId' IN (SELECT id::text FROM vms WHERE user_id = u.id)) AS jobs
           FROM users u WHERE u.id = $1`,
        [user.id],
      );
      expect(row).toEqual({ credits: 20, ledger: 20, vms: affordable, jobs: affordable });
      process.stdout.write(
        `concurrency: ${attempts} parallel creates, ${affordable} affordable -> ${statuses.filter((s) => s === 202).length} accepted, balance ${row.credits}, ledger sum ${row.ledger}\n`,
      );
    });
  });
});
