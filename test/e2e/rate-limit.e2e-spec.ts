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

  it('limits login attempts strictly, answering 429 problem+json with Retry-After and RateLimit headers', async () => {
    const attempt = () => ctx.http.post('/api/auth/login').send({ email: 'victim@example.com', password: 'guess-guess' });
    for (let i = 0; i < 3; i++) {
      const res = await attempt().expect(401);
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
