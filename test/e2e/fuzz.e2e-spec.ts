import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Test } from 'supertest';
import { buildOpenApiDocument } from '../../src/app.setup';
import { newUser, TestUser } from '../support/factories';
import { OpenApiDoc, stringFieldCases, unsafeText } from '../support/openapi-fuzz';
import { createTestApp, TestContext, registerHost } from '../support/test-app';

/** Values that break naive code: wrong types, extremes, injection strings, unicode, huge and deep. */
const deep = (n: number): unknown => (n === 0 ? 'bottom' : { d: deep(n - 1) });
const hostile = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    [],
    {},
    '',
    'NaN',
    'Infinity',
    '-0',
    '1e309',
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    -1,
    0,
    0.5,
    "'; DROP TABLE users; --",
    "' OR '1'='1",
    '$(rm -rf /)',
    '`id`',
    '; ls -la',
    '../../etc/passwd',
    '\u0000',
    '\u202e\u0301😀',
    '%s%s%n',
    '<script>alert(1)</script>',
    { $gt: '' },
    { __proto__: { admin: true } },
    'x'.repeat(1024 * 1024),
    deep(40),
  ),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.anything(), { maxLength: 3 }),
  fc.object({ maxDepth: 3 }),
);

type Route = { method: 'post' | 'patch' | 'get'; path: () => string; as: 'user' | 'admin' | 'anon'; valid: () => Record<string, unknown> };

