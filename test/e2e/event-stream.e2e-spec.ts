import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EventsService } from '../../src/modules/events/events.service';
import { eventually, newUser, TestUser } from '../support/factories';
import { listen, openSse, SseClient, SseMessage } from '../support/sse';
import { createTestApp, createTestDatabase, TestContext, TestDatabase } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };
const action = (a: string) => (m: SseMessage) => m.data.action === a;

describe('live events over SSE, two API processes on one database (e2e)', () => {
  let database: TestDatabase;
  // A takes requests only (WORKER=false); B also runs the worker.
  let a: TestContext;
  let b: TestContext;
  let urlA: string;
  let urlB: string;
  let alice: TestUser;
  let bob: TestUser;
  let admin: TestUser;
  const streams: SseClient[] = [];
  const open = async (url: string, user: TestUser, headers: Record<string, string> = {}) => {
    const s = await openSse(url, { ...user.auth, ...headers });
    streams.push(s);
    return s;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    a = await createTestApp({ database, env: { WORKER: false } });
    b = await createTestApp({ database, env: { WORKER: true } });
    [urlA, urlB] = await Promise.all([listen(a), listen(b)]);
    alice = await newUser(a, { credits: 500 });
    bob = await newUser(a, { credits: 500 });
    admin = await newUser(a, { role: 'admin' });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await b?.close();
    await a?.close();
    await database?.drop();
  });

  it('pushes a user’s events from another process as they commit, with id = event id and the feed’s JSON', async () => {
    const stream = await open(`${urlA}/api/events/stream`, alice);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    // The VM is created through B and provisioned by B's worker; the stream is on A.
    const vm = await b.http
      .post('/api/vms')
      .set(alice.auth)
      .send({ name: 'live', ...spec })
      .expect(202);
    const got = await stream.waitFor(1, action('vm.provisioned'));
    expect(got[0]!.data).toMatchObject({ vm_id: vm.body.id, user_id: alice.id, type: 'vm', severity: 'info' });
    const actions = stream.messages.map((m) => m.data.action);
    expect(actions.slice(0, 3)).toEqual(['vm.create', 'system.credit_deduction', 'vm.provisioned']);
    const feed = await a.http.get(`/api/events?vm_id=${vm.body.id}`).set(alice.auth).expect(200);
    const byId = new Map(feed.body.items.map((e: { id: string }) => [e.id, e]));
    for (const m of stream.messages) {
      expect(m.id).toBe(m.data.id);
      expect(m.data).toEqual(byId.get(m.id!));
    }
    expect(stream.raw()).toMatch(/^retry: \d+\n\n/);
  });

  it('gives each user only their own events, and admins everyone’s on /api/admin/events/stream', async () => {
    const aliceStream = await open(`${urlB}/api/events/stream`, alice);
    const bobStream = await open(`${urlA}/api/events/stream`, bob);
    const adminStream = await open(`${urlA}/api/admin/events/stream`, admin);
    await a.http
      .post('/api/vms')
      .set(alice.auth)
      .send({ name: 'alices', ...spec })
      .expect(202);
    await b.http
      .post('/api/vms')
      .set(bob.auth)
      .send({ name: 'bobs', ...spec })
      .expect(202);
    const seen = await adminStream.waitFor(2, action('vm.create'));
    expect(new Set(seen.map((m) => m.data.user_id))).toEqual(new Set([alice.id, bob.id]));
    await bobStream.waitFor(1, action('vm.create'));
    await aliceStream.waitFor(1, action('vm.create'));
    expect(bobStream.messages.every((m) => m.data.user_id === bob.id)).toBe(true);
    expect(aliceStream.messages.every((m) => m.data.user_id === alice.id)).toBe(true);
  });

  it('refuses the admin stream to users (403) and every stream without a token (401)', async () => {
    const res = await a.http.get('/api/admin/events/stream').set(bob.auth).expect(403);
    expect(res.body.code).toBe('auth.forbidden');
    await a.http.get('/api/events/stream').expect(401);
    await a.http.get('/api/admin/events/stream').expect(401);
    const bad = await a.http.get('/api/events/stream').set(bob.auth).set('Last-Event-ID', 'nope').expect(400);
    expect(bad.body.code).toBe('events.invalid_last_event_id');
  });

  it('resumes with Last-Event-ID: the missed events first, in order, then live ones', async () => {
    const first = await open(`${urlA}/api/events/stream`, bob);
    await b.http
      .patch(`/api/vms/${(await vmOf(bob)).id}`)
      .set(bob.auth)
      .send({ metadata: { n: 1 } })
      .expect(200);
    const [seen] = await first.waitFor(1, action('vm.metadata_updated'));
    first.close();
    await first.ended;

    // While disconnected: three more events, made through the other process.
    const bobVm = await vmOf(bob);
    for (const n of [2, 3, 4]) await b.http.patch(`/api/vms/${bobVm.id}`).set(bob.auth).send({ metadata: { n } }).expect(200);

    const resumed = await open(`${urlA}/api/events/stream`, bob, { 'Last-Event-ID': seen!.id! });
    const missed = await resumed.waitFor(3, action('vm.metadata_updated'));
    expect(missed.map((m) => m.data.details.keys)).toEqual([['n'], ['n'], ['n']]);
    const ids = resumed.messages.map((m) => m.id!);
    expect(ids).toEqual([...ids].sort());
    expect(ids).not.toContain(seen!.id);
    // Everything of Bob's after `seen`, nothing else (his VM's provisioning may land in between).
    await eventually(
      async () => {
        const rows: { id: string }[] = await a.db.query(`SELECT id FROM events WHERE user_id = $1 AND id > $2 ORDER BY id`, [
          bob.id,
          seen!.id,
        ]);
        return JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(resumed.messages.map((m) => m.id));
      },
      10_000,
      'the replay to match the table',
    );

    // ... then live again, without duplicates.
    await b.http
      .patch(`/api/vms/${bobVm.id}`)
      .set(bob.auth)
      .send({ metadata: { n: 5 } })
      .expect(200);
    await resumed.waitFor(4, action('vm.metadata_updated'));
    expect(new Set(resumed.messages.map((m) => m.id)).size).toBe(resumed.messages.length);

    // The query parameter works for clients that cannot set headers, under its documented name and its first one.
    const viaQuery = await open(`${urlB}/api/events/stream?after_event_id=${seen!.id}`, bob);
    await viaQuery.waitFor(4, action('vm.metadata_updated'));
    const viaOldName = await open(`${urlB}/api/events/stream?last_event_id=${seen!.id}`, bob);
    await viaOldName.waitFor(4, action('vm.metadata_updated'));
  });

  it('never streams an event whose transaction rolled back', async () => {
    const stream = await open(`${urlA}/api/events/stream`, alice);
    const events = b.app.get(EventsService);
    await expect(
      b.db.transaction(async (m) => {
        await events.record(m, { action: 'vm.metadata_updated', message: 'rolled back', userId: alice.id });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await b.db.transaction((m) => events.record(m, { action: 'vm.metadata_updated', message: 'committed', userId: alice.id }));
    await stream.waitFor(1, (m) => m.data.message === 'committed');
    expect(stream.messages.map((m) => m.data.message)).not.toContain('rolled back');
  });

  it('survives the loss of its LISTEN connection: reconnects and delivers what happened meanwhile', async () => {
    const stream = await open(`${urlA}/api/events/stream`, alice);
    const events = b.app.get(EventsService);
    const record = (message: string) =>
      b.db.transaction((m) => events.record(m, { action: 'vm.metadata_updated', message, userId: alice.id }));
    await record('before');
    await stream.waitFor(1, (m) => m.data.message === 'before');
    // Kill every LISTEN connection on this database (A's and B's), then record while they reconnect.
    const [{ killed }] = await a.db.query(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS killed
         FROM pg_stat_activity WHERE application_name = 'vmapi-events' AND datname = current_database()`,
    );
    expect(killed).toBeGreaterThanOrEqual(1);
    await record('during');
    await stream.waitFor(1, (m) => m.data.message === 'during', 20_000);
    await eventually(async () => {
      const [{ n }] = await a.db.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'vmapi-events' AND datname = current_database()`,
      );
      return n >= 1;
    });
    await record('after');
    await stream.waitFor(1, (m) => m.data.message === 'after');
  });

  async function vmOf(user: TestUser): Promise<{ id: string }> {
    const list = await a.http.get('/api/vms').set(user.auth).expect(200);
    return list.body.items[0];
  }
});

describe('shutdown with open streams (e2e)', () => {
  it('ends open streams and its LISTEN connection when the app closes', async () => {
    const ctx = await createTestApp();
    const user = await newUser(ctx);
    const url = await listen(ctx);
    const s1 = await openSse(`${url}/api/events/stream`, user.auth);
    const s2 = await openSse(`${url}/api/events/stream`, user.auth);
    expect([s1.status, s2.status]).toEqual([200, 200]);
    const started = Date.now();
    await ctx.close();
    await Promise.all([s1.ended, s2.ended]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
