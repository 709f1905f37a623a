import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Test } from 'supertest';
import { newUser, TestUser } from '../support/factories';
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
  let serverErrors = 0;

  beforeAll(async () => {
    // No worker: VM state changes only through the requests under test, so a rejected one must leave it as it was.
    ctx = await createTestApp({ env: { WORKER: false, QUOTA_MAX_VMS: 0, QUOTA_MAX_CPU_CORES: 0, QUOTA_MAX_RAM_MB: 0 } });
    await registerHost(ctx);
    user = await newUser(ctx, { credits: 100_000 });
    admin = await newUser(ctx, { role: 'admin' });
    vmId = (await ctx.http.post('/api/vms').set(user.auth).send({ name: 'fuzz-target', os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }).expect(202)).body.id;
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
    { method: 'post', path: () => '/api/auth/register', as: 'anon', valid: () => ({ username: 'fuzzer', email: 'f@example.com', password: 'password1' }) },
    { method: 'post', path: () => '/api/auth/login', as: 'anon', valid: () => ({ email: 'f@example.com', password: 'password1' }) },
    { method: 'post', path: () => '/api/vms/quota-check', as: 'user', valid: () => ({ ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }) },
    { method: 'post', path: () => '/api/vms', as: 'user', valid: () => ({ name: 'fz', os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1, metadata: { a: 1 } }) },
    { method: 'patch', path: () => `/api/vms/${vmId}`, as: 'user', valid: () => ({ metadata: { k: 'v' } }) },
    { method: 'post', path: () => `/api/vms/${vmId}/action`, as: 'user', valid: () => ({ action: 'restart' }) },
    { method: 'post', path: () => `/api/admin/vms/${vmId}/action`, as: 'admin', valid: () => ({ action: 'restart', reason: 'fuzz' }) },
    { method: 'patch', path: () => `/api/admin/users/${user.id}`, as: 'admin', valid: () => ({ role: 'user', is_active: true }) },
    { method: 'post', path: () => `/api/admin/users/${user.id}/credits`, as: 'admin', valid: () => ({ amount: 1, reason: 'fuzz' }) },
  ];

  const send = (r: Route, path: string, body: unknown): Test => {
    let req: Test = (ctx.http as unknown as Record<string, (p: string) => Test>)[r.method](path);
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
        fc.asyncProperty(fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !fields.includes(k) && k !== '__proto__'), hostile, async (k, v) => {
          const res = await send(r, r.path(), { ...r.valid(), [k]: v });
          tried++;
          expect(res.status).toBe(400);
        }),
        { numRuns: 10, seed: 3 },
      );
    },
  );

  it('rejects hostile path ids and query strings without 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom("1' OR '1'='1", '../../etc', '%00', 'NaN', '-1')), async (raw) => {
        const id = encodeURIComponent(raw);
        for (const path of [`/api/vms/${id}`, `/api/vms/${id}/status`, `/api/admin/users/${id}`, `/api/vms?limit=${id}`, `/api/vms?cursor=${id}`, `/api/events?type=${id}&vm_id=${id}`, `/api/admin/events?since=${id}`]) {
          const res = await ctx.http.get(path).set(path.includes('admin') ? admin.auth : user.auth);
          tried++;
          if (res.status >= 500) serverErrors++;
          expect({ path, ok: res.status < 500 }).toEqual({ path, ok: true });
        }
      }),
      { numRuns: 25, seed: 11 },
    );
  });

  it('refuses bodies over the size limit (413) and over the depth limit (400)', async () => {
    const big = await send(routes[3], '/api/vms', { name: 'x', metadata: { blob: 'y'.repeat(300 * 1024) } });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('request.too_large');
    const tooDeep = await send(routes[3], '/api/vms', { ...routes[3].valid(), metadata: deep(40) });
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.code).toBe('request.too_deep');
    tried += 2;
  });

  it('leaves the ledger consistent', async () => {
    const audit = await ctx.http.get('/api/admin/credits/audit').set(admin.auth).expect(200);
    expect(audit.body.mismatches).toEqual([]);
    expect(serverErrors).toBe(0);
  });
});
