import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { buildOpenApiDocument } from '../../src/app.setup';
import { newUser, TestUser } from '../support/factories';
import { numericFieldCases, OpenApiDoc } from '../support/openapi-fuzz';
import { undeclaredHeaders } from '../support/response-validator';
import { createTestApp, registerHost, TestContext } from '../support/test-app';

/**
 * The document as a typed client reads it, checked against the server, driven by the document:
 * every numeric request field and parameter gets a fraction, and the answer must match the type
 * the document gives it (integer: refused; number: treated like a whole value); every response's
 * headers must be declared on it.
 */
describe('API contract: types and headers (e2e)', () => {
  let ctx: TestContext;
  let admin: TestUser;
  let doc: OpenApiDoc;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { WORKER: false, RATE_LIMIT_PER_MIN: 100_000, RATE_LIMIT_AUTH_PER_MIN: 100_000 } });
    await registerHost(ctx);
    admin = await newUser(ctx, { role: 'admin', credits: 1_000_000 });
    doc = buildOpenApiDocument(ctx.app) as unknown as OpenApiDoc;
  });
  afterAll(async () => {
    await ctx.close();
  });

  /** What an answer says about a request: its status and problem code. */
  const outcome = (res: { status: number; body: { code?: string } }) => `${res.status} ${res.body?.code ?? ''}`.trim();

  it('refuses a fraction exactly where the document says integer, and only there', async () => {
    const cases = numericFieldCases(doc, () => randomUUID());
    // Every documented numeric input: the VM sizes, credit amounts, quotas, limit, step, metric values...
    expect(cases.length).toBeGreaterThanOrEqual(15);
    const mismatches: string[] = [];
    for (const c of cases) {
      const send = async (value: number) => {
        const { path, query, body } = c.build(value);
        const req = ctx.http[c.method](`${path}${query}`).set(admin.auth);
        return body === undefined ? req : req.send(body as object);
      };
      // The fraction first: a refused request changes nothing the whole value's request then meets.
      const fraction = outcome(await send(c.wholeValue + 0.5));
      const whole = outcome(await send(c.wholeValue));
      if (c.integer && (fraction === whole || !fraction.startsWith('400 '))) {
        mismatches.push(`${c.name}: documented integer, but ${c.wholeValue + 0.5} -> ${fraction} (${c.wholeValue} -> ${whole})`);
      }
      if (!c.integer && fraction !== whole) {
        mismatches.push(`${c.name}: documented number, but ${c.wholeValue + 0.5} -> ${fraction} while ${c.wholeValue} -> ${whole}`);
      }
    }
    process.stdout.write(
      `contract: ${cases.length} numeric fields (${cases.filter((c) => c.integer).length} integer), ${cases.length * 2} requests\n`,
    );
    expect(mismatches).toEqual([]);
  });

  it('declares every header each answer carries', async () => {
    const vm = await ctx.http
      .post('/api/vms')
      .set(admin.auth)
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'contract-1', os_type: 'ubuntu-22.04', ram_mb: 512, disk_gb: 10, cpu_cores: 1 })
      .expect(202);
    expect(vm.headers.location).toBe(`/api/vms/${vm.body.id}`);
    const ids: Record<string, string> = { id: vm.body.id, name: 'test-host' };
    const undeclared: string[] = [];
    let checked = 0;
    for (const [template, item] of Object.entries(doc.paths)) {
      const op = item.get;
      // Event streams stay open; their headers are declared by ApiEventStream and checked in event-stream tests.
      if (!op || template.endsWith('/stream')) continue;
      // A path that exists (or a random id: 404) and a malformed one (400).
      for (const path of [
        template.replace(/\{(\w+)\}/g, (_, name: string) => ids[name] ?? randomUUID()),
        template.replace(/\{(\w+)\}/g, () => 'not-a-uuid'),
      ]) {
        const query = template.endsWith('/metrics') ? '?name=cpu_percent' : '';
        const res = await ctx.http.get(`${path}${query}`).set(admin.auth);
        const extra = undeclaredHeaders(op.responses as never, res.status, Object.keys(res.headers));
        if (extra.length) undeclared.push(`GET ${template} -> ${res.status}: ${extra.join(', ')}`);
        checked++;
        if (!template.includes('{')) break;
      }
    }
    // Writes: a 202 with Location, a replay, a conflict, a refused body.
    const writes = [
      await ctx.http
        .post('/api/vms')
        .set(admin.auth)
        .set('Idempotency-Key', 'replayed')
        .send({ name: 'contract-2', os_type: 'ubuntu-22.04', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }),
      await ctx.http
        .post('/api/vms')
        .set(admin.auth)
        .set('Idempotency-Key', 'replayed')
        .send({ name: 'contract-2', os_type: 'ubuntu-22.04', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }),
      await ctx.http.post(`/api/vms/${vm.body.id}/action`).set(admin.auth).send({ action: 'start' }),
      await ctx.http.post('/api/vms').set(admin.auth).set('content-type', 'text/plain').send('name=x'),
    ];
    expect(writes.map((w) => w.status)).toEqual([202, 202, 409, 415]);
    expect(writes[1]!.headers['idempotent-replayed']).toBe('true');
    for (const [i, res] of writes.entries()) {
      const route = i === 2 ? doc.paths['/api/vms/{id}/action']!.post : doc.paths['/api/vms']!.post;
      const extra = undeclaredHeaders(route!.responses as never, res.status, Object.keys(res.headers));
      if (extra.length) undeclared.push(`write ${i} -> ${res.status}: ${extra.join(', ')}`);
      checked++;
    }
    process.stdout.write(`contract: headers of ${checked} answers checked\n`);
    expect(checked).toBeGreaterThanOrEqual(30);
    expect(undeclared).toEqual([]);
  });
});
