import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

/** A raw HTTP/1.1 exchange: writes `head` (and `body`, if any), resolves with all the server sent and when it closed. */
function rawExchange(port: number, head: string, body = '', localAddress?: string): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => socket.write(head + body));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ text, closedAfterMs: Date.now() - started }));
    setTimeout(() => reject(new Error(`still open after 20 s; got ${JSON.stringify(text)}`)), 20_000).unref();
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

describe('hostile bodies and slow clients (e2e)', () => {
  let ctx: TestContext;
  let user: TestUser;
  let port: number;

  beforeAll(async () => {
    ctx = await createTestApp({
      env: { REQUEST_BODY_TIMEOUT_SECONDS: 1, REQUEST_HEADERS_TIMEOUT_SECONDS: 1, MAX_CONNECTIONS_PER_IP: 5 },
    });
    await ctx.app.listen(0, '127.0.0.1');
    port = (ctx.app.getHttpServer().address() as AddressInfo).port;
    user = await newUser(ctx, { credits: 1000 });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('refuses bodies with more keys and elements than the route accepts, before any auth or validation, in a small answer', async () => {
    // 130,000 elements (260 kB) answered 500 before (a RangeError in the reserved-key check).
    const array = JSON.stringify({ email: Array.from({ length: 130_000 }, () => 1) });
    const keys = JSON.stringify(Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, 1])));
    for (const body of [array, keys]) {
      for (const path of ['/api/auth/login', '/api/auth/register', '/api/vms']) {
        const res = await ctx.http.post(path).set('content-type', 'application/json').send(body).expect(413);
        expect(res.body).toMatchObject({ code: 'request.too_many_members', max_members: expect.any(Number) });
        expect(res.text.length).toBeLessThan(2000);
      }
    }
    // A top-level array is no route's body.
    const top = await ctx.http
      .post('/api/auth/login')
      .set('content-type', 'application/json')
      .send(JSON.stringify([1, 2]))
      .expect(400);
    expect(top.body).toMatchObject({ code: 'request.body_not_object', detail: 'The request body must be a JSON object, not an array' });
  });

  it('lists at most 20 field errors and counts the rest (the answer stays a few kB)', async () => {
    const many = Object.fromEntries(Array.from({ length: 900 }, (_, i) => [`field_${i}`, 'x']));
    const res = await ctx.http.post('/api/auth/login').send(many).expect(400);
    expect(res.body.code).toBe('request.validation');
    expect(res.body.errors).toHaveLength(20);
    expect(res.body.errors_omitted).toBe(880);
    expect(res.body.detail).toMatch(/; and 880 more$/);
    expect(res.text.length).toBeLessThan(4000);
    // A few unknown fields are still reported with the declared ones.
    const few = await ctx.http.post('/api/auth/login').send({ email: 'not-an-email', password: 'x', extra: 1 }).expect(400);
    expect(few.body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(['email', 'extra']));
    expect(few.body.errors_omitted).toBeUndefined();
  });

  it('still takes the largest bodies routes accept: a full metrics batch, metadata of 16 KiB with thousands of elements', async () => {
    const vm = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({
        name: 'big-metadata',
        os_type: 'ubuntu-22.04',
        ram_mb: 512,
        disk_gb: 10,
        cpu_cores: 1,
        metadata: { samples: Array.from({ length: 5000 }, () => 0) },
      })
      .expect(202);
    const points = Array.from({ length: 1000 }, (_, i) => ({
      name: 'app.requests',
      value: i,
      unit: 'req/s',
      recorded_at: new Date(Date.now() - i * 1000).toISOString(),
    }));
    const res = await ctx.http.post(`/api/vms/${vm.body.id}/metrics`).set(user.auth).send({ points });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ accepted: 1000 });
  });

  it('keeps another user’s reads fast while hostile bodies arrive, each costing little CPU', async () => {
    const hostile = JSON.stringify({ email: Array.from({ length: 117_000 }, () => 1) }); // 234 kB
    expect(hostile.length).toBeGreaterThan(230_000);
    const read = async () => {
      const started = performance.now();
      await ctx.http.get('/api/vms').set(user.auth).expect(200);
      return performance.now() - started;
    };
    const baseline: number[] = [];
    for (let i = 0; i < 20; i++) baseline.push(await read());

    let sending = true;
    let sent = 0;
    const cpuBefore = process.cpuUsage();
    const senders = [0, 1].map(async () => {
      while (sending) {
        await ctx.http.post('/api/auth/login').set('content-type', 'application/json').send(hostile).expect(413);
        sent++;
      }
    });
    const during: number[] = [];
    for (let i = 0; i < 20; i++) during.push(await read());
    sending = false;
    await Promise.all(senders);
    const cpu = process.cpuUsage(cpuBefore);
    // CPU of this whole process (the app, the senders and the reader) per hostile body, reads included: an upper bound.
    const cpuPerHostileMs = (cpu.user + cpu.system) / 1000 / sent;
    console.log(
      `hostile bodies: ${sent} sent; victim read p50 ${median(baseline)!.toFixed(1)} ms before, ${median(during)!.toFixed(1)} ms during; ` +
        `process CPU per hostile body <= ${cpuPerHostileMs.toFixed(1)} ms`,
    );
    expect(sent).toBeGreaterThan(10);
    expect(cpuPerHostileMs).toBeLessThan(50);
    // Wide enough for a loaded machine; before the limits a read waited 0.5-2 s behind each such body.
    expect(median(during)).toBeLessThan(median(baseline)! * 5 + 100);
  });

  it('decodes gzip, deflate and br bodies under the same size limit, and refuses other encodings and charsets with 415', async () => {
    // fetch, not supertest: superagent would serialize a Buffer sent as JSON.
    const post = async (body: Buffer | string, headers: Record<string, string>) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      return { status: res.status, body: (await res.json()) as { code: string } };
    };
    const login = JSON.stringify({ email: 'nobody@example.test', password: 'wrong-password' });
    for (const [encoding, encode] of [
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ] as const) {
      expect(await post(encode(login), { 'content-encoding': encoding })).toEqual({
        status: 401,
        body: expect.objectContaining({ code: 'auth.invalid_credentials' }),
      });
    }
    // 1 MB of JSON that gzips to about 1 kB: the limit applies after decoding.
    const bomb = gzipSync(JSON.stringify({ email: 'a'.repeat(1024 * 1024) }));
    expect(bomb.length).toBeLessThan(10_000);
    expect(await post(bomb, { 'content-encoding': 'gzip' })).toEqual({
      status: 413,
      body: expect.objectContaining({ code: 'request.too_large' }),
    });
    expect(await post(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' })).toEqual({
      status: 400,
      body: expect.objectContaining({ code: 'request.invalid_encoding' }),
    });
    expect(await post(login, { 'content-encoding': 'compress' })).toEqual({
      status: 415,
      body: expect.objectContaining({ code: 'request.unsupported_encoding' }),
    });
    expect(await post(Buffer.from(login, 'utf16le'), { 'content-type': 'application/json; charset=utf-16le' })).toEqual({
      status: 415,
      body: expect.objectContaining({ code: 'request.unsupported_charset' }),
    });
    expect((await post(login, { 'content-type': 'application/json; charset="UTF-8"' })).status).toBe(401);
  });

  it('answers a body that stops arriving with 408 problem+json after REQUEST_BODY_TIMEOUT_SECONDS and closes the connection', async () => {
    const head = `POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`;
    const { text, closedAfterMs } = await rawExchange(port, head, '{"email":');
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(text).toMatch(/content-type: application\/problem\+json/i);
    expect(text).toMatch(/connection: close/i);
    expect(text).toContain('"code":"request.body_timeout"');
    expect(closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(closedAfterMs).toBeLessThan(8000);
  });

  it('closes a connection whose headers do not arrive within REQUEST_HEADERS_TIMEOUT_SECONDS', async () => {
    const { closedAfterMs } = await rawExchange(port, 'GET /api/health HTTP/1.1\r\nHost: x\r\n');
    expect(closedAfterMs).toBeLessThan(8000);
  });

  it('closes connections past MAX_CONNECTIONS_PER_IP from one address at once; other addresses are served', async () => {
    const open = (localAddress: string) =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
        s.on('error', reject);
      });
    const held = await Promise.all(Array.from({ length: 5 }, () => open('127.0.0.2')));
    try {
      // The sixth from that address: closed by the server before any answer.
      const refused = await rawExchange(port, 'GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n', '', '127.0.0.2');
      expect(refused.text).toBe('');
      // Another address is served as usual.
      const served = await rawExchange(port, 'GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '', '127.0.0.3');
      expect(served.text).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      for (const s of held) s.destroy();
    }
    // Once they are closed, that address is served again.
    await expect(
      (async () => {
        for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
          const again = await rawExchange(port, 'GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '', '127.0.0.2');
          if (again.text.startsWith('HTTP/1.1 200')) return true;
        }
        return false;
      })(),
    ).resolves.toBe(true);
  });
});
