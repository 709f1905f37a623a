import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

const spec = { os_type: 'rocky-9', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }; // costs 34
const NIL = '00000000-0000-4000-8000-000000000000';

describe('admin (e2e)', () => {
  let ctx: TestContext;
  let admin: TestUser;
  let alice: TestUser;
  let aliceVm: string;

  beforeAll(async () => {
    ctx = await createTestApp();
    admin = await newUser(ctx, { role: 'admin' });
    alice = await newUser(ctx, { credits: 500 });
    aliceVm = (
      await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'alice-web', ...spec })
        .expect(202)
    ).body.id;
    await eventually(async () => (await ctx.http.get(`/api/vms/${aliceVm}`).set(alice.auth)).body.status === 'running');
  });
  afterAll(async () => {
    await ctx.close();
  });

  // Always three entries: jest would pass its `done` callback into a missing parameter.
  const routes: [string, string, object | null][] = [
    ['get', '/api/admin/vms', null],
    ['post', `/api/admin/vms/${NIL}/action`, { action: 'stop' }],
    ['get', '/api/admin/events', null],
    ['get', '/api/admin/users', null],
    ['get', `/api/admin/users/${NIL}`, null],
    ['patch', `/api/admin/users/${NIL}`, { is_active: false }],
    ['post', `/api/admin/users/${NIL}/credits`, { amount: 5, reason: 'x' }],
    ['get', `/api/admin/users/${NIL}/credits/transactions`, null],
    ['get', '/api/admin/credits/audit', null],
  ];

  it.each(routes)('%s %s answers 401 without a token and 403 to a normal user', async (method, path, body) => {
    const call = (m: string, p: string) => (ctx.http as unknown as Record<string, (p: string) => import('supertest').Test>)[m]!(p);
    const anon = await (body ? call(method, path).send(body) : call(method, path));
    expect(anon.status).toBe(401);
    const user = await (body ? call(method, path).set(alice.auth).send(body) : call(method, path).set(alice.auth));
    expect(user.status).toBe(403);
    expect(user.body).toMatchObject({ status: 403, code: 'auth.forbidden' });
  });

  it('lists every user’s VMs with their owner, with filters and keyset pages', async () => {
    const bob = await newUser(ctx, { credits: 500 });
    await ctx.http
      .post('/api/vms')
      .set(bob.auth)
      .send({ name: 'bob-db', ...spec, os_type: 'debian-12' })
      .expect(202);
    const all = await ctx.http.get('/api/admin/vms').set(admin.auth).expect(200);
    expect(all.body.items.map((v: { name: string }) => v.name)).toEqual(['bob-db', 'alice-web']);
    expect(all.body.items[1]).toMatchObject({
      id: aliceVm,
      user_id: alice.id,
      owner: { id: alice.id, username: alice.username, email: alice.email },
    });
    const byUser = await ctx.http.get(`/api/admin/vms?user_id=${bob.id}`).set(admin.auth).expect(200);
    expect(byUser.body.items.map((v: { name: string }) => v.name)).toEqual(['bob-db']);
    const byOs = await ctx.http.get('/api/admin/vms?os_type=rocky-9').set(admin.auth).expect(200);
    expect(byOs.body.items.map((v: { name: string }) => v.name)).toEqual(['alice-web']);
    const byPrefix = await ctx.http.get('/api/admin/vms?name_prefix=bob').set(admin.auth).expect(200);
    expect(byPrefix.body.items).toHaveLength(1);
    const page1 = await ctx.http.get('/api/admin/vms?limit=1').set(admin.auth).expect(200);
    const page2 = await ctx.http.get(`/api/admin/vms?limit=1&cursor=${page1.body.next_cursor}`).set(admin.auth).expect(200);
    expect(page2.body.items[0].id).toBe(aliceVm);
    await ctx.http.get('/api/admin/vms?user_id=nope').set(admin.auth).expect(400);
  });

  it('acts on any VM through the same state machine, recording an admin event with actor, owner and reason', async () => {
    const res = await ctx.http
      .post(`/api/admin/vms/${aliceVm}/action`)
      .set(admin.auth)
      .send({ action: 'stop', reason: 'abuse report' })
      .expect(202);
    expect(res.body).toMatchObject({ status: 'stopping', owner: { id: alice.id } });
    await eventually(async () => (await ctx.http.get(`/api/vms/${aliceVm}`).set(alice.auth)).body.status === 'stopped');
    const conflict = await ctx.http.post(`/api/admin/vms/${aliceVm}/action`).set(admin.auth).send({ action: 'stop' }).expect(409);
    expect(conflict.body.allowed_actions).toEqual(['start', 'destroy', 'resize', 'rebuild']);
    await ctx.http.post(`/api/admin/vms/${NIL}/action`).set(admin.auth).send({ action: 'stop' }).expect(404);

    const events = await ctx.http.get(`/api/admin/events?type=admin&vm_id=${aliceVm}`).set(admin.auth).expect(200);
    expect(events.body.items[0]).toMatchObject({
      action: 'admin.vm_action',
      actor_id: admin.id,
      user_id: alice.id,
      details: { action: 'stop', reason: 'abuse report', target_user_id: alice.id },
    });
    // The owner sees it in their own feed too.
    const own = await ctx.http.get(`/api/events?type=admin`).set(alice.auth).expect(200);
    expect(own.body.items.map((e: { action: string }) => e.action)).toContain('admin.vm_action');
  });

  it('filters all events by user, severity and time window', async () => {
    const before = new Date(Date.now() - 60_000).toISOString();
    const res = await ctx.http.get(`/api/admin/events?user_id=${alice.id}&since=${before}&limit=100`).set(admin.auth).expect(200);
    expect(res.body.items.length).toBeGreaterThan(3);
    expect(res.body.items.every((e: { user_id: string }) => e.user_id === alice.id)).toBe(true);
    const future = await ctx.http
      .get(`/api/admin/events?since=${new Date(Date.now() + 60_000).toISOString()}`)
      .set(admin.auth)
      .expect(200);
    expect(future.body.items).toEqual([]);
    const old = await ctx.http.get(`/api/admin/events?until=2000-01-01T00:00:00Z`).set(admin.auth).expect(200);
    expect(old.body.items).toEqual([]);
    await ctx.http.get('/api/admin/events?since=yesterday').set(admin.auth).expect(400);
  });

  it('lists users with filters and shows one with balance and VM counts', async () => {
    const list = await ctx.http
      .get(`/api/admin/users?email_prefix=${alice.email.slice(0, 5).toUpperCase()}`)
      .set(admin.auth)
      .expect(200);
    expect(list.body.items.map((u: { id: string }) => u.id)).toEqual([alice.id]);
    const admins = await ctx.http.get('/api/admin/users?role=admin').set(admin.auth).expect(200);
    expect(admins.body.items.map((u: { id: string }) => u.id)).toEqual([admin.id]);
    const detail = await ctx.http.get(`/api/admin/users/${alice.id}`).set(admin.auth).expect(200);
    expect(detail.body).toMatchObject({ id: alice.id, credits: 466, vm_counts: { stopped: 1, running: 0 } });
    await ctx.http.get(`/api/admin/users/${NIL}`).set(admin.auth).expect(404);
  });

  describe('credit adjustments', () => {
    it('writes the ledger row, the balance and an admin event naming the target user', async () => {
      const res = await ctx.http
        .post(`/api/admin/users/${alice.id}/credits`)
        .set(admin.auth)
        .send({ amount: 50, reason: 'goodwill' })
        .expect(201);
      expect(res.body).toMatchObject({ amount: 50, balance_after: 516, kind: 'admin_adjustment', reason: 'goodwill', actor_id: admin.id });
      const me = await ctx.http.get('/api/users/me').set(alice.auth).expect(200);
      expect(me.body.credits).toBe(516);
      const ledger = await ctx.http.get(`/api/admin/users/${alice.id}/credits/transactions?limit=1`).set(admin.auth).expect(200);
      expect(ledger.body.items[0].id).toBe(res.body.id);
      const own = await ctx.http.get('/api/credits/transactions?limit=1').set(alice.auth).expect(200);
      expect(own.body.items[0].id).toBe(res.body.id);
      const events = await ctx.http.get(`/api/admin/events?type=admin&user_id=${alice.id}&limit=1`).set(admin.auth).expect(200);
      expect(events.body.items[0]).toMatchObject({
        action: 'admin.credit_adjustment',
        actor_id: admin.id,
        details: { amount: 50, reason: 'goodwill', balance_after: 516, target_user_id: alice.id },
      });
    });

    it('answers 409 for a deduction below zero and changes nothing', async () => {
      const res = await ctx.http
        .post(`/api/admin/users/${alice.id}/credits`)
        .set(admin.auth)
        .send({ amount: -10_000, reason: 'too much' })
        .expect(409);
      expect(res.body).toMatchObject({ code: 'credits.balance_too_low', deduction: 10_000 });
      const me = await ctx.http.get('/api/users/me').set(alice.auth).expect(200);
      expect(me.body.credits).toBe(516);
      const [{ count }] = await ctx.db.query(`SELECT count(*)::int AS count FROM events WHERE details->>'reason' = 'too much'`);
      expect(count).toBe(0);
    });

    it.each([
      [{ amount: 0, reason: 'zero' }, 'amount'],
      [{ amount: 1.5, reason: 'fraction' }, 'amount'],
      [{ amount: 5 }, 'reason'],
      [{ amount: 5, reason: '   ' }, 'reason'],
      [{ amount: 5, reason: 'r'.repeat(501) }, 'reason'],
    ])('answers 400 for an invalid adjustment (case %#)', async (body, field) => {
      const res = await ctx.http.post(`/api/admin/users/${alice.id}/credits`).set(admin.auth).send(body).expect(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it('answers 404 for an unknown user', async () => {
      await ctx.http.post(`/api/admin/users/${NIL}/credits`).set(admin.auth).send({ amount: 5, reason: 'x' }).expect(404);
    });

    it('keeps every balance equal to its ledger under concurrent adjustments and creates', async () => {
      const carol = await newUser(ctx, { credits: 200 });
      const requests = [
        ...Array.from({ length: 10 }, (_, i) =>
          ctx.http
            .post(`/api/admin/users/${carol.id}/credits`)
            .set(admin.auth)
            .send({ amount: i % 2 ? -30 : 25, reason: `c${i}` }),
        ),
        ...Array.from({ length: 10 }, (_, i) =>
          ctx.http
            .post('/api/vms')
            .set(carol.auth)
            .send({ name: `cc${i}`, ...spec }),
        ),
      ];
      const results = await Promise.all(requests);
      expect(results.every((r) => [201, 202, 402, 409].includes(r.status))).toBe(true);
      const audit = await ctx.http.get('/api/admin/credits/audit').set(admin.auth).expect(200);
      expect(audit.body.mismatches).toEqual([]);
      expect(audit.body.checked_users).toBeGreaterThanOrEqual(3);
      const [{ credits }] = await ctx.db.query('SELECT credits FROM users WHERE id = $1', [carol.id]);
      expect(credits).toBeGreaterThanOrEqual(0);
    });

    it('reports a user whose balance was changed behind the ledger’s back', async () => {
      const dave = await newUser(ctx);
      await ctx.db.query('UPDATE users SET credits = credits + 7 WHERE id = $1', [dave.id]);
      const audit = await ctx.http.get('/api/admin/credits/audit').set(admin.auth).expect(200);
      expect(audit.body.mismatches).toEqual([
        { user_id: dave.id, username: dave.username, balance: 107, ledger_sum: 100, last_balance_after: 100 },
      ]);
      await ctx.db.query('UPDATE users SET credits = credits - 7 WHERE id = $1', [dave.id]);
    });
  });

  describe('user administration', () => {
    it('deactivates a user (their token stops working) and reactivates them, with admin events', async () => {
      const erin = await newUser(ctx);
      const res = await ctx.http.patch(`/api/admin/users/${erin.id}`).set(admin.auth).send({ is_active: false }).expect(200);
      expect(res.body.is_active).toBe(false);
      await ctx.http.get('/api/users/me').set(erin.auth).expect(401);
      await ctx.http.patch(`/api/admin/users/${erin.id}`).set(admin.auth).send({ is_active: true }).expect(200);
      await ctx.http.get('/api/users/me').set(erin.auth).expect(200);
      const events = await ctx.http.get(`/api/admin/events?user_id=${erin.id}&type=admin`).set(admin.auth).expect(200);
      expect(events.body.items).toHaveLength(2);
    });

    it('promotes a user; an admin cannot demote themselves and the last active admin stays', async () => {
      const self = await ctx.http.patch(`/api/admin/users/${admin.id}`).set(admin.auth).send({ role: 'user' }).expect(409);
      expect(self.body.code).toBe('user.self_demotion');
      await ctx.http.patch(`/api/admin/users/${admin.id}`).set(admin.auth).send({ is_active: false }).expect(409);

      const frank = await newUser(ctx);
      await ctx.http.patch(`/api/admin/users/${frank.id}`).set(admin.auth).send({ role: 'admin' }).expect(200);
      // Frank (now admin) demotes the original admin, leaving himself as the last one.
      await ctx.http.patch(`/api/admin/users/${admin.id}`).set(frank.auth).send({ role: 'user' }).expect(200);
      await ctx.http.get('/api/admin/users').set(admin.auth).expect(403);
      // Nobody else can remove the last admin; restore the original admin for the other tests.
      await ctx.db.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [admin.id]);
      await ctx.db.query(`UPDATE users SET role = 'user' WHERE id = $1`, [frank.id]);
      // Changes made outside the API reach the app by NOTIFY (a trigger on users), a moment after commit.
      await eventually(
        async () => (await ctx.http.get('/api/admin/users').set(admin.auth)).status === 200,
        5000,
        'the restored admin role',
      );
      await ctx.http.patch(`/api/admin/users/${frank.id}`).set(admin.auth).send({}).expect(400);
      await ctx.http.patch(`/api/admin/users/${frank.id}`).set(admin.auth).send({ role: 'root' }).expect(400);
    });

    it('refuses to deactivate the last active admin even when another admin is inactive', async () => {
      const [{ count }] = await ctx.db.query(`SELECT count(*)::int AS count FROM users WHERE role = 'admin' AND is_active`);
      expect(count).toBe(1);
      const gina = await newUser(ctx, { role: 'admin' });
      await ctx.db.query('UPDATE users SET is_active = false WHERE id = $1', [gina.id]);
      // Only `admin` is active: a second active admin demoting `admin` would be allowed, but `admin` itself cannot.
      await ctx.http.patch(`/api/admin/users/${admin.id}`).set(admin.auth).send({ role: 'user' }).expect(409);
    });
  });
});
