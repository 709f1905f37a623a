import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import argon2 from 'argon2';
import { eventually, newUser, TestUser } from '../support/factories';
import { listen, openSse, SseClient } from '../support/sse';
import { createTestApp, createTestDatabase, TestContext, TestDatabase } from '../support/test-app';

/** A token must stop working, and a stream end, this soon after the change that ends it. */
const DEADLINE_MS = 5000;

function endedWithin(stream: SseClient, ms: number): Promise<number> {
  return Promise.race([
    stream.ended.then(() => Date.now()),
    new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`the stream was still open ${ms} ms later`)), ms).unref()),
  ]);
}

describe('token lifecycle: logout, password change, sign out everywhere (e2e)', () => {
  let database: TestDatabase;
  let ctx: TestContext;
  let other: TestContext;
  let url: string;
  let admin: TestUser;
  const streams: SseClient[] = [];
  const delays: Record<string, number> = {};
  const me = (c: TestContext, token: string) => c.http.get('/api/users/me').set('Authorization', `Bearer ${token}`);
  const stream = async (token: string) => {
    const s = await openSse(`${url}/api/events/stream`, { Authorization: `Bearer ${token}` });
    streams.push(s);
    expect(s.status).toBe(200);
    return s;
  };
  const login = async (u: TestUser) =>
    (await ctx.http.post('/api/auth/login').send({ email: u.email, password: u.password }).expect(200)).body.access_token as string;

  beforeAll(async () => {
    database = await createTestDatabase();
    ctx = await createTestApp({ database });
    // A second API process on the same database.
    other = await createTestApp({ database });
    url = await listen(ctx);
    admin = await newUser(ctx, { role: 'admin' });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    console.log(`token lifecycle delays (ms): ${JSON.stringify(delays)}`);
    await other.close();
    await ctx.close();
    await database.drop();
  });

  it('logout ends the token used (204, then 401) and its open stream, and only that token', async () => {
    const user = await newUser(ctx);
    const second = await login(user);
    const open = await stream(user.token);
    await me(ctx, user.token).expect(200);
    await ctx.http.post('/api/auth/logout').set(user.auth).expect(204);
    const at = Date.now();
    const res = await me(ctx, user.token).expect(401);
    expect(res.body.code).toBe('auth.token_invalid');
    delays.logout_stream = (await endedWithin(open, DEADLINE_MS)) - at;
    await me(ctx, second).expect(200);
    await ctx.http.post('/api/auth/logout').set(user.auth).expect(401);
    const events = await ctx.db.query(`SELECT details FROM events WHERE action = 'auth.logout' AND user_id = $1`, [user.id]);
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events)).not.toContain(user.token.split('.')[2]);
  });

  it('another API process on the same database refuses a logged-out token within a bounded time', async () => {
    const user = await newUser(ctx);
    await me(other, user.token).expect(200); // cached there now
    await ctx.http.post('/api/auth/logout').set(user.auth).expect(204);
    const at = Date.now();
    await eventually(async () => (await me(other, user.token)).status === 401, DEADLINE_MS, 'the other process to refuse the token');
    delays.logout_other_process = Date.now() - at;
  });

  it('a password change ends every other token and stream; the fresh token works, on both processes', async () => {
    const user = await newUser(ctx);
    const second = await login(user);
    await me(other, second).expect(200);
    const open = await stream(second);
    const wrong = await ctx.http
      .post('/api/users/me/password')
      .set(user.auth)
      .send({ current_password: 'not-it-at-all', new_password: 'a-new-password' })
      .expect(403);
    expect(wrong.body.code).toBe('user.wrong_password');
    await ctx.http
      .post('/api/users/me/password')
      .set(user.auth)
      .send({ current_password: user.password, new_password: 'short' })
      .expect(400);
    await me(ctx, second).expect(200);
    const changed = await ctx.http
      .post('/api/users/me/password')
      .set(user.auth)
      .send({ current_password: user.password, new_password: 'a-new-password' })
      .expect(200);
    const at = Date.now();
    expect(changed.body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 3600 });
    await me(ctx, user.token).expect(401);
    await me(ctx, second).expect(401);
    await me(ctx, changed.body.access_token).expect(200);
    // The other process: the fresh token at once (it re-reads a user whose token is newer than it knew), the old ones soon.
    await me(other, changed.body.access_token).expect(200);
    await eventually(async () => (await me(other, second)).status === 401, DEADLINE_MS, 'the other process to refuse the old token');
    delays.password_change_stream = (await endedWithin(open, DEADLINE_MS)) - at;
    await ctx.http.post('/api/auth/login').send({ email: user.email, password: user.password }).expect(401);
    await ctx.http.post('/api/auth/login').send({ email: user.email, password: 'a-new-password' }).expect(200);
    const events = await ctx.db.query(
      `SELECT action, details FROM events WHERE user_id = $1 AND action LIKE 'auth.password%' ORDER BY created_at`,
      [user.id],
    );
    expect(events.map((e: { action: string }) => e.action)).toEqual(['auth.password_change_failed', 'auth.password_changed']);
    expect(JSON.stringify(events)).not.toMatch(/a-new-password|argon2|not-it-at-all/);
  });

  it('a password reset done directly in the database ends the user’s tokens and streams', async () => {
    const user = await newUser(ctx);
    await me(other, user.token).expect(200);
    const open = await stream(user.token);
    await ctx.db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [user.id, await argon2.hash('reset-by-operator')]);
    const at = Date.now();
    await eventually(async () => (await me(ctx, user.token)).status === 401, DEADLINE_MS, 'the token to stop working');
    await eventually(async () => (await me(other, user.token)).status === 401, DEADLINE_MS, 'the other process to refuse it');
    delays.db_reset_stream = (await endedWithin(open, DEADLINE_MS)) - at;
    await ctx.http.post('/api/auth/login').send({ email: user.email, password: 'reset-by-operator' }).expect(200);
  });

  it('an admin signs a user out everywhere (audited); users may not, and an unknown id is 404', async () => {
    const user = await newUser(ctx);
    const second = await login(user);
    const open = await stream(second);
    await ctx.http.post(`/api/admin/users/${user.id}/sign-out`).set(user.auth).expect(403);
    await ctx.http.post('/api/admin/users/00000000-0000-4000-8000-000000000000/sign-out').set(admin.auth).expect(404);
    await ctx.http.post(`/api/admin/users/${user.id}/sign-out`).set(admin.auth).expect(204);
    const at = Date.now();
    await me(ctx, user.token).expect(401);
    await me(ctx, second).expect(401);
    delays.sign_out_stream = (await endedWithin(open, DEADLINE_MS)) - at;
    await me(ctx, admin.token).expect(200);
    await ctx.http.post('/api/auth/login').send({ email: user.email, password: user.password }).expect(200);
    const [event] = await ctx.db.query(`SELECT user_id, actor_id, details FROM events WHERE action = 'admin.user_signed_out'`);
    expect(event).toMatchObject({ user_id: user.id, actor_id: admin.id, details: { target_user_id: user.id } });
  });

  it('register answers a new email, an existing one and its case and space variants identically', async () => {
    const existing = await newUser(ctx);
    const send = (email: string, n: number) =>
      ctx.http.post('/api/auth/register').send({ username: `probe${n}${Date.now() % 100000}`, email, password: 'probe-password' });
    const answers = [
      await send('brand-new@example.test', 1),
      await send(existing.email, 2),
      await send(existing.email.toUpperCase(), 3),
      await send(`  ${existing.email.replace(/^u/, 'U')} `, 4),
    ];
    const shape = (r: { status: number; body: unknown; headers: Record<string, string> }) => ({
      status: r.status,
      body: r.body,
      type: r.headers['content-type'],
    });
    for (const r of answers) expect(shape(r)).toEqual(shape(answers[0]!));
    expect(answers[0]!.status).toBe(202);
    await ctx.http.post('/api/auth/login').send({ email: existing.email, password: existing.password }).expect(200);
    // The same timing class: both branches hash the password (argon2id dominates).
    const time = async (email: string, n: number) => {
      const t = process.hrtime.bigint();
      await send(email, n);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    const fresh: number[] = [];
    const taken: number[] = [];
    for (let i = 0; i < 6; i++) {
      fresh.push(await time(`timing${i}-${Date.now()}@example.test`, 100 + i));
      taken.push(await time(existing.email.toUpperCase(), 200 + i));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    delays.register_new_median = Math.round(median(fresh)!);
    delays.register_existing_median = Math.round(median(taken)!);
    expect(median(taken)! / median(fresh)!).toBeGreaterThan(0.5);
    expect(median(taken)! / median(fresh)!).toBeLessThan(2);
  });
});
