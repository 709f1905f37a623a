import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { eventually, newUser, TestUser } from '../support/factories';
import { Exposition, parsePrometheus } from '../support/prometheus';
import { VM_STATUSES } from '../../src/modules/vms/vm-state';
import { createTestApp, TestContext, TEST_VM_QUEUE, registerHost } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }; // costs 17

/** The port of each app's metrics listener (METRICS_PORT). */
const metricsPorts = new WeakMap<TestContext, number>();

/** A test app with its metrics listener on a free port of its own. */
async function metricsApp(env: Record<string, string | number | boolean> = {}): Promise<TestContext> {
  const port = await freePort();
  const ctx = await createTestApp({ env: { METRICS_PORT: port, ...env } });
  metricsPorts.set(ctx, port);
  return ctx;
}

async function scrape(ctx: TestContext): Promise<Exposition> {
  const res = await fetch(`http://127.0.0.1:${metricsPorts.get(ctx)}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('GET /metrics, service metrics in Prometheus format (e2e)', () => {
  let ctx: TestContext;
  let alice: TestUser;
  let vmId: string;

  beforeAll(async () => {
    ctx = await metricsApp();
    alice = await newUser(ctx, { credits: 100 });
    vmId = (
      await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'counted', ...spec })
        .expect(202)
    ).body.id;
    await eventually(async () => (await ctx.http.get(`/api/vms/${vmId}`).set(alice.auth)).body.status === 'running', 10_000, 'VM running');
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('answers without a token, in a format that parses, with HELP and TYPE for every series', async () => {
    const m = await scrape(ctx);
    for (const [name, type] of [
      ['http_requests_total', 'counter'],
      ['http_request_duration_seconds', 'histogram'],
      ['vmapi_queue_jobs', 'gauge'],
      ['vmapi_queue_jobs_processed_total', 'counter'],
      ['vmapi_queue_job_duration_seconds', 'histogram'],
      ['vmapi_vms', 'gauge'],
      ['vmapi_credits_debited_total', 'counter'],
      ['vmapi_event_streams', 'gauge'],
      ['process_cpu_seconds_total', 'counter'],
    ]) {
      expect({ name, type: m.types.get(name!), help: !!m.help.get(name!) }).toEqual({ name, type, help: true });
    }
  });

  it('counts HTTP requests by method, route template and status, with latency histograms', async () => {
    const before = await scrape(ctx);
    const count = (m: Exposition, labels: Record<string, string>) => m.value('http_requests_total', labels) ?? 0;
    await ctx.http.get(`/api/vms/${vmId}`).set(alice.auth).expect(200);
    await ctx.http.get(`/api/vms/${vmId}`).set(alice.auth).expect(200);
    await ctx.http.get('/api/vms/00000000-0000-4000-8000-000000000000').set(alice.auth).expect(404);
    await ctx.http.get(`/api/vms/${vmId}`).expect(401);
    await ctx.http.get('/api/no/such/route').expect(404);
    const after = await scrape(ctx);

    const vm = { method: 'GET', route: '/api/vms/:id' };
    expect(count(after, { ...vm, status: '200' }) - count(before, { ...vm, status: '200' })).toBe(2);
    expect(count(after, { ...vm, status: '404' }) - count(before, { ...vm, status: '404' })).toBe(1);
    expect(count(after, { ...vm, status: '401' }) - count(before, { ...vm, status: '401' })).toBe(1);
    expect(
      count(after, { method: 'GET', route: 'unmatched', status: '404' }) -
        count(before, { method: 'GET', route: 'unmatched', status: '404' }),
    ).toBe(1);
    // Raw paths (ids) never become label values.
    expect(after.all('http_requests_total').some((s) => s.labels.route!.includes(vmId))).toBe(false);

    const buckets = after.all('http_request_duration_seconds_bucket', { ...vm, status: '200' });
    expect(buckets.length).toBeGreaterThan(5);
    expect(buckets.find((b) => b.labels.le === '+Inf')!.value).toBe(
      after.value('http_request_duration_seconds_count', { ...vm, status: '200' }),
    );
    expect(after.value('http_request_duration_seconds_sum', { ...vm, status: '200' })).toBeGreaterThan(0);
    expect(count(after, { method: 'POST', route: '/api/vms', status: '202' })).toBe(1);
  });

  it('reports VMs by status (every status, zeros included), job outcomes and credits debited', async () => {
    await ctx.http
      .post('/api/vms')
      .set(alice.auth)
      .send({ name: 'second', ...spec })
      .expect(202);
    await eventually(async () => {
      const [{ n }] = await ctx.db.query(`SELECT count(*)::int AS n FROM vms WHERE status = 'running'`);
      return n === 2;
    });
    // A job counts as completed once its handler has returned, just after the status it set is visible.
    const m = await eventually(
      async () => {
        const scraped = await scrape(ctx);
        return (scraped.value('vmapi_queue_jobs_processed_total', { queue: TEST_VM_QUEUE, outcome: 'completed' }) ?? 0) >= 2
          ? scraped
          : null;
      },
      10_000,
      'both provisioning jobs counted',
    );
    expect(m.value('vmapi_vms', { status: 'running' })).toBe(2);
    expect(m.value('vmapi_vms', { status: 'destroyed' })).toBe(0);
    expect(
      m
        .all('vmapi_vms')
        .map((v) => v.labels.status)
        .sort(),
    ).toEqual([...VM_STATUSES].sort());
    expect(m.value('vmapi_queue_jobs_processed_total', { queue: TEST_VM_QUEUE, outcome: 'completed' })).toBeGreaterThanOrEqual(2);
    expect(m.value('vmapi_queue_job_duration_seconds_count', { queue: TEST_VM_QUEUE })).toBeGreaterThanOrEqual(2);
    expect(m.value('vmapi_credits_debited_total', { kind: 'vm_create' })).toBe(2 * 17);
  });
});

describe('queue depth and metrics settings (e2e)', () => {
  it('shows jobs waiting in a queue no process consumes', async () => {
    const ctx = await metricsApp({ WORKER: false });
    await registerHost(ctx);
    try {
      const user = await newUser(ctx, { credits: 100 });
      await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'waiting', ...spec })
        .expect(202);
      await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'waiting-2', ...spec })
        .expect(202);
      const m = await scrape(ctx);
      expect(m.value('vmapi_queue_jobs', { queue: TEST_VM_QUEUE, state: 'created' })).toBe(2);
      expect(m.value('vmapi_vms', { status: 'provisioning' })).toBe(2);
    } finally {
      await ctx.close();
    }
  });

  it('METRICS_ENABLED=false turns /metrics off: no listener, and not on the API port even with METRICS_ON_API=admin', async () => {
    const port = await freePort();
    const ctx = await createTestApp({ env: { METRICS_ENABLED: false, METRICS_PORT: port, METRICS_ON_API: 'admin' } });
    try {
      // Like any unknown route.
      const admin = await newUser(ctx, { role: 'admin' });
      const res = await ctx.http.get('/metrics').set(admin.auth).expect(404);
      expect(res.body).toMatchObject({ code: 'route.not_found', detail: 'No route GET /metrics' });
      await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
    } finally {
      await ctx.close();
    }
  });

  it('by default serves /metrics on its own listener (METRICS_PORT) and answers 404 on the API port', async () => {
    const ctx = await metricsApp();
    const port = metricsPorts.get(ctx)!;
    try {
      const notHere = await ctx.http.get('/metrics').expect(404);
      expect(notHere.body).toMatchObject({ code: 'route.not_found', detail: 'No route GET /metrics' });
      await ctx.http.get('/api/health').expect(200);
      const m = await scrape(ctx);
      expect(m.value('http_requests_total', { method: 'GET', route: '/api/health', status: '200' })).toBe(1);
      expect(m.value('http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await ctx.close();
    }
    // Closed with the app.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('METRICS_ON_API=admin also serves it on the API port, to an admin token only', async () => {
    const ctx = await metricsApp({ METRICS_ON_API: 'admin' });
    try {
      expect((await ctx.http.get('/metrics').expect(401)).body.code).toBe('auth.token_missing');
      const user = await newUser(ctx);
      expect((await ctx.http.get('/metrics').set(user.auth).expect(403)).body.code).toBe('auth.forbidden');
      const admin = await newUser(ctx, { role: 'admin' });
      const res = await ctx.http.get('/metrics').set(admin.auth).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(parsePrometheus(res.text).value('http_requests_total', { method: 'GET', route: '/metrics', status: '401' })).toBe(1);
      // The listener still serves it.
      await scrape(ctx);
    } finally {
      await ctx.close();
    }
  });

  it('METRICS_PORT=0: no listener and nothing on the API port', async () => {
    const logs: string[] = [];
    const ctx = await createTestApp({ env: { METRICS_PORT: 0 }, captureLogs: logs });
    try {
      await ctx.http.get('/metrics').expect(404);
      expect(logs.filter((l) => l.includes('Service metrics on'))).toEqual([]);
    } finally {
      await ctx.close();
    }
  });

  it('stays out of the OpenAPI document', async () => {
    const ctx = await createTestApp();
    try {
      const doc = (await ctx.http.get('/api/docs-json').expect(200)).body;
      expect(Object.keys(doc.paths).filter((p) => p.includes('metrics') && !p.startsWith('/api/vms/'))).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});
