import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestApp, TestContext } from '../support/test-app';

describe('rate limits (e2e)', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { RATE_LIMIT_AUTH_PER_MIN: 3, RATE_LIMIT_PER_MIN: 5 } });
  });
  afterAll(async () => {
    await ctx.close();
  });

  // Login has its own limit on failed attempts (api-tokens.e2e-spec.ts): successes never count.
  it('limits register attempts strictly, answering 429 problem+json with Retry-After and RateLimit headers', async () => {
    let n = 0;
    const attempt = () =>
      ctx.http
        .post('/api/auth/register')
        .send({ username: `rl${++n}x${Date.now() % 1e6}`, email: `rl${n}.${Date.now()}@example.test`, password: 'password1' });
    for (let i = 0; i < 3; i++) {
      const res = await attempt().expect(202);
      expect(res.headers['ratelimit-policy']).toMatch(/^"auth"; q=3; w=60/);
      expect(res.headers['ratelimit']).toMatch(new RegExp(`^"auth"; r=${2 - i}; t=\\d+$`));
    }
    const blocked = await attempt().expect(429);
    expect(blocked.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(blocked.body).toMatchObject({ status: 429, code: 'request.rate_limited' });
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('counts the rest separately and more loosely, bad tokens included', async () => {
    for (let i = 0; i < 5; i++) await ctx.http.get('/api/users/me').set('Authorization', 'Bearer nope').expect(401);
    await ctx.http.get('/api/users/me').set('Authorization', 'Bearer nope').expect(429);
  });
});

describe('register and password change limits per email and per user (e2e)', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    // Each request from its own address (a trusted proxy's X-Forwarded-For): only the per-target limits can stop them.
    ctx = await createTestApp({ env: { RATE_LIMIT_AUTH_PER_MIN: 3, TRUST_PROXY: 'loopback' } });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('limits registrations of one email (any letter case) from many addresses, not other emails', async () => {
    const register = (email: string, i: number) =>
      ctx.http
        .post('/api/auth/register')
        .set('X-Forwarded-For', `203.0.113.${i}`)
        .send({ username: `lim${i}`, email, password: 'password1' });
    for (let i = 1; i <= 3; i++) await register(i === 2 ? 'Target@Example.com' : 'target@example.com', i).expect(202);
    const blocked = await register('TARGET@example.com', 4).expect(429);
    expect(blocked.body).toMatchObject({ status: 429, code: 'request.rate_limited' });
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    await register('someone-else@example.com', 5).expect(202);
  });

  it('limits password change attempts per user from many addresses', async () => {
    await ctx.http
      .post('/api/auth/register')
      .set('X-Forwarded-For', '198.51.100.1')
      .send({ username: 'pwuser', email: 'pw@example.com', password: 'password1' })
      .expect(202);
    const token = (
      await ctx.http
        .post('/api/auth/login')
        .set('X-Forwarded-For', '198.51.100.2')
        .send({ email: 'pw@example.com', password: 'password1' })
        .expect(200)
    ).body.access_token;
    const attempt = (i: number) =>
      ctx.http
        .post('/api/users/me/password')
        .set('X-Forwarded-For', `198.51.100.${10 + i}`)
        .set('Authorization', `Bearer ${token}`)
        .send({ current_password: 'guess-guess', new_password: 'password2' });
    for (let i = 0; i < 3; i++) expect((await attempt(i).expect(403)).body.code).toBe('user.wrong_password');
    expect((await attempt(3).expect(429)).body.code).toBe('request.rate_limited');
  });
});
