import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestApp, TestContext } from '../support/test-app';

/** Strict-Transport-Security on a health check and on a 404, with these request headers. */
async function hsts(ctx: TestContext, headers: Record<string, string> = {}): Promise<(string | undefined)[]> {
  const answers = await Promise.all([
    ctx.http.get('/api/health').set(headers).expect(200),
    ctx.http.get('/api/nowhere').set(headers).expect(404),
  ]);
  return answers.map((res) => res.headers['strict-transport-security'] as string | undefined);
}

const HEADER = 'max-age=31536000; includeSubDomains';

describe('HSTS only for requests that came over TLS (e2e)', () => {
  describe('HSTS=auto (default), loopback as the trusted TLS-terminating proxy', () => {
    let ctx: TestContext;
    beforeAll(async () => {
      ctx = await createTestApp({ env: { TRUST_PROXY: '127.0.0.1/8, ::1' } });
    });
    afterAll(async () => {
      await ctx.close();
    });

    it('sends none over plain HTTP, and sends it when the trusted proxy says X-Forwarded-Proto: https', async () => {
      expect(await hsts(ctx)).toEqual([undefined, undefined]);
      expect(await hsts(ctx, { 'X-Forwarded-Proto': 'http' })).toEqual([undefined, undefined]);
      expect(await hsts(ctx, { 'X-Forwarded-Proto': 'https' })).toEqual([HEADER, HEADER]);
    });
  });

  describe('HSTS=auto, no trusted proxy', () => {
    let ctx: TestContext;
    beforeAll(async () => {
      ctx = await createTestApp();
    });
    afterAll(async () => {
      await ctx.close();
    });

    it('ignores X-Forwarded-Proto: https from an untrusted peer', async () => {
      expect(await hsts(ctx, { 'X-Forwarded-Proto': 'https' })).toEqual([undefined, undefined]);
    });
  });

  it('HSTS=always sends it on plain HTTP too (a proxy terminates TLS without saying so); HSTS=off never', async () => {
    const always = await createTestApp({ env: { HSTS: 'always' } });
    try {
      expect(await hsts(always)).toEqual([HEADER, HEADER]);
    } finally {
      await always.close();
    }
    const off = await createTestApp({ env: { HSTS: 'off', TRUST_PROXY: 'loopback' } });
    try {
      expect(await hsts(off, { 'X-Forwarded-Proto': 'https' })).toEqual([undefined, undefined]);
    } finally {
      await off.close();
    }
  });
});