describe('input fuzzing over every write route (e2e)', () => {
  let ctx: TestContext;
  let user: TestUser;
  let admin: TestUser;
  let vmId: string;
  let tried = 0;
  let unsafeTried = 0;
  let serverErrors = 0;

  beforeAll(async () => {
    // No worker: VM state changes only through the requests under test, so a rejected one must leave it as it was.
    ctx = await createTestApp({ env: { WORKER: false, QUOTA_MAX_VMS: 0, QUOTA_MAX_CPU_CORES: 0, QUOTA_MAX_RAM_MB: 0 } });
    await registerHost(ctx);
    user = await newUser(ctx, { credits: 100_000 });
    admin = await newUser(ctx, { role: 'admin' });
    vmId = (
      await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'fuzz-target', os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 })
        .expect(202)
    ).body.id;
    await ctx.db.query(`UPDATE vms SET status = 'running', last_started_at = now() WHERE id = $1`, [vmId]);
  });
  afterAll(async () => {
    process.stdout.write(`fuzz: ${tried} hostile requests, ${serverErrors} answered 5xx\n`);
    await ctx.close();
  });

  /** Everything a rejected request must leave untouched. */
  const fingerprint = async () =>
    (
      await ctx.db.query(`SELECT (SELECT count(*) FROM users) AS users, (SELECT sum(credits) FROM users) AS credits,
        (SELECT count(*) FROM credit_transactions) AS ledger, (SELECT count(*) FROM vms) AS vms,
        (SELECT md5(string_agg(id::text || status || metadata::text || name, ',' ORDER BY id)) FROM vms) AS vm_state,
        (SELECT md5(string_agg(id::text || role || is_active::text, ',' ORDER BY id)) FROM users) AS user_state`)
    )[0];

  const routes: Route[] = [
    {
      method: 'post',
      path: () => '/api/auth/register',
      as: 'anon',
      valid: () => ({ username: 'fuzzer', email: 'f@example.com', password: 'password1' }),
    },
    { method: 'post', path: () => '/api/auth/login', as: 'anon', valid: () => ({ email: 'f@example.com', password: 'password1' }) },
    { method: 'post', path: () => '/api/vms/quota-check', as: 'user', valid: () => ({ ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }) },
    {
      method: 'post',
      path: () => '/api/vms',
      as: 'user',
      valid: () => ({ name: 'fz', os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1, metadata: { a: 1 } }),
    },
    { method: 'patch', path: () => `/api/vms/${vmId}`, as: 'user', valid: () => ({ metadata: { k: 'v' } }) },
    { method: 'post', path: () => `/api/vms/${vmId}/action`, as: 'user', valid: () => ({ action: 'restart' }) },
    { method: 'post', path: () => `/api/admin/vms/${vmId}/action`, as: 'admin', valid: () => ({ action: 'restart', reason: 'fuzz' }) },
    { method: 'patch', path: () => `/api/admin/users/${user.id}`, as: 'admin', valid: () => ({ role: 'user', is_active: true }) },
    { method: 'post', path: () => `/api/admin/users/${user.id}/credits`, as: 'admin', valid: () => ({ amount: 1, reason: 'fuzz' }) },
  ];

  const send = (r: Route, path: string, body: unknown): Test => {
    let req: Test = (ctx.http as unknown as Record<string, (p: string) => Test>)[r.method]!(path);
    if (r.as !== 'anon') req = req.set((r.as === 'admin' ? admin : user).auth);
    return req.set('Content-Type', 'application/json').send(JSON.stringify(body) ?? 'null');
  };

  async function expectRejectedWithoutChange(r: Route, path: string, body: unknown): Promise<void> {
    const before = await fingerprint();
    const res = await send(r, path, body);
    tried++;
    if (res.status >= 500) serverErrors++;
    expect({ route: `${r.method} ${path}`, status: res.status < 500 }).toEqual({ route: `${r.method} ${path}`, status: true });
    if (res.status >= 400) {
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(await fingerprint()).toEqual(before);
    }
  }

  it.each(routes.map((r, i) => [`${r.method.toUpperCase()} route #${i}`, r] as const))(
    '%s: one hostile field at a time, whole hostile bodies, extra fields',
    async (_name, r) => {
      const fields = Object.keys(r.valid());
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...fields), hostile, async (field, value) => {
          const body = { ...r.valid(), [field]: value };
          // A hostile value that happens to be valid (e.g. 0.5 credits never is; 'debian-12' could be) may pass: only
          // 5xx and partial writes are failures there, so compare state only for rejections.
          await expectRejectedWithoutChange(r, r.path(), body);
        }),
        { numRuns: 40, seed: 42 },
      );
      await fc.assert(
        fc.asyncProperty(hostile, async (body) => expectRejectedWithoutChange(r, r.path(), body)),
        { numRuns: 15, seed: 7 },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !fields.includes(k) && k !== '__proto__'),
          hostile,
          async (k, v) => {
            const res = await send(r, r.path(), { ...r.valid(), [k]: v });
            tried++;
            expect(res.status).toBe(400);
          },
        ),
        { numRuns: 10, seed: 3 },
      );
    },
  );

  it('rejects hostile path ids and query strings without 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom("1' OR '1'='1", '../../etc', '%00', 'NaN', '-1')),
        async (raw) => {
          const id = encodeURIComponent(raw);
          for (const path of [
            `/api/vms/${id}`,
            `/api/vms/${id}/status`,
            `/api/admin/users/${id}`,
            `/api/vms?limit=${id}`,
            `/api/vms?cursor=${id}`,
            `/api/events?type=${id}&vm_id=${id}`,
            `/api/admin/events?since=${id}`,
          ]) {
            const res = await ctx.http.get(path).set(path.includes('admin') ? admin.auth : user.auth);
            tried++;
            if (res.status >= 500) serverErrors++;
            expect({ path, ok: res.status < 500 }).toEqual({ path, ok: true });
          }
        },
      ),
      { numRuns: 25, seed: 11 },
    );
  });

  it('refuses bodies over the size limit (413) and over the depth limit (400)', async () => {
    const big = await send(routes[3]!, '/api/vms', { name: 'x', metadata: { blob: 'y'.repeat(300 * 1024) } });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('request.too_large');
    const tooDeep = await send(routes[3]!, '/api/vms', { ...routes[3]!.valid(), metadata: deep(40) });
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.code).toBe('request.too_deep');
    tried += 2;
  });

  it('answers each input that used to be a 500 (or silently ignored) with a precise 4xx problem', async () => {
    const cursor = (ts: string, id: string) => Buffer.from(JSON.stringify([ts, id])).toString('base64url');
    const fakeUuid = '-'.repeat(36);
    const target = await newUser(ctx);
    const cases: { what: string; req: () => Test; status: number; code: string }[] = [
      {
        what: 'NUL in a metadata key',
        req: () =>
          ctx.http
            .patch(`/api/vms/${vmId}`)
            .set(user.auth)
            .send({ metadata: { 'a\u0000': 'v' } }),
        status: 400,
        code: 'request.invalid_text',
      },
      {
        what: 'NUL in a metadata value',
        req: () =>
          ctx.http
            .patch(`/api/vms/${vmId}`)
            .set(user.auth)
            .send({ metadata: { k: 'v\u0000' } }),
        status: 400,
        code: 'request.invalid_text',
      },
      {
        what: 'lone surrogate in metadata',
        req: () =>
          ctx.http
            .patch(`/api/vms/${vmId}`)
            .set(user.auth)
            .send({ metadata: { k: '\ud800' } }),
        status: 400,
        code: 'request.invalid_text',
      },
      {
        what: 'lone surrogate in a credit reason',
        req: () => ctx.http.post(`/api/admin/users/${target.id}/credits`).set(admin.auth).send({ amount: 1, reason: 'x\udc00' }),
        status: 400,
        code: 'request.invalid_text',
      },
      {
        what: 'NUL in email on register',
        req: () => ctx.http.post('/api/auth/register').send({ username: 'nul', email: 'a\u0000@example.com', password: 'password1' }),
        status: 400,
        code: 'request.invalid_text',
      },
      {
        what: 'lone surrogate in email on login',
        req: () => ctx.http.post('/api/auth/login').send({ email: '\ud800@example.com', password: 'password1' }),
        status: 400,
        code: 'request.invalid_text',
      },
      {
        what: 'forged cursor id on /api/vms',
        req: () => ctx.http.get(`/api/vms?cursor=${cursor('2026-01-01T00:00:00Z', fakeUuid)}`).set(user.auth),
        status: 400,
        code: 'pagination.invalid_cursor',
      },
      {
        what: 'forged cursor year on /api/events',
        req: () => ctx.http.get(`/api/events?cursor=${cursor('-271821-04-20T00:00:00Z', vmId)}`).set(user.auth),
        status: 400,
        code: 'pagination.invalid_cursor',
      },
      {
        what: 'forged cursor on /api/credits/transactions',
        req: () => ctx.http.get(`/api/credits/transactions?cursor=${cursor('2026-01-01T00:00:00Z', fakeUuid)}`).set(user.auth),
        status: 400,
        code: 'pagination.invalid_cursor',
      },
      {
        what: 'a date filter of year -271821',
        req: () => ctx.http.get('/api/admin/events?since=-271821-04-20T00:00:00Z').set(admin.auth),
        status: 400,
        code: 'request.validation',
      },
      {
        what: '__proto__ metadata key',
        req: () =>
          ctx.http
            .patch(`/api/vms/${vmId}`)
            .set(user.auth)
            .set('Content-Type', 'application/json')
            .send('{"metadata":{"__proto__":{"x":1}}}'),
        status: 400,
        code: 'request.reserved_key',
      },
      {
        what: 'constructor metadata key',
        req: () =>
          ctx.http
            .patch(`/api/vms/${vmId}`)
            .set(user.auth)
            .send({ metadata: { constructor: 'x' } }),
        status: 400,
        code: 'request.reserved_key',
      },
      {
        what: 'quotas: [] on admin PATCH user',
        req: () => ctx.http.patch(`/api/admin/users/${target.id}`).set(admin.auth).send({ quotas: [] }),
        status: 400,
        code: 'request.validation',
      },
      {
        what: 'quotas: {} on admin PATCH user',
        req: () => ctx.http.patch(`/api/admin/users/${target.id}`).set(admin.auth).send({ quotas: {} }),
        status: 400,
        code: 'user.empty_update',
      },
    ];
    for (const c of cases) {
      const before = await fingerprint();
      const res = await c.req();
      tried++;
      if (res.status >= 500) serverErrors++;
      expect({ what: c.what, status: res.status, code: res.body.code }).toEqual({ what: c.what, status: c.status, code: c.code });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(await fingerprint()).toEqual(before);
    }
    const [{ n }] = await ctx.db.query(`SELECT count(*)::int AS n FROM events WHERE action = 'admin.user_updated' AND user_id = $1`, [
      target.id,
    ]);
    expect(n).toBe(0);
  });

  /** Every list with a ?cursor= (read from the OpenAPI document, so a new paginated route is covered by itself). */
  it('answers 400 pagination.invalid_cursor on every paginated route for a cursor with a NUL, bytes that are not UTF-8 or another shape', async () => {
    const doc = buildOpenApiDocument(ctx.app) as unknown as OpenApiDoc;
    const paginated = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.parameters?.some((p) => p.in === 'query' && p.name === 'cursor'))
        .map(([method]) => ({ method, path: path.replace('{id}', user.id) })),
    );
    expect(paginated.map((r) => r.path)).toEqual(
      expect.arrayContaining(['/api/admin/hosts', '/api/vms', '/api/events', '/api/ssh-keys', '/api/credits/transactions']),
    );
    expect(paginated.length).toBeGreaterThanOrEqual(9);
    const cursors = {
      'a NUL inside ("a\\0b")': 'YQBi',
      'bytes that are not UTF-8': Buffer.from([0x61, 0xff]).toString('base64url'),
      'three elements': Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', vmId, 1])).toString('base64url'),
      'a NUL in the id': Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', `${vmId}\u0000`])).toString('base64url'),
    };
    const answers: Record<string, string> = {};
    // Hosts page by name: any storable text of up to 100 characters is a position there, so only bytes can be malformed.
    const byName = new Set(['/api/admin/hosts']);
    for (const { method, path } of paginated) {
      for (const [what, cursor] of Object.entries(cursors).slice(0, byName.has(path) ? 2 : undefined)) {
        const res = await ctx.http.get(`${path}?cursor=${cursor}`).set(admin.auth);
        tried++;
        if (res.status >= 500) serverErrors++;
        answers[`${method.toUpperCase()} ${path} (${what})`] = `${res.status} ${res.body.code}`;
      }
    }
    expect(answers).toEqual(Object.fromEntries(Object.keys(answers).map((k) => [k, '400 pagination.invalid_cursor'])));
  });

  it('keeps balances under the documented maximum: an adjustment past it answers 409 credits.balance_limit', async () => {
    const rich = await newUser(ctx);
    const adjust = () =>
      ctx.http.post(`/api/admin/users/${rich.id}/credits`).set(admin.auth).send({ amount: 1_000_000_000, reason: 'big' });
    const first = await adjust();
    expect(first.status).toBe(409); // 100 + 1e9 is past the maximum already
    expect(first.body).toMatchObject({ code: 'credits.balance_limit', max_balance: 1_000_000_000, balance: 100 });
    await ctx.http
      .post(`/api/admin/users/${rich.id}/credits`)
      .set(admin.auth)
      .send({ amount: 999_999_900, reason: 'to the max' })
      .expect(201);
    for (let i = 0; i < 3; i++) expect((await adjust()).body.code).toBe('credits.balance_limit');
    tried += 4;
    // The database holds the line too, whoever writes.
    await expect(ctx.db.query(`UPDATE users SET credits = credits + 1 WHERE id = $1`, [rich.id])).rejects.toThrow(/users_credits_max/);
  });

  /**
   * Every string field of every route, read from the OpenAPI document (so a new route is covered by
   * itself): body properties (and free-form object keys and values), query and path parameters, each
   * given text PostgreSQL cannot store or that naive code mishandles. Any answer but a 5xx passes.
   */
  it('drives every string field of every route in the OpenAPI document with unstorable text, no 5xx', async () => {
    const doc = buildOpenApiDocument(ctx.app) as unknown as OpenApiDoc;
    const cases = stringFieldCases(doc, { vmId, userId: user.id });
    expect(cases.length).toBeGreaterThan(40);
    const perRoute = new Map<string, number>();
    for (const c of cases) {
      await fc.assert(
        fc.asyncProperty(unsafeText, async (text) => {
          const { path, query, body } = c.build(text);
          let req: Test = (ctx.http as unknown as Record<string, (p: string) => Test>)[c.method]!(`${path}${query}`);
          if (c.secured) req = req.set(admin.auth);
          if (body !== undefined) req = req.set('Content-Type', 'application/json').send(JSON.stringify(body));
          const res = await req;
          tried++;
          unsafeTried++;
          if (res.status >= 500) serverErrors++;
          expect({ field: c.name, status: res.status < 500 ? 'not 5xx' : res.status }).toEqual({ field: c.name, status: 'not 5xx' });
          if (res.status >= 400) expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
        }),
        { numRuns: 6, seed: 99 },
      );
      perRoute.set(c.route, (perRoute.get(c.route) ?? 0) + 1);
    }
    process.stdout.write(`fuzz (OpenAPI): ${cases.length} string fields over ${perRoute.size} routes, ${unsafeTried} requests\n`);
  });

  it('leaves the ledger consistent', async () => {
    const audit = await ctx.http.get('/api/admin/credits/audit').set(admin.auth).expect(200);
    expect(audit.body.mismatches).toEqual([]);
    expect(serverErrors).toBe(0);
  });
});
