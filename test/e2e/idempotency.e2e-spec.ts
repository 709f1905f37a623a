import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { requestFingerprint } from '../../src/modules/idempotency/idempotency.interceptor';
import { Client } from 'pg';
import { IdempotencyService, IdempotentRequest } from '../../src/modules/idempotency/idempotency.service';
import { VmsService } from '../../src/modules/vms/vms.service';
import { eventually, newUser, TestUser } from '../support/factories';
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
    const first = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .set('Idempotency-Key', key)
      .send({ name: 'once', ...spec })
      .expect(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const retries = await Promise.all(
      [1, 2, 3].map(() =>
        ctx.http
          .post('/api/vms')
          .set(user.auth)
          .set('Idempotency-Key', key)
          .send({ name: 'once', ...spec }),
      ),
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
    await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .set('Idempotency-Key', key)
      .send({ name: 'two', ...spec })
      .expect(202);
    const other = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .set('Idempotency-Key', key)
      .send({ name: 'three', ...spec })
      .expect(422);
    expect(other.body.code).toBe('idempotency.key_reused');
    const someoneElse = await newUser(ctx, { credits: 100 });
    await ctx.http
      .post('/api/vms')
      .set(someoneElse.auth)
      .set('Idempotency-Key', key)
      .send({ name: 'two', ...spec })
      .expect(202);
  });

  it('replays an error answer too (402), without judging the retry against the new balance', async () => {
    const poor = await newUser(ctx, { credits: 40 });
    const key = randomUUID();
    await ctx.http
      .post('/api/vms')
      .set(poor.auth)
      .set('Idempotency-Key', key)
      .send({ name: 'p1', ...spec })
      .expect(202);
    const replay = await ctx.http
      .post('/api/vms')
      .set(poor.auth)
      .set('Idempotency-Key', key)
      .send({ name: 'p1', ...spec })
      .expect(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const key2 = randomUUID();
    const refused = await ctx.http
      .post('/api/vms')
      .set(poor.auth)
      .set('Idempotency-Key', key2)
      .send({ name: 'p2', ...spec })
      .expect(402);
    const again = await ctx.http
      .post('/api/vms')
      .set(poor.auth)
      .set('Idempotency-Key', key2)
      .send({ name: 'p2', ...spec })
      .expect(402);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(refused.body);
    expect(await balance(poor.id)).toBe(6);
  });

  it('frees the key of a request whose transaction died (its connection cut): the waiting retry does the work', async () => {
    const user = await newUser(ctx, { credits: 100 });
    const key = randomUUID();
    const body = { name: 'survivor', ...spec };
    // What a request that dies mid-transaction leaves: the key claimed by a transaction that never commits.
    const dying = new Client({ connectionString: ctx.databaseUrl });
    await dying.connect();
    dying.on('error', () => undefined);
    await dying.query('BEGIN');
    await dying.query(
      `INSERT INTO idempotency_keys (user_id, key, endpoint, request_hash, expires_at) VALUES ($1, $2, 'POST /api/vms', $3, now() + interval '1 day')`,
      [user.id, key, requestFingerprint('POST', '/api/vms', body)],
    );
    const retry = ctx.http.post('/api/vms').set(user.auth).set('Idempotency-Key', key).send(body);
    const answered = retry.then((r) => r);
    // The retry waits on the claim; then the first request's process "dies" (kill -9 closes its connections).
    await eventually(
      async () =>
        (
          await ctx.db.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        )[0].n > 0,
    );
    const [{ pid }] = (await dying.query('SELECT pg_backend_pid() AS pid')).rows;
    await ctx.db.query('SELECT pg_terminate_backend($1)', [pid]);
    const res = await answered;
    expect(res.status).toBe(202);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    const again = await ctx.http.post('/api/vms').set(user.auth).set('Idempotency-Key', key).send(body).expect(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(res.body.id);
    await dying.end().catch(() => undefined);
  });

  it('stores the answer in the transaction of the work: a failed commit leaves no key behind', async () => {
    const user = await newUser(ctx, { credits: 100 });
    const key = randomUUID();
    // A failure inside the work (here: the queue insert refused) rolls back the claim with it.
    await ctx.db.query(
      `CREATE OR REPLACE FUNCTION refuse_job() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no jobs now'; END $$`,
    );
    await ctx.db.query(`CREATE TRIGGER refuse_job BEFORE INSERT ON pgboss.job FOR EACH ROW EXECUTE FUNCTION refuse_job()`);
    const store = ctx.app.get(IdempotencyService);
    const body = { name: 'later', ...spec };
    const keyed = new IdempotentRequest(store, user.id, key, 'POST /api/vms', requestFingerprint('POST', '/api/vms', body), 202);
    try {
      const identity = { id: user.id, role: 'user' as const, username: user.username, email: user.email };
      await expect(ctx.app.get(VmsService).create(identity, body, keyed)).rejects.toThrow(/no jobs now/);
    } finally {
      await ctx.db.query(`DROP TRIGGER refuse_job ON pgboss.job`);
    }
    expect(await ctx.db.query('SELECT key FROM idempotency_keys WHERE key = $1', [key])).toEqual([]);
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .set('Idempotency-Key', key)
      .send({ name: 'later', ...spec })
      .expect(202);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
  });

  it('admin credit adjustments with a key apply once', async () => {
    const target = await newUser(ctx);
    const key = randomUUID();
    const body = { amount: 10, reason: 'retry-safe' };
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => ctx.http.post(`/api/admin/users/${target.id}/credits`).set(admin.auth).set('Idempotency-Key', key).send(body)),
    );
    // One applied; the others waited for it and replayed its answer. Never two adjustments, never "in flight".
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(results.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(3);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await balance(target.id)).toBe(110);
    const [{ count }] = await ctx.db.query(
      `SELECT count(*)::int AS count FROM credit_transactions WHERE user_id = $1 AND kind = 'admin_adjustment'`,
      [target.id],
    );
    expect(count).toBe(1);
  });

  it('purges expired keys, after which the key can be used again', async () => {
    const key = randomUUID();
    await ctx.http.post('/api/vms/quota-check').set(user.auth).send(spec).expect(200);
    await ctx.http
      .post(`/api/admin/users/${user.id}/credits`)
      .set(admin.auth)
      .set('Idempotency-Key', key)
      .send({ amount: 1, reason: 'a' })
      .expect(201);
    await ctx.db.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
    expect(await ctx.app.get(IdempotencyService).purgeExpired()).toBeGreaterThanOrEqual(1);
    await ctx.http
      .post(`/api/admin/users/${user.id}/credits`)
      .set(admin.auth)
      .set('Idempotency-Key', key)
      .send({ amount: 2, reason: 'b' })
      .expect(201);
  });

  it('rejects an over-long key', async () => {
    await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .set('Idempotency-Key', 'k'.repeat(256))
      .send({ name: 'long', ...spec })
      .expect(400);
  });
});
