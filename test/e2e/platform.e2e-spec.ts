import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { newUser } from '../support/factories';
import { createTestApp, createTestDatabase, TestContext } from '../support/test-app';

describe('platform: health, docs, errors, bootstrap (e2e)', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestApp({
      env: { ADMIN_EMAIL: 'root@example.test', ADMIN_PASSWORD: 'bootstrap-pass', CORS_ORIGINS: 'https://console.example' },
    });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const publicHealth = {
    status: 'ok',
    database: 'up',
    queue: 'up',
    version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    uptime_seconds: expect.any(Number),
  };

  it('GET /api/health reports the database, queue and version to anyone, and nothing about the machine', async () => {
    expect((await ctx.http.get('/api/health').expect(200)).body).toEqual(publicHealth);
    // A token, even an admin's, a malformed or an expired-looking one, changes nothing: a probe never gets 401.
    const admin = await ctx.http.post('/api/auth/login').send({ email: 'root@example.test', password: 'bootstrap-pass' }).expect(200);
    const user = await newUser(ctx);
    for (const token of [admin.body.access_token as string, user.token, 'not-a-token']) {
      const res = await ctx.http.get('/api/health').set('Authorization', `Bearer ${token}`).expect(200);
      expect(res.body).toEqual(publicHealth);
    }
  });

  it('GET /api/admin/health adds the provider, why it was chosen and the hosts, for admins only', async () => {
    const login = await ctx.http.post('/api/auth/login').send({ email: 'root@example.test', password: 'bootstrap-pass' }).expect(200);
    const res = await ctx.http.get('/api/admin/health').set('Authorization', `Bearer ${login.body.access_token}`).expect(200);
    expect(res.body).toEqual({
      ...publicHealth,
      provider: 'simulator',
      provider_requested: 'simulator',
      provider_reason: 'VM_PROVIDER=simulator',
      host: expect.any(String),
      hosts: { total: 1, online: 1, offline: 0, schedulable: 1 },
    });
    const anonymous = await ctx.http.get('/api/admin/health').expect(401);
    expect(anonymous.body).toMatchObject({ code: 'auth.token_missing' });
    const user = await newUser(ctx);
    expect((await ctx.http.get('/api/admin/health').set(user.auth).expect(403)).body.provider).toBeUndefined();
  });

  // (Passport keeps one global strategy per name, so a test file uses one app at a time.)
  it('sends security headers, and CORS headers only for the configured origins', async () => {
    const res = await ctx.http.get('/api/health').set('Origin', 'https://evil.example').expect(200);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const ok = await ctx.http.get('/api/health').set('Origin', 'https://console.example').expect(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://console.example');
  });

  it('answers unknown routes with a 404 problem', async () => {
    const res = await ctx.http.get('/api/nowhere').expect(404);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 404, code: 'route.not_found', detail: 'No route GET /api/nowhere' });
  });

  it('matches a path with a trailing slash, refuses a JSON body that is not an object or array, and answers an undecodable URL with a 400 problem', async () => {
    const health = await ctx.http.get('/api/health/').expect(200);
    expect(health.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const scalar = await ctx.http.post('/api/auth/login').set('content-type', 'application/json').send('"root@example.test"').expect(400);
    expect(scalar.body).toMatchObject({ code: 'request.body_not_object', detail: 'The request body must be a JSON object, not a string' });
    const undecodable = await ctx.http.get('/api/vms/%E0%A4%A').expect(400);
    expect(undecodable.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(undecodable.headers['x-request-id']).toBeDefined();
    expect(undecodable.headers['content-security-policy']).toContain("default-src 'self'");
    expect(undecodable.body).toMatchObject({ status: 400, code: 'request.invalid', instance: '/api/vms/%E0%A4%A' });
  });

  it('answers a known path with a wrong method 405 with Allow, before authentication', async () => {
    const health = await ctx.http.delete('/api/health').expect(405);
    expect(health.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(health.headers.allow).toBe('GET, HEAD');
    expect(health.body).toMatchObject({
      status: 405,
      code: 'request.method_not_allowed',
      detail: 'DELETE is not allowed on /api/health: it answers GET, HEAD',
    });
    expect((await ctx.http.put('/api/vms').expect(405)).headers.allow).toBe('GET, HEAD, POST');
    const one = await ctx.http.post('/api/vms/00000000-0000-4000-8000-000000000000/').expect(405);
    expect(one.headers.allow).toBe('DELETE, GET, HEAD, PATCH');
    // A path no route answers is still 404.
    await ctx.http.delete('/api/nowhere').expect(404);
  });

  it('answers an empty body with one request.body_empty naming the fields the route needs', async () => {
    const login = await ctx.http.post('/api/auth/login').send({ email: 'root@example.test', password: 'bootstrap-pass' }).expect(200);
    const auth = `Bearer ${login.body.access_token}`;
    for (const send of [(r: ReturnType<typeof ctx.http.post>) => r, (r: ReturnType<typeof ctx.http.post>) => r.send({})]) {
      const res = await send(ctx.http.post('/api/vms').set('Authorization', auth)).expect(400);
      expect(res.body).toMatchObject({ status: 400, code: 'request.body_empty', required: expect.arrayContaining(['name']) });
      expect(res.body.errors).toBeUndefined();
      expect(res.body.detail).toMatch(/^The request body is empty: send a JSON object with name/);
    }
  });

  it('answers GET /api with an index of links', async () => {
    const index = await ctx.http.get('/api').expect(200);
    expect(index.body).toEqual({
      name: 'VM Platform API',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      links: { docs: '/api/docs', openapi: '/api/docs-json', health: '/api/health' },
    });
    for (const link of Object.values(index.body.links as Record<string, string>)) await ctx.http.get(link).redirects(1).expect(200);
    // `/` is the web console: test/browser/console.e2e-spec.ts.
  });

  it('refuses a body that is not JSON with one 415, and lets bodiless requests through', async () => {
    const form = await ctx.http
      .post('/api/auth/register')
      .type('form')
      .send('username=ada&email=ada@example.com&password=correct+horse+battery')
      .expect(415);
    expect(form.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(form.body).toMatchObject({
      status: 415,
      code: 'request.unsupported_media_type',
      detail: expect.stringContaining('application/json'),
    });
    expect(form.body.errors).toBeUndefined();
    const text = await ctx.http.post('/api/auth/login').set('content-type', 'text/plain').send('{"email":"a@b.c"}').expect(415);
    expect(text.body.code).toBe('request.unsupported_media_type');
    // Bodiless: no content-type at all, or a content-type with an empty body (what some clients send).
    const login = await ctx.http.post('/api/auth/login').send({ email: 'root@example.test', password: 'bootstrap-pass' }).expect(200);
    const auth = `Bearer ${login.body.access_token}`;
    const missing = '/api/vms/00000000-0000-4000-8000-000000000000/start';
    await ctx.http.post(missing).set('Authorization', auth).expect(404);
    await ctx.http.post(missing).set('Authorization', auth).set('content-type', 'text/plain').send('').expect(404);
    // JSON with a charset or a +json type is still JSON.
    await ctx.http
      .post('/api/auth/login')
      .set('content-type', 'application/json; charset=utf-8')
      .send('{"email":"nobody@example.test","password":"nope-nope"}')
      .expect(401);
  });

  it('creates the bootstrap admin once, however often the app boots', async () => {
    const login = await ctx.http.post('/api/auth/login').send({ email: 'root@example.test', password: 'bootstrap-pass' }).expect(200);
    const me = await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${login.body.access_token}`).expect(200);
    expect(me.body.role).toBe('admin');
    const again = await createTestApp({
      database: { url: ctx.databaseUrl, drop: async () => undefined },
      env: { ADMIN_EMAIL: 'root@example.test', ADMIN_PASSWORD: 'bootstrap-pass' },
    });
    await again.close();
    const [{ count }] = await ctx.db.query(`SELECT count(*)::int AS count FROM users WHERE lower(email) = 'root@example.test'`);
    expect(count).toBe(1);
  });

  describe('OpenAPI', () => {
    let doc: { paths: Record<string, Record<string, any>>; components: { securitySchemes?: object; schemas: Record<string, any> } };
    beforeAll(async () => {
      doc = (await ctx.http.get('/api/docs-json').expect(200)).body;
    });

    it('serves Swagger UI at /api/docs', async () => {
      const res = await ctx.http.get('/api/docs/').expect(200);
      expect(res.text).toContain('swagger-ui');
    });

    it('describes every route: operationId, summary, tag, a success schema, problem+json errors, security', () => {
      const publicOps = new Set(['registerUser', 'login', 'getHealth', 'getApiIndex']);
      const ids = new Set<string>();
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(item)) {
          const where = `${method.toUpperCase()} ${path}`;
          expect({ where, operationId: op.operationId }).toEqual({ where, operationId: expect.stringMatching(/^[a-z][A-Za-z]+$/) });
          expect(ids.has(op.operationId)).toBe(false);
          ids.add(op.operationId);
          expect({ where, summary: typeof op.summary }).toEqual({ where, summary: 'string' });
          expect({ where, tags: op.tags?.length }).toEqual({ where, tags: 1 });
          const success = Object.entries(op.responses).find(([code]) => code.startsWith('2'));
          const content = (success?.[1] as any)?.content;
          // 204 No Content is the one success answer without a body.
          const described = success?.[0] === '204' ? !content : !!(content?.['application/json'] ?? content?.['text/event-stream'])?.schema;
          expect({ where, success: described }).toEqual({ where, success: true });
          const errors = Object.entries(op.responses).filter(([code]) => /^[45]/.test(code));
          for (const [code, response] of errors) {
            if (op.operationId === 'getHealth') continue;
            expect({ where, code, problem: !!(response as any).content?.['application/problem+json'] }).toEqual({
              where,
              code,
              problem: true,
            });
          }
          if (!publicOps.has(op.operationId)) {
            expect({ where, security: op.security }).toEqual({ where, security: [{ bearer: [] }] });
            expect({ where, has401: '401' in op.responses }).toEqual({ where, has401: true });
          }
        }
      }
      expect(ids.size).toBeGreaterThanOrEqual(20);
    });

    it('carries DTO properties with their limits (swagger CLI plugin)', () => {
      const create = doc.components.schemas.CreateVmDto;
      expect(create.required).toEqual(expect.arrayContaining(['name', 'os_type', 'ram_mb', 'disk_gb', 'cpu_cores']));
      expect(create.properties.ram_mb).toMatchObject({ minimum: 512, maximum: 65536 });
      expect(create.properties.name.pattern).toBe('^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');
      expect(JSON.stringify(doc.components.schemas.VmResponseDto.properties.status)).toContain('#/components/schemas/VmStatus');
      expect(doc.components.schemas.VmStatus.enum).toContain('provisioning');
    });
  });

  it('answers 503 from /api/health when the database is gone', async () => {
    const database = await createTestDatabase();
    const doomed = await createTestApp({ database });
    try {
      await doomed.http.get('/api/health').expect(200);
      await database.drop();
      const res = await doomed.http.get('/api/health').expect(503);
      expect(res.body).toMatchObject({ status: 'degraded', database: 'down' });
    } finally {
      await doomed.close().catch(() => undefined);
    }
  });
});
