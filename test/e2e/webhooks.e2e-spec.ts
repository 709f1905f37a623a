import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

/** Short retry settings so that backoff, recovery and the disabling window fit in a test. */
const RETRY = {
  WEBHOOKS_RETRY_BASE_DELAY_MS: 100,
  WEBHOOKS_RETRY_MAX_DELAY_MS: 400,
  WEBHOOKS_RETRY_WINDOW_SECONDS: 4,
  WEBHOOKS_TIMEOUT_MS: 1000,
};
const MAX_PER_USER = 5;

interface Attempt {
  attempt: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  attempted_at: string;
  next_attempt_at: string | null;
}
interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  attempt_log: Attempt[];
}

describe('Webhooks (e2e)', () => {
  let ctx: TestContext;
  let receiver: WebhookReceiver;
  const logs: string[] = [];

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    ctx = await createTestApp({
      captureLogs: logs,
      env: { WEBHOOKS_ALLOW_LOOPBACK: true, WEBHOOKS_MAX_PER_USER: MAX_PER_USER, QUOTA_MAX_VMS: 0, ...RETRY },
    });
  });
  afterAll(async () => {
    if (process.env.HOOKS_LOGS) writeFileSync(process.env.HOOKS_LOGS, logs.join('\n'));
    await ctx?.close();
    await receiver?.close();
  });

  const create = (user: TestUser, body: Record<string, unknown>) => ctx.http.post('/api/webhooks').set(user.auth).send(body);
  const createVm = async (user: TestUser) => {
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: `vm-${randomBytes(3).toString('hex')}`, os_type: 'ubuntu-22.04', ram_mb: 512, disk_gb: 10, cpu_cores: 1 });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };
  const deliveries = async (user: TestUser, id: string): Promise<Delivery[]> =>
    (await ctx.http.get(`/api/webhooks/${id}/deliveries?limit=100`).set(user.auth).expect(200)).body.items;
  const hookPath = (name: string) => `/${name}-${randomBytes(3).toString('hex')}`;

  it('delivers a user’s events to their endpoint, signed per Standard Webhooks, and shows the secret only once', async () => {
    const alice = await newUser(ctx, { credits: 1000 });
    const path = hookPath('alice');
    const res = await create(alice, { url: receiver.url(path), events: ['vm.*'], description: 'CI' }).expect(201);
    expect(res.headers.location).toBe(`/api/webhooks/${res.body.id}`);
    expect(res.body).toMatchObject({
      url: receiver.url(path),
      events: ['vm.*'],
      scope: 'own',
      description: 'CI',
      enabled: true,
      failing_since: null,
    });
    const secret = res.body.secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const vmId = await createVm(alice);
    const received = await eventually(
      async () => {
        const got = receiver.at(path);
        return got.some((r) => JSON.parse(r.body).type === 'vm.provisioned') && got;
      },
      15_000,
      'vm.provisioned delivered',
    );
    const hook = new Webhook(secret);
    const types = received.map((r) => {
      const payload = hook.verify(r.body, r.headers as Record<string, string>) as {
        type: string;
        timestamp: string;
        data: { id: string; user_id: string; vm_id: string; action: string };
      };
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['webhook-id']).toBe(payload.data.id);
      expect(payload.data).toMatchObject({ user_id: alice.id, vm_id: vmId, action: payload.type });
      // The user's view: the hypervisor host is an operator's detail.
      expect(payload.data).not.toHaveProperty('details.host');
      return payload.type;
    });
    expect(types).toEqual(expect.arrayContaining(['vm.create', 'vm.provisioned']));
    // Subscribed to vm.* only: the credit deduction of the same create is not sent.
    expect(types).not.toContain('system.credit_deduction');
    // Another secret does not verify.
    expect(() =>
      new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(received[0]!.body, received[0]!.headers as Record<string, string>),
    ).toThrow();

    const log = await eventually(
      async () => {
        const d = await deliveries(alice, res.body.id);
        return d.length >= 2 && d.every((x) => x.status === 'delivered') && d;
      },
      10_000,
      'deliveries recorded as delivered',
    );
    for (const d of log) {
      expect(d.attempts).toBe(1);
      expect(d.attempt_log).toEqual([
        expect.objectContaining({ attempt: 1, status_code: 200, error: null, next_attempt_at: null, duration_ms: expect.any(Number) }),
      ]);
    }

    // Never shown again, stored in no event, logged nowhere.
    const got = await ctx.http.get(`/api/webhooks/${res.body.id}`).set(alice.auth).expect(200);
    expect(got.body).not.toHaveProperty('secret');
    const listed = await ctx.http.get('/api/webhooks').set(alice.auth).expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    const [{ n }] = await ctx.db.query(
      `SELECT count(*)::int AS n FROM events WHERE details::text LIKE '%' || $1 || '%' OR message LIKE '%' || $1 || '%'`,
      [secret.slice(6)],
    );
    expect(n).toBe(0);
    expect(logs.filter((l) => l.includes(secret.slice(6)))).toEqual([]);
    const feed = await ctx.http.get('/api/events?type=auth&limit=100').set(alice.auth).expect(200);
    expect(feed.body.items.find((e: { action: string }) => e.action === 'webhook.created')).toMatchObject({
      details: { webhook_id: res.body.id, events: ['vm.*'], scope: 'own' },
    });

    // A manual retry sends it once more, with the same webhook-id.
    const first = log[log.length - 1];
    const before = receiver.at(path).filter((r) => r.headers['webhook-id'] === first!.event_id).length;
    const retried = await ctx.http.post(`/api/webhooks/${res.body.id}/deliveries/${first!.id}/retry`).set(alice.auth).expect(202);
    expect(retried.body).toMatchObject({ id: first!.id, status: 'pending' });
    await eventually(
      async () => receiver.at(path).filter((r) => r.headers['webhook-id'] === first!.event_id).length === before + 1,
      10_000,
      'redelivery',
    );
    const again = await eventually(
      async () => (await deliveries(alice, res.body.id)).find((d) => d.id === first!.id && d.status === 'delivered' && d.attempts === 2),
      10_000,
      'retry recorded',
    );
    expect(again.attempt_log.map((a) => a.attempt)).toEqual([1, 2]);
  });

  it('never delivers another user’s events; an admin’s endpoint of scope all gets everyone’s', async () => {
    const carol = await newUser(ctx, { credits: 1000 });
    const dave = await newUser(ctx, { credits: 1000 });
    const admin = await newUser(ctx, { role: 'admin' });
    const carolPath = hookPath('carol');
    const adminPath = hookPath('admin');
    const carolHook = await create(carol, { url: receiver.url(carolPath), events: ['vm.create'] }).expect(201);
    await create(carol, { url: receiver.url(hookPath('x')), events: ['vm.create'], scope: 'all' })
      .expect(403)
      .expect((r) => expect(r.body.code).toBe('webhooks.scope_forbidden'));
    await create(admin, { url: receiver.url(adminPath), events: ['vm.create'], scope: 'all' }).expect(201);

    const daveVm = await createVm(dave);
    const carolVm = await createVm(carol);
    await eventually(
      async () => receiver.at(carolPath).some((r) => JSON.parse(r.body).data.vm_id === carolVm),
      10_000,
      'carol’s own event',
    );
    await eventually(
      async () => receiver.at(adminPath).some((r) => JSON.parse(r.body).data.vm_id === daveVm),
      10_000,
      'dave’s event at the admin endpoint',
    );
    await eventually(
      async () => receiver.at(adminPath).some((r) => JSON.parse(r.body).data.vm_id === carolVm),
      10_000,
      'carol’s event at the admin endpoint',
    );
    // Dave's create committed before Carol's, whose delivery has arrived: Dave's was never queued for Carol.
    expect(receiver.at(carolPath).map((r) => JSON.parse(r.body).data.user_id)).toEqual([carol.id]);
    const rows = await ctx.db.query(
      `SELECT e.user_id FROM webhook_deliveries d JOIN events e ON e.id = d.event_id WHERE d.endpoint_id = $1`,
      [carolHook.body.id],
    );
    expect(rows).toEqual([{ user_id: carol.id }]);
    // The admin feed's view: the host is there.
    const adminGot = receiver.at(adminPath).find((r) => JSON.parse(r.body).data.vm_id === daveVm)!;
    expect(JSON.parse(adminGot.body).data.user_id).toBe(dave.id);
  });

  it('retries a failing receiver with growing delays until it recovers', async () => {
    const erin = await newUser(ctx, { credits: 1000 });
    const path = hookPath('flaky');
    const hook = await create(erin, {
      url: receiver.url(path, (n) => (n === 1 ? 500 : n === 2 ? 503 : 200)),
      events: ['vm.create'],
    }).expect(201);
    await createVm(erin);
    const [d] = await eventually(
      async () => {
        const list = await deliveries(erin, hook.body.id);
        return list[0]?.status === 'delivered' && list;
      },
      15_000,
      'delivered after retries',
    );
    expect(d!.attempts).toBe(3);
    expect(d!.attempt_log.map((a) => [a.status_code, a.error])).toEqual([
      [500, 'the receiver answered 500'],
      [503, 'the receiver answered 503'],
      [200, null],
    ]);
    // Each failure scheduled the next attempt after a backoff that doubles (100 ms, then 200 ms, each less up to a fifth).
    const [a1, a2, a3] = d!.attempt_log;
    const gap = (a: Attempt) => Date.parse(a.next_attempt_at!) - Date.parse(a.attempted_at);
    expect(gap(a1!)).toBeGreaterThanOrEqual(80 - 5);
    expect(gap(a2!)).toBeGreaterThanOrEqual(160 - 5);
    expect(Date.parse(a2!.attempted_at)).toBeGreaterThanOrEqual(Date.parse(a1!.next_attempt_at!));
    expect(Date.parse(a3!.attempted_at)).toBeGreaterThanOrEqual(Date.parse(a2!.next_attempt_at!));
    expect(a3!.next_attempt_at).toBeNull();
    // The same message each time.
    const ids = new Set(receiver.at(path).map((r) => r.headers['webhook-id']));
    expect(ids).toEqual(new Set([d!.event_id]));
    const endpoint = await ctx.http.get(`/api/webhooks/${hook.body.id}`).set(erin.auth).expect(200);
    expect(endpoint.body).toMatchObject({ enabled: true, failing_since: null });
  });

  it('records a receiver that hangs as a timeout, and one that redirects as a failure it does not follow', async () => {
    const frank = await newUser(ctx, { credits: 1000 });
    const hangPath = hookPath('hang');
    const redirectPath = hookPath('redirect');
    const targetPath = hookPath('target');
    const hang = await create(frank, { url: receiver.url(hangPath, (n) => (n === 1 ? 'hang' : 204)), events: ['vm.create'] }).expect(201);
    const redirect = await create(frank, {
      url: receiver.url(redirectPath, (n) => (n === 1 ? { redirect: receiver.url(targetPath) } : 200)),
      events: ['vm.create'],
    }).expect(201);
    await createVm(frank);

    const [h] = await eventually(
      async () => {
        const list = await deliveries(frank, hang.body.id);
        return list[0]?.status === 'delivered' && list;
      },
      15_000,
      'delivered after the timeout',
    );
    expect(h!.attempt_log[0]).toMatchObject({ attempt: 1, status_code: null, error: 'timed out after 1000 ms' });
    expect(h!.attempt_log[0]!.duration_ms).toBeGreaterThanOrEqual(950);
    expect(h!.attempt_log[0]!.next_attempt_at).not.toBeNull();
    expect(h!.attempt_log[1]).toMatchObject({ attempt: 2, status_code: 204, error: null });

    const [r] = await eventually(
      async () => {
        const list = await deliveries(frank, redirect.body.id);
        return list[0]?.status === 'delivered' && list;
      },
      15_000,
      'delivered after the redirect',
    );
    expect(r!.attempt_log[0]).toMatchObject({
      attempt: 1,
      status_code: 302,
      error: 'redirect (302) not followed: webhooks never follow redirects',
    });
    expect(receiver.at(targetPath)).toEqual([]);
  });

  it('disables an endpoint that fails for longer than the retry window, with an event', async () => {
    const gina = await newUser(ctx, { credits: 1000 });
    const path = hookPath('down');
    const hook = await create(gina, { url: receiver.url(path, () => 500), events: ['vm.create'] }).expect(201);
    const started = Date.now();
    await createVm(gina);
    const disabled = await eventually(
      async () => {
        const res = await ctx.http.get(`/api/webhooks/${hook.body.id}`).set(gina.auth).expect(200);
        return !res.body.enabled && res.body;
      },
      20_000,
      'endpoint disabled',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(RETRY.WEBHOOKS_RETRY_WINDOW_SECONDS * 1000 - 100);
    expect(disabled.disabled_reason).toBe('deliveries failed for more than 4 s; last error: the receiver answered 500');
    expect(disabled.disabled_at).not.toBeNull();
    const [d] = await deliveries(gina, hook.body.id);
    expect(d!.status).toBe('failed');
    expect(d!.attempts).toBeGreaterThanOrEqual(4);
    expect(d!.attempt_log.every((a) => a.status_code === 500)).toBe(true);
    expect(d!.attempt_log[d!.attempt_log.length - 1]!.next_attempt_at).toBeNull();
    const feed = await ctx.http.get('/api/events?limit=100').set(gina.auth).expect(200);
    expect(feed.body.items.find((e: { action: string }) => e.action === 'webhook.disabled')).toMatchObject({
      type: 'system',
      severity: 'warning',
      details: { webhook_id: hook.body.id, last_status_code: 500 },
    });

    // Disabled: new events are not queued for it; a retry is refused until it is turned back on.
    await createVm(gina);
    const [{ n }] = await ctx.db.query(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1`, [hook.body.id]);
    expect(n).toBe(1);
    await ctx.http
      .post(`/api/webhooks/${hook.body.id}/deliveries/${d!.id}/retry`)
      .set(gina.auth)
      .expect(409)
      .expect((r) => expect(r.body.code).toBe('webhooks.endpoint_disabled'));
    const enabled = await ctx.http.patch(`/api/webhooks/${hook.body.id}`).set(gina.auth).send({ enabled: true }).expect(200);
    expect(enabled.body).toMatchObject({ enabled: true, disabled_at: null, disabled_reason: null, failing_since: null });
  }, 40_000);

  it('refuses unknown event types and malformed patterns with precise codes, storing nothing', async () => {
    const hank = await newUser(ctx);
    const url = receiver.url('/never');
    const unknown = await create(hank, { url, events: ['vm.create', 'vm.exploded', 'credits.*'] }).expect(400);
    expect(unknown.body).toMatchObject({ code: 'webhooks.unknown_event_type', event_types: ['vm.exploded', 'credits.*'] });
    expect(unknown.body.known_event_types).toContain('vm.provisioned');
    const malformed = await create(hank, { url, events: ['vm.pro*'] }).expect(400);
    expect(malformed.body).toMatchObject({ code: 'webhooks.invalid_event_pattern', patterns: ['vm.pro*'] });
    await create(hank, { url, events: [] })
      .expect(400)
      .expect((r) => expect(r.body.code).toBe('request.validation'));
    await create(hank, { url, events: ['vm.*'], secret: 'whsec_mine' })
      .expect(400)
      .expect((r) => expect(r.body.code).toBe('request.validation'));
    const [{ n }] = await ctx.db.query(`SELECT count(*)::int AS n FROM webhook_endpoints WHERE user_id = $1`, [hank.id]);
    expect(n).toBe(0);
  });

  it('refuses private, link-local, metadata and non-https URLs even where loopback is allowed', async () => {
    const ivan = await newUser(ctx);
    const refuse = async (url: string, code: string, addresses?: string[]) => {
      const res = await create(ivan, { url, events: ['vm.*'] });
      expect({ url, status: res.status, code: res.body.code }).toEqual({ url, status: 400, code });
      if (addresses) expect(res.body.addresses).toEqual(addresses);
    };
    await refuse('https://10.0.0.1/hook', 'webhooks.url_not_allowed', ['10.0.0.1: private']);
    await refuse('https://169.254.169.254/latest/meta-data/', 'webhooks.url_not_allowed', ['169.254.169.254: linkLocal']);
    await refuse('https://100.64.1.1/', 'webhooks.url_not_allowed', ['100.64.1.1: carrierGradeNat']);
    await refuse('https://[fd00:ec2::254]/', 'webhooks.url_not_allowed', ['fd00:ec2::254: uniqueLocal']);
    await refuse('https://[::ffff:10.0.0.1]/', 'webhooks.url_not_allowed');
    await refuse('https://[fe80::1]/', 'webhooks.url_not_allowed');
    // Plain http only to loopback here.
    await refuse('http://93.184.215.14/hook', 'webhooks.https_required');
    await refuse('http://example.invalid/hook', 'webhooks.https_required');
    await refuse('ftp://example.com/hook', 'webhooks.invalid_url');
    await refuse('https://user:pw@example.com/hook', 'webhooks.invalid_url');
    await refuse('not a url', 'webhooks.invalid_url');
    // Loopback is allowed here (WEBHOOKS_ALLOW_LOOPBACK), by name and by IPv6 too.
    await create(ivan, { url: receiver.url('/by-name', undefined, 'localhost'), events: ['vm.*'] }).expect(201);
    await create(ivan, { url: `http://[::1]:${receiver.port}/v6`, events: ['vm.*'] }).expect(201);
  });

  it('deletes an endpoint with an event: its deliveries go, nothing more is sent', async () => {
    const judy = await newUser(ctx, { credits: 1000 });
    const gone = hookPath('gone');
    const kept = hookPath('kept');
    const hook = await create(judy, { url: receiver.url(gone), events: ['vm.create'] }).expect(201);
    await create(judy, { url: receiver.url(kept), events: ['vm.create'] }).expect(201);
    await createVm(judy);
    await eventually(async () => receiver.at(gone).length === 1, 10_000, 'first delivery');
    await ctx.http.delete(`/api/webhooks/${hook.body.id}`).set(judy.auth).expect(204);
    await ctx.http
      .get(`/api/webhooks/${hook.body.id}`)
      .set(judy.auth)
      .expect(404)
      .expect((r) => expect(r.body.code).toBe('webhooks.not_found'));
    await ctx.http.get(`/api/webhooks/${hook.body.id}/deliveries`).set(judy.auth).expect(404);
    const [{ n }] = await ctx.db.query(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1`, [hook.body.id]);
    expect(n).toBe(0);
    const vm = await createVm(judy);
    // The endpoint kept gets the new event; the deleted one, created before it, got nothing more.
    await eventually(
      async () => receiver.at(kept).some((r) => JSON.parse(r.body).data.vm_id === vm),
      10_000,
      'delivery to the endpoint kept',
    );
    expect(receiver.at(gone)).toHaveLength(1);
    const feed = await ctx.http.get('/api/events?type=auth&limit=100').set(judy.auth).expect(200);
    expect(feed.body.items.find((e: { action: string }) => e.action === 'webhook.deleted')).toMatchObject({
      details: { webhook_id: hook.body.id, url: receiver.url(gone) },
    });
    // Someone else's endpoint is not found either.
    const other = await newUser(ctx);
    await ctx.http
      .delete(`/api/webhooks/${(await create(judy, { url: receiver.url(kept), events: ['vm.*'] })).body.id}`)
      .set(other.auth)
      .expect(404);
  });

  it('limits endpoints per user', async () => {
    const kim = await newUser(ctx);
    for (let i = 0; i < MAX_PER_USER; i++) await create(kim, { url: receiver.url(`/limit-${i}`), events: ['vm.*'] }).expect(201);
    const res = await create(kim, { url: receiver.url('/limit-x'), events: ['vm.*'] }).expect(403);
    expect(res.body).toMatchObject({ code: 'webhooks.limit_reached', limit: MAX_PER_USER });
  });
});

describe('Webhooks without WEBHOOKS_ALLOW_LOOPBACK (e2e)', () => {
  let ctx: TestContext;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    ctx = await createTestApp({ env: { WEBHOOKS_ALLOW_HTTP: true, QUOTA_MAX_VMS: 0, ...RETRY } });
  });
  afterAll(async () => {
    await ctx?.close();
    await receiver?.close();
  });

  it('refuses loopback by address, by name and in IPv6', async () => {
    const user = await newUser(ctx);
    for (const [url, addresses] of [
      [receiver.url('/a'), ['127.0.0.1: loopback']],
      [`http://[::1]:${receiver.port}/b`, ['::1: loopback']],
      [`https://169.254.169.254/latest/meta-data/`, ['169.254.169.254: linkLocal']],
      [`http://10.0.0.1/`, ['10.0.0.1: private']],
    ] as const) {
      const res = await ctx.http
        .post('/api/webhooks')
        .set(user.auth)
        .send({ url, events: ['vm.*'] });
      expect({ url, status: res.status, code: res.body.code, addresses: res.body.addresses }).toEqual({
        url,
        status: 400,
        code: 'webhooks.url_not_allowed',
        addresses,
      });
    }
    const byName = await ctx.http
      .post('/api/webhooks')
      .set(user.auth)
      .send({ url: receiver.url('/c', undefined, 'localhost'), events: ['vm.*'] })
      .expect(400);
    expect(byName.body.code).toBe('webhooks.url_not_allowed');
    expect(byName.body.addresses).toContain('127.0.0.1: loopback');
    expect(receiver.received).toEqual([]);
  });

  it('checks the address again at connect time: a name that now resolves to loopback is never reached (DNS rebinding)', async () => {
    const user = await newUser(ctx, { credits: 1000 });
    // As if the names had resolved to a public address when the endpoints were created.
    const [byName] = await ctx.db.query(
      `INSERT INTO webhook_endpoints (user_id, url, events, secret) VALUES ($1, $2, '{vm.create}', $3) RETURNING id`,
      [user.id, receiver.url('/rebind', undefined, 'localhost'), `whsec_${randomBytes(32).toString('base64')}`],
    );
    const [literal] = await ctx.db.query(
      `INSERT INTO webhook_endpoints (user_id, url, events, secret) VALUES ($1, $2, '{vm.create}', $3) RETURNING id`,
      [user.id, receiver.url('/literal'), `whsec_${randomBytes(32).toString('base64')}`],
    );
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'rebind', os_type: 'ubuntu-22.04', ram_mb: 512, disk_gb: 10, cpu_cores: 1 })
      .expect(202);
    expect(res.body.id).toBeDefined();
    const firstAttempt = (endpointId: string) =>
      eventually(
        async () => {
          const list = (await ctx.http.get(`/api/webhooks/${endpointId}/deliveries`).set(user.auth).expect(200)).body.items as Delivery[];
          return list[0]?.attempt_log[0];
        },
        10_000,
        'first attempt',
      );
    expect(await firstAttempt(byName.id)).toMatchObject({
      status_code: null,
      error: expect.stringMatching(/^localhost resolves to no address webhooks may reach \(.*127\.0\.0\.1: loopback/),
    });
    expect(await firstAttempt(literal.id)).toMatchObject({
      status_code: null,
      error: '127.0.0.1 is not an address webhooks may reach (loopback)',
    });
    expect(receiver.received).toEqual([]);
  });
});
