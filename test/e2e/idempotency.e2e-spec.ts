import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { requestFingerprint } from '../../src/modules/idempotency/idempotency.interceptor';
import { IdempotencyService } from '../../src/modules/idempotency/idempotency.service';
import { newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

const spec = { os_type: 'ubuntu-22.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }; // costs 34

describe('Idempotency-Key (e2e)', () => {
  let ctx: TestContext;
  let user: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp();
    user = await newUser(ctx, { credits: 100 });
    admin = await newUser(ctx, { role: 'admin' });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const balance = async (id: string) => (await ctx.db.query('SELECT credits FROM users WHERE id = $1', [id]))[0].credits as number;

  it('replays the first answer of a retried create and charges once', async () => {
    const key = randomUUID();
    const first = await ctx.http.post('/api/vms').set(user.auth).set('Idempotency-Key', key).send({ name: 'once', ...spec }).expect(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const retries = await Promise.all(
      [1, 2, 3].map(() => ctx.http.post('/api/vms').set(user.auth).set('Idempotency-Key', key).send({ name: 'once', ...spec })),
    );
    for (const r of retries) {
      expect(r.status).toBe(202);
      expect(r.headers['idempotent-replayed']).toBe('true');
      expect(r.body.id).toBe(first.body.id);
    }
    expect(await balance(user.id)).toBe(100 - 34);
    const [{ count }] = await ctx.db.query('SELECT count(*)::int AS count FROM vms WHERE user_id = $1', [user.id]);
    expect(count).toBe(1);
  });

  it('answers 422 for the same key with a different body, and keys are per user', async () => {
    const key = randomUUID();
    await ctx.http.post('/api/vms/quota-check').set(user.auth).set('Idempotency-Key', key).send(spec).expect(200);
    await ctx.http.post('/api/vms').set(user.auth).set('Idempotency-Key', key).send({ name: 'two', ...spec }).expect(202);
    const other = await ctx.http.post('/api/vms').set(user.auth).set('Idempotency-Key', key).send({ name: 'three', ...spec }).expect(422);
    expect(other.body.code).toBe('idempotency.key_reused');
    const someoneElse = await newUser(ctx, { credits: 100 });
    await ctx.http.post('/api/vms').set(someoneElse.auth).set('Idempotency-Key', key).send({ name: 'two', ...spec }).expect(202);
  });

  it('replays an error answer too (402), without judging the retry against the new balance', async () => {
    const poor = await newUser(ctx, { credits: 40 });
    const key = randomUUID();
    await ctx.http.post('/api/vms').set(poor.auth).set('Idempotency-Key', key).send({ name: 'p1', ...spec }).expect(202);
    const replay = await ctx.http.post('/api/vms').set(poor.auth).set('Idempotency-Key', key).send({ name: 'p1', ...spec }).expect(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const key2 = randomUUID();
    const refused = await ctx.http.post('/api/vms').set(poor.auth).set('Idempotency-Key', key2).send({ name: 'p2', ...spec }).expect(402);
    const again = await ctx.http.post('/api/vms').set(poor.auth).set('Idempotency-Key', key2).send({ name: 'p2', ...spec }).expect(402);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(refused.body);
    expect(await balance(poor.id)).toBe(6);
  });

  it('answers 409 while the first request with the key is still in flight', async () => {
    const key = randomUUID();
    const path = `/api/vms/${randomUUID()}/action`;
    // A claimed key without an answer yet is exactly what an in-flight request leaves behind.
    const claim = await ctx.app.get(IdempotencyService).claim(user.id, key, 'POST /api/vms/:id/action', requestFingerprint('POST', path, { action: 'stop' }));
    expect(claim).toEqual({ kind: 'new' });
    const res = await ctx.http.post(path).set(user.auth).set('Idempotency-Key', key).send({ action: 'stop' }).expect(409);
    expect(res.body.code).toBe('idempotency.in_flight');
  });

  it('admin credit adjustments with a key apply once', async () => {
    const target = await newUser(ctx);
    const key = randomUUID();
    const body = { amount: 10, reason: 'retry-safe' };
    const results = await Promise.all([1, 2, 3, 4].map(() => ctx.http.post(`/api/admin/users/${target.id}/credits`).set(admin.auth).set('Idempotency-Key', key).send(body)));
    const statuses = results.map((r) => r.status).sort();
    // One applied; the others either replayed it or met it in flight. Never two adjustments.
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    expect(await balance(target.id)).toBe(110);
    const [{ count }] = await ctx.db.query(`SELECT count(*)::int AS count FROM credit_transactions WHERE user_id = $1 AND kind = 'admin_adjustment'`, [target.id]);
    expect(count).toBe(1);
  });

  it('purges expired keys, after which the key can be used again', async () => {
    const key = randomUUID();
    await ctx.http.post('/api/vms/quota-check').set(user.auth).send(spec).expect(200);
    await ctx.http.post(`/api/admin/users/${user.id}/credits`).set(admin.auth).set('Idempotency-Key', key).send({ amount: 1, reason: 'a' }).expect(201);
    await ctx.db.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
    expect(await ctx.app.get(IdempotencyService).purgeExpired()).toBeGreaterThanOrEqual(1);
    await ctx.http.post(`/api/admin/users/${user.id}/credits`).set(admin.auth).set('Idempotency-Key', key).send({ amount: 2, reason: 'b' }).expect(201);
  });

  it('rejects an over-long key', async () => {
    await ctx.http.post('/api/vms').set(user.auth).set('Idempotency-Key', 'k'.repeat(256)).send({ name: 'long', ...spec }).expect(400);
  });
});
