import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestApp, TestContext } from '../support/test-app';

/**
 * Five failed logins, each claiming another client IP in X-Forwarded-For and naming another account (so only
 * the per-address limit on failures can answer 429, not the per-account one); the statuses seen.
 */
async function forgedLogins(ctx: TestContext, prefix: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await ctx.http
      .post('/api/auth/login')
      .set('X-Forwarded-For', `203.0.113.${i + 1}`)
      .send({ email: `${prefix}-${i + 1}@example.com`, password: 'guess-guess' });
    statuses.push(res.status);
  }
  return statuses;
}

async function auditedIps(ctx: TestContext, prefix: string): Promise<string[]> {
  const rows: { ip: string }[] = await ctx.db.query(
    `SELECT details->>'ip' AS ip FROM events WHERE action = 'auth.login_failed' AND details->>'email' LIKE $1 ORDER BY created_at`,
    [`${prefix}-%`],
  );
  return rows.map((r) => r.ip);
}

describe('client IP and forwarded headers (e2e)', () => {
  describe('default: no trusted proxy', () => {
    let ctx: TestContext;
    beforeAll(async () => {
      ctx = await createTestApp({ env: { RATE_LIMIT_LOGIN_FAILURES_PER_MIN: 3 } });
    });
    afterAll(async () => {
      await ctx.close();
    });

    it('ignores a forged X-Forwarded-For: one rate-limit key, and the peer address is audited', async () => {
      expect(await forgedLogins(ctx, 'nobody')).toEqual([401, 401, 401, 429, 429]);
      const ips = await auditedIps(ctx, 'nobody');
      expect(ips).toHaveLength(3);
      for (const ip of ips) expect(ip).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
    });
  });

  describe('TRUST_PROXY names the peer (here loopback, standing for the load balancer)', () => {
    let ctx: TestContext;
    beforeAll(async () => {
      ctx = await createTestApp({ env: { RATE_LIMIT_LOGIN_FAILURES_PER_MIN: 3, TRUST_PROXY: '127.0.0.1/8, ::1' } });
    });
    afterAll(async () => {
      await ctx.close();
    });

    it('takes the client IP from X-Forwarded-For: each forwarded client has its own limit and is audited', async () => {
      expect(await forgedLogins(ctx, 'someone')).toEqual([401, 401, 401, 401, 401]);
      expect(await auditedIps(ctx, 'someone')).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4', '203.0.113.5']);
    });
  });
});
