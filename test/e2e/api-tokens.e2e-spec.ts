import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Test } from 'supertest';
import { API_SCOPES } from '../../src/common/auth';
import { generateToken, isWellFormedToken } from '../../src/modules/tokens/token-format';
import { eventually, newUser, TestUser } from '../support/factories';
import { listen, openSse, SseClient } from '../support/sse';
import { createTestApp, createTestDatabase, TEST_HOST, TestContext, TestDatabase } from '../support/test-app';

/** A token must stop working, and a stream end, this soon after the change that ends it. */
const DEADLINE_MS = 5000;

interface Minted {
  id: string;
  token: string;
  scopes: string[];
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

function endedWithin(stream: SseClient, ms: number): Promise<number> {
  return Promise.race([
    stream.ended.then(() => Date.now()),
    new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`the stream was still open ${ms} ms later`)), ms).unref()),
  ]);
}

describe('API tokens (e2e)', () => {
  let database: TestDatabase;
  let ctx: TestContext;
  /** A second API process on the same database: revocations reach it too. */
  let other: TestContext;
  let url: string;
  let admin: TestUser;
  let user: TestUser;
  const logs: string[] = [];
  /** Every secret handed out: none may be stored or logged. */
  const secrets: string[] = [];
  const streams: SseClient[] = [];
  const delays: Record<string, number> = {};

  const mint = async (who: TestUser, scopes: string[], extra: object = {}): Promise<Minted> => {
    const res = await ctx.http
      .post('/api/tokens')
      .set(who.auth)
      .send({ name: `t-${scopes.join('+')}`.slice(0, 64), scopes, ...extra })
      .expect(201);
    secrets.push(res.body.token);
    return { id: res.body.id, token: res.body.token, scopes: res.body.scopes };
  };
  const stream = async (path: string, token: string) => {
    const s = await openSse(`${url}${path}`, bearer(token));
    streams.push(s);
    expect(s.status).toBe(200);
    return s;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    ctx = await createTestApp({ database, captureLogs: logs });
    other = await createTestApp({ database });
    url = await listen(ctx);
    admin = await newUser(ctx, { role: 'admin', credits: 1000 });
    user = await newUser(ctx, { credits: 1000 });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    console.log(`API token revocation delays (ms): ${JSON.stringify(delays)}`);
    await other.close();
    await ctx.close();
    await database.drop();
  });

  it('creates a token (201, secret shown once, vmp_ with a valid checksum) that works as a bearer token', async () => {
    const res = await ctx.http
      .post('/api/tokens')
      .set(user.auth)
      .send({ name: ' ci ', scopes: ['vms:read', 'events:read'], expires_in_days: 30 })
      .expect(201);
    secrets.push(res.body.token);
    expect(Object.keys(res.body).sort()).toEqual(['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'scopes', 'token']);
    expect(res.body).toMatchObject({ name: 'ci', scopes: ['vms:read', 'events:read'], last_used_at: null });
    expect(res.body.token).toMatch(/^vmp_[0-9A-Za-z]{36}$/);
    expect(isWellFormedToken(res.body.token)).toBe(true);
    expect(res.headers.location).toBe(`/api/tokens/${res.body.id}`);
    const days = (Date.parse(res.body.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);

    const me = await ctx.http.get('/api/users/me').set(bearer(res.body.token)).expect(200);
    expect(me.body.id).toBe(user.id);
    await other.http.get('/api/vms').set(bearer(res.body.token)).expect(200);

    // The list never carries the secret.
    const list = await ctx.http.get('/api/tokens').set(user.auth).expect(200);
    expect(list.body.items).toHaveLength(1);
    expect(Object.keys(list.body.items[0]).sort()).toEqual(['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'scopes']);
    expect(JSON.stringify(list.body)).not.toContain(res.body.token.slice(4, 34));
  });

  it('refuses malformed, forged and unknown tokens with 401 auth.token_invalid and an RFC 6750 challenge', async () => {
    const real = (await mint(user, ['vms:read'])).token;
    const flipped = real.slice(0, 10) + (real[10] === 'a' ? 'b' : 'a') + real.slice(11);
    // Well-formed (valid checksum) but never issued.
    for (const bad of ['vmp_', 'vmp_short', flipped, generateToken(), `${real}x`]) {
      const res = await ctx.http.get('/api/users/me').set(bearer(bad)).expect(401);
      expect(res.body.code).toBe('auth.token_invalid');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="vm-platform", error="invalid_token", error_description="[^"]+"$/);
    }
  });

  it('validates the body: unknown scopes, empty, duplicates, bad expiry and unknown fields are 400', async () => {
    const bodies = [
      { name: 'x', scopes: ['vms:delete'] },
      { name: 'x', scopes: [] },
      { name: 'x', scopes: ['vms:read', 'vms:read'] },
      { name: 'x', scopes: ['vms:read'], expires_in_days: 0 },
      { name: 'x', scopes: ['vms:read'], expires_in_days: 1.5 },
      { name: '', scopes: ['vms:read'] },
      { name: 'x', scopes: ['vms:read'], secret: 'mine' },
    ];
    for (const body of bodies) {
      const res = await ctx.http.post('/api/tokens').set(user.auth).send(body);
      expect([res.status, res.body.code]).toEqual([400, 'request.validation']);
    }
  });

  it('a token never holds more than its user: admin scopes for a non-admin are refused (403 token.scope_not_held), nothing written', async () => {
    const before = Number((await ctx.db.query('SELECT count(*) FROM api_tokens'))[0].count);
    const res = await ctx.http
      .post('/api/tokens')
      .set(user.auth)
      .send({ name: 'escalate', scopes: ['vms:read', 'admin:write'] })
      .expect(403);
    expect(res.body).toMatchObject({ code: 'token.scope_not_held', scopes: ['admin:write'] });
    expect(Number((await ctx.db.query('SELECT count(*) FROM api_tokens'))[0].count)).toBe(before);
  });

  it('a token with tokens:write creates tokens with a subset of its own scopes, expiring no later than it', async () => {
    const parent = await mint(user, ['tokens:write', 'tokens:read', 'vms:read'], { expires_in_days: 2 });
    const child = await ctx.http
      .post('/api/tokens')
      .set(bearer(parent.token))
      .send({ name: 'child', scopes: ['vms:read'], expires_in_days: 90 })
      .expect(201);
    secrets.push(child.body.token);
    const parentRow = (await ctx.http.get('/api/tokens').set(user.auth)).body.items.find((t: { id: string }) => t.id === parent.id);
    expect(child.body.expires_at).toBe(parentRow.expires_at);
    const wider = await ctx.http
      .post('/api/tokens')
      .set(bearer(parent.token))
      .send({ name: 'wider', scopes: ['vms:write'] })
      .expect(403);
    expect(wider.body).toMatchObject({ code: 'token.scope_not_held', scopes: ['vms:write'] });
    // Creation and revocation are events, naming the token used, never its secret.
    await ctx.http.delete(`/api/tokens/${child.body.id}`).set(bearer(parent.token)).expect(204);
    const events = (await ctx.http.get('/api/events?type=auth&limit=100').set(user.auth).expect(200)).body.items as {
      action: string;
      details: Record<string, unknown>;
    }[];
    expect(events.find((e) => e.action === 'auth.token_created' && e.details.token_id === child.body.id)?.details).toMatchObject({
      name: 'child',
      scopes: ['vms:read'],
      created_with_token_id: parent.id,
    });
    expect(events.find((e) => e.action === 'auth.token_revoked' && e.details.token_id === child.body.id)?.details).toMatchObject({
      revoked_with_token_id: parent.id,
    });
  });

  it('each scope allows exactly its routes: every documented operation refused without its scope (403 auth.insufficient_scope naming it) and allowed with only it', async () => {
    const doc = JSON.parse(await readFile('openapi.json', 'utf8')) as { paths: Record<string, Record<string, Record<string, unknown>>> };
    const only = new Map<string, string>();
    const allBut = new Map<string, string>();
    for (const scope of API_SCOPES) {
      only.set(scope, (await mint(admin, [scope])).token);
      allBut.set(
        scope,
        (
          await mint(
            admin,
            API_SCOPES.filter((s) => s !== scope),
          )
        ).token,
      );
    }
    const every = (await mint(admin, [...API_SCOPES])).token;
    const call = async (
      method: string,
      path: string,
      token: string,
    ): Promise<{ status: number; body: { code?: string; required_scope?: string } }> => {
      if (path.endsWith('/stream')) {
        const s = await openSse(`${url}${path}`, bearer(token));
        if (s.status === 200) {
          s.close();
          return { status: 200, body: {} };
        }
        await s.ended;
        return { status: s.status, body: JSON.parse(s.raw()) };
      }
      let req: Test = (ctx.http as unknown as Record<string, (p: string) => Test>)[method]!(path).set(bearer(token));
      if (method === 'post' || method === 'patch') req = req.send({});
      const res = await req;
      return { status: res.status, body: res.body };
    };
    const failures: string[] = [];
    const seen = new Set<string>();
    let checks = 0;
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const scope = op['x-required-scope'] as string | undefined;
        if (scope === undefined) continue;
        const path = template.replace('{id}', randomUUID()).replace('{name}', TEST_HOST);
        const key = `${method.toUpperCase()} ${template}`;
        if (scope === 'login' || scope === 'none') {
          // Logout and password change would end login tokens, never API tokens: only the refusal is checked for them.
          const res = await call(method, path, every);
          checks++;
          const expected = scope === 'login' ? [403, 'auth.login_required'] : [200, undefined];
          if (res.status !== expected[0] || res.body.code !== expected[1])
            failures.push(`${key} (${scope}) with every scope: ${res.status} ${res.body.code}`);
          continue;
        }
        seen.add(scope);
        const refused = await call(method, path, allBut.get(scope)!);
        const allowed = await call(method, path, only.get(scope)!);
        checks += 2;
        if (refused.status !== 403 || refused.body.code !== 'auth.insufficient_scope' || refused.body.required_scope !== scope) {
          failures.push(`${key} without ${scope}: ${refused.status} ${JSON.stringify(refused.body).slice(0, 120)}`);
        }
        if (allowed.status === 401 || allowed.status === 403)
          failures.push(`${key} with only ${scope}: ${allowed.status} ${allowed.body.code}`);
      }
    }
    process.stdout.write(`API token scope table: ${checks} checks over ${seen.size} scopes\n`);
    expect(failures).toEqual([]);
    // Every scope guards some route (webhooks:* once the webhook routes exist).
    expect([...seen]).toEqual(expect.arrayContaining(API_SCOPES.filter((s) => !s.startsWith('webhooks:'))));
  });

  it('revocation takes effect on the next request in every process and ends open streams', async () => {
    const t = await mint(user, ['events:read', 'vms:read']);
    const open = await stream('/api/events/stream', t.token);
    await other.http.get('/api/vms').set(bearer(t.token)).expect(200);
    await ctx.http.delete(`/api/tokens/${t.id}`).set(user.auth).expect(204);
    const at = Date.now();
    expect((await ctx.http.get('/api/vms').set(bearer(t.token)).expect(401)).body.code).toBe('auth.token_invalid');
    await eventually(
      async () => (await other.http.get('/api/vms').set(bearer(t.token))).status === 401,
      DEADLINE_MS,
      'the other process to refuse the token',
    );
    delays.revoke_stream = (await endedWithin(open, DEADLINE_MS)) - at;
    await ctx.http.delete(`/api/tokens/${t.id}`).set(user.auth).expect(404);
    // Someone else's token is not found either.
    const mine = await mint(user, ['vms:read']);
    expect((await ctx.http.delete(`/api/tokens/${mine.id}`).set(admin.auth).expect(404)).body.code).toBe('token.not_found');
  });

  it('demotion: an admin token loses admin:* at once (its admin stream ends, admin routes 403), keeping its other scopes', async () => {
    const boss = await newUser(ctx, { role: 'admin' });
    const t = await mint(boss, ['admin:read', 'events:read']);
    await ctx.http.get('/api/admin/vms').set(bearer(t.token)).expect(200);
    const adminStream = await stream('/api/admin/events/stream', t.token);
    await ctx.db.query(`UPDATE users SET role = 'user' WHERE id = $1`, [boss.id]);
    const at = Date.now();
    delays.demotion_stream = (await endedWithin(adminStream, DEADLINE_MS)) - at;
    await eventually(
      async () => (await ctx.http.get('/api/admin/vms').set(bearer(t.token))).status === 403,
      DEADLINE_MS,
      'admin route refused',
    );
    await ctx.http.get('/api/events').set(bearer(t.token)).expect(200);
    // And a token for admin scopes can no longer be made.
    await ctx.http
      .post('/api/tokens')
      .set(boss.auth)
      .send({ name: 'x', scopes: ['admin:read'] })
      .expect(403);
  });

  it('expiry: a token whose expires_at passed is refused and its stream ends', async () => {
    const t = await mint(user, ['events:read'], { expires_in_days: 1 });
    const open = await stream('/api/events/stream', t.token);
    await ctx.http.get('/api/events').set(bearer(t.token)).expect(200);
    await ctx.db.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [t.id]);
    const at = Date.now();
    await eventually(
      async () => (await ctx.http.get('/api/events').set(bearer(t.token))).status === 401,
      DEADLINE_MS,
      'expired token refused',
    );
    const refused = await ctx.http.get('/api/events').set(bearer(t.token)).expect(401);
    expect(refused.body.code).toBe('auth.token_expired');
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer realm="vm-platform", error="invalid_token", error_description=".*expired/);
    delays.expiry_stream = (await endedWithin(open, DEADLINE_MS)) - at;
    // It is still listed, with its expiry, until revoked.
    const row = (await ctx.http.get('/api/tokens').set(user.auth)).body.items.find((x: { id: string }) => x.id === t.id);
    expect(Date.parse(row.expires_at)).toBeLessThan(Date.now());
  });

  it('user deactivation and deletion end their API tokens and streams', async () => {
    const gone = await newUser(ctx);
    const t = await mint(gone, ['events:read', 'vms:read']);
    const open = await stream('/api/events/stream', t.token);
    await ctx.http.patch(`/api/admin/users/${gone.id}`).set(admin.auth).send({ is_active: false }).expect(200);
    const at = Date.now();
    await ctx.http.get('/api/vms').set(bearer(t.token)).expect(401);
    delays.deactivation_stream = (await endedWithin(open, DEADLINE_MS)) - at;
    await ctx.http.patch(`/api/admin/users/${gone.id}`).set(admin.auth).send({ is_active: true }).expect(200);
    await eventually(async () => (await ctx.http.get('/api/vms').set(bearer(t.token))).status === 200, DEADLINE_MS, 'reactivated');

    const deleted = await newUser(ctx, { credits: 0 });
    const d = await mint(deleted, ['vms:read']);
    await ctx.http.get('/api/vms').set(bearer(d.token)).expect(200);
    await ctx.db.transaction(async (m) => {
      await m.query('DELETE FROM events WHERE user_id = $1', [deleted.id]);
      await m.query('DELETE FROM credit_transactions WHERE user_id = $1', [deleted.id]);
      await m.query('DELETE FROM users WHERE id = $1', [deleted.id]);
    });
    await ctx.http.get('/api/vms').set(bearer(d.token)).expect(401);
    expect(Number((await ctx.db.query('SELECT count(*) FROM api_tokens WHERE id = $1', [d.id]))[0].count)).toBe(0);
  });

  it('records last_used_at at most once a minute per token', async () => {
    const t = await mint(user, ['vms:read']);
    const read = async () =>
      (await ctx.db.query('SELECT last_used_at FROM api_tokens WHERE id = $1', [t.id]))[0].last_used_at as Date | null;
    expect(await read()).toBeNull();
    await ctx.http.get('/api/vms').set(bearer(t.token)).expect(200);
    const first = await eventually(read, DEADLINE_MS, 'last_used_at written');
    for (let i = 0; i < 5; i++) await ctx.http.get('/api/vms').set(bearer(t.token)).expect(200);
    // Another process's first use inside the minute does not write either.
    await other.http.get('/api/vms').set(bearer(t.token)).expect(200);
    await ctx.http.get('/api/users/me').set(user.auth).expect(200);
    expect((await read())!.getTime()).toBe(first.getTime());
    const listed = (await ctx.http.get('/api/tokens').set(user.auth)).body.items.find((x: { id: string }) => x.id === t.id);
    expect(Date.parse(listed.last_used_at)).toBe(first.getTime());
  });

  it('never stores or logs a secret: no table row and no log line contains one', async () => {
    expect(secrets.length).toBeGreaterThan(20);
    const tables = (await ctx.db.query(
      `SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
    )) as {
      schemaname: string;
      tablename: string;
    }[];
    expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(['api_tokens', 'events', 'users']));
    const found: string[] = [];
    for (const { schemaname, tablename } of tables) {
      const rows = (await ctx.db.query(`SELECT t::text AS row FROM "${schemaname}"."${tablename}" t`)) as { row: string }[];
      for (const { row } of rows) {
        // The random part alone, too: no encoding of the secret may be stored.
        for (const secret of secrets) if (row.includes(secret.slice(4, 34))) found.push(`${schemaname}.${tablename}`);
      }
    }
    expect(found).toEqual([]);
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.filter((line) => secrets.some((s) => line.includes(s.slice(4, 34))))).toEqual([]);
    // What is stored is the hash.
    expect(Number((await ctx.db.query(`SELECT count(*) FROM api_tokens WHERE token_hash !~ '^[0-9a-f]{64}$'`))[0].count)).toBe(0);
  });
});

describe('rate limits per token, per user, and on failed logins only (e2e)', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    // Each request from the address its X-Forwarded-For names (a trusted proxy).
    ctx = await createTestApp({
      env: {
        RATE_LIMIT_LOGIN_FAILURES_PER_MIN: 3,
        RATE_LIMIT_PER_TOKEN_PER_MIN: 5,
        RATE_LIMIT_PER_USER_PER_MIN: 8,
        TRUST_PROXY: 'loopback',
      },
    });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const login = (email: string, password: string, from: string) =>
    ctx.http.post('/api/auth/login').set('X-Forwarded-For', from).send({ email, password });

  it('counts failed logins per address: successes of many users behind one address never get 429', async () => {
    const people = await Promise.all([0, 1, 2, 3, 4].map(() => newUser(ctx)));
    // Ten correct logins from one address (past the limit of 3): all pass.
    for (const p of [...people, ...people]) await login(p.email, p.password, '198.51.100.10').expect(200);
    for (let i = 0; i < 3; i++) await login(`nobody${i}@example.test`, 'wrong-wrong', '198.51.100.11').expect(401);
    const blocked = await login(people[0]!.email, people[0]!.password, '198.51.100.11').expect(429);
    expect(blocked.body.code).toBe('request.rate_limited');
    expect(blocked.body.detail).toContain('from this address');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    await login(people[0]!.email, people[0]!.password, '198.51.100.12').expect(200);
  });

  it('counts failed logins per account across addresses', async () => {
    const victim = await newUser(ctx);
    const bystander = await newUser(ctx);
    for (let i = 0; i < 3; i++) await login(victim.email, 'wrong-wrong', `203.0.113.${i + 1}`).expect(401);
    const blocked = await login(victim.email.toUpperCase(), 'wrong-wrong', '203.0.113.50').expect(429);
    expect(blocked.body.detail).toContain('for this account');
    // Another account from one of those addresses logs in.
    await login(bystander.email, bystander.password, '203.0.113.1').expect(200);
  });

  it('limits requests per API token and per user, whatever the address', async () => {
    const owner = await newUser(ctx);
    const mint = async () =>
      (
        await ctx.http
          .post('/api/tokens')
          .set(owner.auth)
          .set('X-Forwarded-For', '192.0.2.1')
          .send({ name: 'rl', scopes: ['vms:read'] })
          .expect(201)
      ).body.token as string;
    // The two creates above count for the user: 2 of 8.
    const a = await mint();
    const b = await mint();
    for (let i = 0; i < 5; i++)
      await ctx.http
        .get('/api/vms')
        .set(bearer(a))
        .set('X-Forwarded-For', `192.0.2.${10 + i}`)
        .expect(200);
    const perToken = await ctx.http.get('/api/vms').set(bearer(a)).set('X-Forwarded-For', '192.0.2.99').expect(429);
    expect(perToken.body.detail).toContain('with this API token');
    expect(Number(perToken.headers['retry-after'])).toBeGreaterThan(0);
    // 7 of 8 counted for the user now: one more from the other token, then the user's limit.
    await ctx.http.get('/api/vms').set(bearer(b)).expect(200);
    const perUser = await ctx.http.get('/api/vms').set(bearer(b)).expect(429);
    expect(perUser.body.detail).toContain('for this user');
    await ctx.http.get('/api/users/me').set(owner.auth).expect(429);
    // Another user is not affected.
    const someone = await newUser(ctx);
    await ctx.http.get('/api/users/me').set(someone.auth).expect(200);
  });
});
