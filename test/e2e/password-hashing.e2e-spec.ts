import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { argon2Parameters } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

/**
 * The one app of the suite with the production password hashing: every other test app lowers it to
 * argon2's cheapest settings (test-app.ts CHEAP_PASSWORD_HASHING, accepted only with NODE_ENV=test).
 * A file of its own: passport's strategies are process-wide, so a second app in one file would take
 * over the first one's logins.
 */
describe('password hashing at production strength (e2e)', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    // Unset (as in production): the defaults of PASSWORD_HASH_MEMORY_KIB / PASSWORD_HASH_TIME_COST.
    ctx = await createTestApp({ env: { PASSWORD_HASH_MEMORY_KIB: '', PASSWORD_HASH_TIME_COST: '' } });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('stores argon2id with 64 MiB, 3 passes and 4 lanes when PASSWORD_HASH_* are not set, and logs in with it', async () => {
    await ctx.http
      .post('/api/auth/register')
      .send({ username: 'strong', email: 'strong@example.com', password: 'long enough' })
      .expect(202);
    const [{ password_hash } = { password_hash: '' }] = await ctx.db.query<{ password_hash: string }[]>(
      `SELECT password_hash FROM users WHERE username = 'strong'`,
    );
    expect(argon2Parameters(password_hash)).toEqual({ type: 'argon2id', m: 65536, t: 3, p: 4 });
    await ctx.http.post('/api/auth/login').send({ email: 'strong@example.com', password: 'long enough' }).expect(200);
    await ctx.http.post('/api/auth/login').send({ email: 'strong@example.com', password: 'wrong password' }).expect(401);
  });
});
