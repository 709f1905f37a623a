import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { User } from '../../src/modules/users/entities/user.entity';
import { IdentityCache } from '../../src/modules/users/identity-cache';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

/**
 * The per-process cache of token identities (AUTH_CACHE_SECONDS): what it may never do is let a
 * token outlive a change to its user. The TTL here is an hour, so whatever takes effect comes from
 * the users trigger's NOTIFY (or the process's own invalidation), not from expiry. Changes made
 * with SQL stand for every other process: they get no local invalidation, only the NOTIFY.
 */
describe('identity cache: user changes reach the API at once (e2e)', () => {
  let ctx: TestContext;
  const me = (user: TestUser) => ctx.http.get('/api/users/me').set(user.auth);
  const listeners = async () =>
    (
      (await ctx.db.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'vmapi-users'`)) as {
        pid: number;
      }[]
    ).map((r) => r.pid);
  // The process's own view: its connection shows in pg_stat_activity a moment before LISTEN has run.
  const listening = () =>
    eventually(
      async () => (await listeners()).length === 1 && ctx.app.get(IdentityCache).listening,
      5000,
      'the vmapi-users LISTEN connection',
    );
  /** The SQL text of a Repository.query call (prepared statements pass `{name, text}`). */
  const sqlOf = (sql: unknown) => (typeof sql === 'string' ? sql : (sql as { text: string }).text);

  beforeAll(async () => {
    ctx = await createTestApp({ env: { WORKER: false, AUTH_CACHE_SECONDS: 3600 } });
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('answers repeated requests without reading the user again once it LISTENs for changes', async () => {
    const user = await newUser(ctx);
    await me(user).expect(200);
    await listening();
    await me(user).expect(200);
    const reads = jest.spyOn(ctx.app.get<Repository<User>>(getRepositoryToken(User)), 'query');
    try {
      await me(user).expect(200);
      await me(user).expect(200);
      expect(reads.mock.calls.filter(([sql]) => sqlOf(sql).includes('AND is_active'))).toHaveLength(0);
    } finally {
      reads.mockRestore();
    }
  });

  it('a deactivation through the admin API stops the token on the very next request', async () => {
    const user = await newUser(ctx);
    const admin = await newUser(ctx, { role: 'admin' });
    await me(user).expect(200);
    await me(user).expect(200);
    await ctx.http.patch(`/api/admin/users/${user.id}`).set(admin.auth).send({ is_active: false }).expect(200);
    await me(user).expect(401);
  });

  it('a deactivation or a role change made elsewhere (here: SQL) arrives by NOTIFY within moments', async () => {
    const user = await newUser(ctx);
    await me(user).expect(200);
    await ctx.http.get('/api/admin/users').set(user.auth).expect(403);
    await ctx.db.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [user.id]);
    await eventually(async () => (await ctx.http.get('/api/admin/users').set(user.auth)).status === 200, 2000, 'the new role');
    await ctx.db.query('UPDATE users SET is_active = false WHERE id = $1', [user.id]);
    await eventually(async () => (await me(user)).status === 401, 2000, 'the token to stop working');
  });

  it('is not invalidated by balance changes (the trigger names the identity columns only)', async () => {
    const user = await newUser(ctx);
    await me(user).expect(200);
    const invalidate = jest.spyOn(ctx.app.get(IdentityCache), 'invalidate');
    try {
      await ctx.db.query('UPDATE users SET credits = credits + 0, updated_at = now() WHERE id = $1', [user.id]);
      await ctx.db.query('UPDATE users SET email = email WHERE id = $1', [user.id]);
      await eventually(async () => invalidate.mock.calls.length > 0, 2000, 'the NOTIFY of the email update');
      expect(invalidate.mock.calls).toEqual([[user.id]]);
    } finally {
      invalidate.mockRestore();
    }
  });

  it('does not keep a read that overlapped a change to the same user', async () => {
    const user = await newUser(ctx);
    const cache = ctx.app.get(IdentityCache);
    await me(user).expect(200);
    await listening();
    cache.invalidate(user.id);
    const heard = new Promise<void>((resolve) => {
      const original = cache.invalidate.bind(cache);
      jest.spyOn(cache, 'invalidate').mockImplementationOnce((id) => {
        original(id);
        resolve();
      });
    });
    // The read sees the user active; the deactivation commits (and is heard) before the read returns.
    const read = await cache.get(user.id, async (id) => {
      const [row] = (await ctx.db.query('SELECT id, role, username, email FROM users WHERE id = $1', [id])) as never[];
      await ctx.db.query('UPDATE users SET is_active = false WHERE id = $1', [id]);
      await heard;
      return row!;
    });
    expect(read).toMatchObject({ id: user.id });
    await me(user).expect(401);
  });

  it('misses nothing while its LISTEN connection is down, and caches again once it is back', async () => {
    const user = await newUser(ctx);
    await me(user).expect(200);
    await me(user).expect(200);
    const [before] = await listeners();
    // Kill the listener, then deactivate the user: that NOTIFY reaches nobody.
    await ctx.db.query('SELECT pg_terminate_backend($1)', [before]);
    await ctx.db.query('UPDATE users SET is_active = false WHERE id = $1', [user.id]);
    await eventually(async () => (await me(user)).status === 401, 5000, 'the token to stop working');
    // Reconnects (backoff from 0.5 s) and hears changes again.
    await eventually(async () => (await listeners()).some((pid) => pid !== before), 10_000, 'a new LISTEN connection');
    // Nothing cached before the loss survives it.
    await me(user).expect(401);
    await ctx.db.query('UPDATE users SET is_active = true WHERE id = $1', [user.id]);
    await me(user).expect(200);
    await me(user).expect(200);
    await ctx.db.query('UPDATE users SET is_active = false WHERE id = $1', [user.id]);
    await eventually(async () => (await me(user)).status === 401, 2000, 'the token to stop working again');
  });

  it('with AUTH_CACHE_SECONDS=0 reads the user on every request and opens no LISTEN connection', async () => {
    await ctx.close();
    ctx = await createTestApp({ env: { WORKER: false, AUTH_CACHE_SECONDS: 0 } });
    const user = await newUser(ctx);
    await me(user).expect(200);
    await ctx.db.query('UPDATE users SET is_active = false WHERE id = $1', [user.id]);
    await me(user).expect(401);
    expect(await listeners()).toEqual([]);
  });
});
