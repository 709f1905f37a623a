import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiError,
  createVmPlatformClient,
  CREDIT_KINDS,
  EVENT_SEVERITIES,
  EVENT_TYPES,
  isApiError,
  retryAfterMs,
  unwrap,
  VM_ACTIONS,
  VM_STATUSES,
  WaitError,
  type Event,
} from '../../sdk';
import { eventually, newUser, type TestUser } from '../support/factories';
import { listen } from '../support/sse';
import { createTestApp, TestContext } from '../support/test-app';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => unknown;

/** A local server scripted per test: each request gets the handler with its 1-based index; requests are recorded. */
async function fakeServer(handler: Handler) {
  const seen: { method: string; url: string; key: string | undefined; at: number }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, key: req.headers['idempotency-key'] as string | undefined, at: Date.now() });
    req.resume();
    handler(req, res, seen.length);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) =>
        server.close(() => {
          r();
        }),
      );
    },
  };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): ServerResponse => {
  res.writeHead(status, { 'Content-Type': status < 300 ? 'application/json' : 'application/problem+json', ...headers });
  return res.end(JSON.stringify(body));
};
const problem = (code: string, status: number) => ({ type: 'about:blank', title: code, status, detail: `fake ${code}`, code });
const vmBody = { name: 'x', os_type: 'ubuntu-24.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 };

describe('SDK retries, idempotency keys and timeouts (fake server)', () => {
  let fake: Awaited<ReturnType<typeof fakeServer>> | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('waits the Retry-After seconds of a 429 and then returns the answer', async () => {
    fake = await fakeServer((_req, res, n) =>
      n === 1 ? json(res, 429, problem('request.rate_limited', 429), { 'Retry-After': '1' }) : json(res, 200, { status: 'ok' }),
    );
    const api = createVmPlatformClient({ baseUrl: fake.baseUrl });
    const { data, response } = await api.GET('/api/health');
    expect(response.status).toBe(200);
    expect(data).toEqual({ status: 'ok' });
    expect(fake.seen).toHaveLength(2);
    expect(fake.seen[1]!.at - fake.seen[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('adds one Idempotency-Key to a POST and sends it again on the retry after a 503', async () => {
    fake = await fakeServer((_req, res, n) =>
      n === 1
        ? json(res, 503, problem('service.unavailable', 503), { 'Retry-After': '0' })
        : json(res, 202, { id: 'v1', status: 'provisioning' }),
    );
    const api = createVmPlatformClient({ baseUrl: fake.baseUrl });
    const created = await api.POST('/api/vms', { body: vmBody });
    expect(created.response.status).toBe(202);
    expect(fake.seen.map((s) => s.key)).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/), fake.seen[0]!.key]);
  });

  it("keeps the caller's Idempotency-Key", async () => {
    fake = await fakeServer((_req, res) => json(res, 202, { id: 'v1' }));
    const api = createVmPlatformClient({ baseUrl: fake.baseUrl });
    await api.POST('/api/vms', { body: vmBody, params: { header: { 'Idempotency-Key': 'mine-1' } } });
    expect(fake.seen.map((s) => s.key)).toEqual(['mine-1']);
  });

  it('does not repeat a POST without an Idempotency-Key on 503 or on a dropped connection', async () => {
    fake = await fakeServer((_req, res, n) =>
      n === 1 ? json(res, 503, problem('service.unavailable', 503), { 'Retry-After': '0' }) : res.socket!.destroy(),
    );
    const api = createVmPlatformClient({ baseUrl: fake.baseUrl, idempotencyKeys: false });
    const first = await api.POST('/api/vms', { body: vmBody });
    expect(first.response.status).toBe(503);
    expect(first.error?.code).toBe('service.unavailable');
    await expect(api.POST('/api/vms', { body: vmBody })).rejects.toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect(fake.seen.map((s) => s.key)).toEqual([undefined, undefined]);
  });

  it('retries a dropped connection for a request with an Idempotency-Key, with the same key', async () => {
    fake = await fakeServer((_req, res, n) => (n <= 2 ? res.socket!.destroy() : json(res, 202, { id: 'v1' })));
    const api = createVmPlatformClient({ baseUrl: fake.baseUrl, retry: { baseDelayMs: 10 } });
    const created = await api.POST('/api/vms', { body: vmBody });
    expect(created.response.status).toBe(202);
    expect(new Set(fake.seen.map((s) => s.key)).size).toBe(1);
    expect(fake.seen).toHaveLength(3);
  });

  it('returns at once a Retry-After longer than maxDelayMs, and gives up after `retries`', async () => {
    fake = await fakeServer((_req, res) => json(res, 429, problem('request.rate_limited', 429), { 'Retry-After': '120' }));
    const started = Date.now();
    const slow = await createVmPlatformClient({ baseUrl: fake.baseUrl, retry: { maxDelayMs: 5000 } }).GET('/api/health');
    expect(slow.response.status).toBe(429);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(fake.seen).toHaveLength(1);
    await fake.close();

    fake = await fakeServer((_req, res) => json(res, 503, problem('service.unavailable', 503), { 'Retry-After': '0' }));
    const exhausted = await createVmPlatformClient({ baseUrl: fake.baseUrl, retry: { retries: 2 } }).GET('/api/health');
    expect(exhausted.response.status).toBe(503);
    expect(fake.seen).toHaveLength(3);
  });

  it('times each attempt out (timeoutMs) and retries a timed-out GET; a caller signal bounds the whole call', async () => {
    fake = await fakeServer((_req, res, n) => (n === 1 ? undefined : json(res, 200, { status: 'ok' })));
    const api = createVmPlatformClient({ baseUrl: fake.baseUrl, timeoutMs: 300, retry: { baseDelayMs: 10 } });
    const ok = await api.GET('/api/health');
    expect(ok.response.status).toBe(200);
    expect(fake.seen).toHaveLength(2);
    await fake.close();

    fake = await fakeServer(() => null); // never answers
    const started = Date.now();
    await expect(
      createVmPlatformClient({ baseUrl: fake.baseUrl, timeoutMs: 0 }).GET('/api/health', { signal: AbortSignal.timeout(300) }),
    ).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fake.seen).toHaveLength(1);
  });

  it('waitForVm gives up at its deadline with WaitError(timeout) and the last status', async () => {
    fake = await fakeServer((_req, res) => json(res, 200, { id: 'v1', status: 'provisioning', ssh_command: null }));
    const api = createVmPlatformClient({ baseUrl: fake.baseUrl });
    const err = await api.waitForVm('v1', 'running', { timeoutMs: 1000, intervalMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitError);
    expect(err).toMatchObject({ reason: 'timeout', last: { status: 'provisioning' } });
    expect(fake.seen.length).toBeGreaterThanOrEqual(2); // polled until the deadline, not once
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-06T00:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7000);
    expect(retryAfterMs('Sun, 06 Dec 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});

describe('SDK helpers against the running service (e2e)', () => {
  let ctx: TestContext;
  let baseUrl: string;
  let user: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { INITIAL_CREDITS: 100 } });
    baseUrl = await listen(ctx);
    user = await newUser(ctx, { credits: 1000 });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('exports the enums of the contract', async () => {
    const spec = JSON.parse(await readFile('openapi.json', 'utf8')) as { components: { schemas: Record<string, { enum?: string[] }> } };
    const enumOf = (name: string) => spec.components.schemas[name]!.enum;
    expect({ VM_STATUSES, VM_ACTIONS, EVENT_TYPES, EVENT_SEVERITIES, CREDIT_KINDS }).toEqual({
      VM_STATUSES: enumOf('VmStatus'),
      VM_ACTIONS: enumOf('VmAction'),
      EVENT_TYPES: enumOf('EventType'),
      EVENT_SEVERITIES: enumOf('EventSeverity'),
      CREDIT_KINDS: enumOf('CreditKind'),
    });
  });

  it('creates with an automatic Idempotency-Key, pages through every VM, waits for running and streams the events', async () => {
    const sent: (string | null)[] = [];
    const api = createVmPlatformClient({
      baseUrl,
      token: user.token,
      fetch: (input, init) => {
        const request = new Request(input, init);
        if (request.method === 'POST') sent.push(request.headers.get('Idempotency-Key'));
        return fetch(request);
      },
    });
    const stop = new AbortController();
    const streamed: Event[] = [];
    const tail = (async () => {
      for await (const event of api.events({ signal: stop.signal })) streamed.push(event);
    })();

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(unwrap(await api.POST('/api/vms', { body: { ...vmBody, name: `page-${i}` } })).id);
    expect(sent).toHaveLength(5);
    expect(sent.every((k) => k && /^[0-9a-f-]{36}$/.test(k))).toBe(true);
    const keys = await ctx.db.query('SELECT count(*)::int AS n FROM idempotency_keys WHERE user_id = $1', [user.id]);
    expect(keys[0].n).toBe(5);

    const seen: string[] = [];
    for await (const vm of api.paginate('/api/vms', { query: { limit: 2 } })) seen.push(vm.id);
    expect(seen.sort()).toEqual([...ids].sort());

    const progress: string[] = [];
    const running = await api.waitForVm(ids[0]!, 'running', {
      timeoutMs: 30_000,
      intervalMs: 100,
      onStatus: (s) => progress.push(s.status),
    });
    expect(running.status).toBe('running');
    expect(running.ssh_command).toMatch(/^ssh /);
    expect(progress.at(-1)).toBe('running');

    await eventually(
      () => Promise.resolve(streamed.filter((e) => e.action === 'vm.create').length === 5),
      20_000,
      'five vm.create events on the stream',
    );
    stop.abort();
    await tail; // the loop ends without an error when the signal aborts
    expect(streamed.every((e) => e.user_id === user.id)).toBe(true);

    // Events page too (ledger and events are lists like any other).
    let creates = 0;
    for await (const e of api.paginate('/api/events', { query: { limit: 3, vm_id: ids[0] } })) if (e.action === 'vm.create') creates++;
    expect(creates).toBe(1);
  });

  it('types errors by code: unwrap throws ApiError, isApiError narrows to the problem of that code', async () => {
    const api = createVmPlatformClient({ baseUrl, token: user.token });
    const missing = await api.waitForVm('00000000-0000-4000-8000-000000000000', 'running', { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(isApiError(missing, 'vm.not_found')).toBe(true);
    expect(missing).toMatchObject({ status: 404, code: 'vm.not_found' });

    const err = await api
      .POST('/api/vms', { body: { ...vmBody, name: 'huge', ram_mb: 65536, disk_gb: 2048, cpu_cores: 32 } })
      .then(unwrap)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    if (!isApiError(err, 'credits.insufficient')) throw new Error(`expected credits.insufficient, got ${String(err)}`);
    expect(err.problem.cost).toBe(1370);
    expect(err.status).toBe(402);
    expect(isApiError(err, 'vm.not_found')).toBe(false);
  });

  it('waitForVm rejects with WaitError(settled) when the VM settles elsewhere', async () => {
    const api = createVmPlatformClient({ baseUrl, token: user.token });
    const { id } = unwrap(await api.POST('/api/vms', { body: { ...vmBody, name: 'settle' } }));
    await api.waitForVm(id, 'running', { timeoutMs: 30_000, intervalMs: 100 });
    const err = await api.waitForVm(id, 'stopped', { timeoutMs: 5000, intervalMs: 100 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'WaitError', reason: 'settled', last: { status: 'running' } });
  });

  it('ends the event stream with ApiError when the token is refused', async () => {
    const api = createVmPlatformClient({ baseUrl, token: 'not-a-token' });
    const err = await (async () => {
      for await (const event of api.events()) throw new Error(`unexpected event ${event.action}`);
    })().catch((e: unknown) => e);
    expect(isApiError(err, 'auth.token_invalid')).toBe(true);
  });
});
