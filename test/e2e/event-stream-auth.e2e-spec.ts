import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { JwtService } from '@nestjs/jwt';
import { newUser, TestUser } from '../support/factories';
import { listen, openSse, SseClient } from '../support/sse';
import { createTestApp, TestContext } from '../support/test-app';

/** A live stream must end this soon after its authorization goes. */
const REVOCATION_DEADLINE_MS = 5000;

/** Resolves with the time the server ended the stream, or rejects after the deadline. */
function endedWithin(stream: SseClient, ms: number): Promise<number> {
  return Promise.race([
    stream.ended.then(() => Date.now()),
    new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`the stream was still open ${ms} ms later`)), ms + 1000).unref()),
  ]);
}

describe('live event streams stay authorized while open (e2e)', () => {
  let ctx: TestContext;
  let url: string;
  let admin: TestUser;
  const streams: SseClient[] = [];
  const open = async (path: string, auth: Record<string, string>) => {
    const s = await openSse(`${url}${path}`, auth);
    streams.push(s);
    return s;
  };
  const delays: Record<string, number> = {};

  beforeAll(async () => {
    ctx = await createTestApp({ env: { EVENT_STREAMS_PER_USER: 2 } });
    url = await listen(ctx);
    admin = await newUser(ctx, { role: 'admin' });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    console.log(`revocation delays (ms): ${JSON.stringify(delays)}`);
    await ctx.close();
  });

  it('ends a user’s stream when an admin deactivates them', async () => {
    const user = await newUser(ctx);
    const stream = await open('/api/events/stream', user.auth);
    expect(stream.status).toBe(200);
    await ctx.http.patch(`/api/admin/users/${user.id}`).set(admin.auth).send({ is_active: false }).expect(200);
    const revokedAt = Date.now();
    delays.deactivation = (await endedWithin(stream, REVOCATION_DEADLINE_MS)) - revokedAt;
    expect(delays.deactivation).toBeLessThan(REVOCATION_DEADLINE_MS);
  });

  it('ends a demoted admin’s admin stream (changed outside the API, by SQL)', async () => {
    const other = await newUser(ctx, { role: 'admin' });
    const stream = await open('/api/admin/events/stream', other.auth);
    expect(stream.status).toBe(200);
    // It carries everyone's events until then.
    const someone = await newUser(ctx);
    await stream.waitFor(1, (m) => m.data.user_id === someone.id);
    await ctx.db.query(`UPDATE users SET role = 'user' WHERE id = $1`, [other.id]);
    const revokedAt = Date.now();
    delays.demotion = (await endedWithin(stream, REVOCATION_DEADLINE_MS)) - revokedAt;
    expect(delays.demotion).toBeLessThan(REVOCATION_DEADLINE_MS);
    const after = await newUser(ctx);
    expect(stream.messages.some((m) => m.data.user_id === after.id)).toBe(false);
  });

  it('ends a stream when its token expires', async () => {
    const user = await newUser(ctx);
    const token = await ctx.app.get(JwtService).signAsync({ sub: user.id, role: 'user' }, { expiresIn: 2 });
    const { exp } = ctx.app.get(JwtService).decode<{ exp: number }>(token);
    const stream = await open('/api/events/stream', { Authorization: `Bearer ${token}` });
    expect(stream.status).toBe(200);
    const endedAt = await endedWithin(stream, exp * 1000 - Date.now() + REVOCATION_DEADLINE_MS);
    delays.token_expiry = endedAt - exp * 1000;
    expect(delays.token_expiry).toBeGreaterThanOrEqual(-1000); // exp has whole-second precision
    expect(delays.token_expiry).toBeLessThan(REVOCATION_DEADLINE_MS);
  });

  it('caps streams per user: one more answers 429 with Retry-After, and closing one frees a slot', async () => {
    const user = await newUser(ctx);
    const first = await open('/api/events/stream', user.auth);
    const second = await open('/api/events/stream', user.auth);
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await open('/api/events/stream', user.auth);
    expect(third.status).toBe(429);
    expect(third.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    await third.ended;
    expect(JSON.parse(third.raw())).toMatchObject({ status: 429, code: 'events.too_many_streams', limit: 2 });
    // Another user is not affected.
    expect((await open('/api/events/stream', admin.auth)).status).toBe(200);
    first.close();
    let reopened: SseClient | undefined;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      reopened = await open('/api/events/stream', user.auth);
      if (reopened.status === 200) break;
    }
    expect(reopened?.status).toBe(200);
  });
});
