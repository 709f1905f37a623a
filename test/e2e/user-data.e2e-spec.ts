import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };
/** In every script: must never reach a log, an event, an answer or another table. */
const SECRET = 'db-password-7f3a9c-never-shown';

interface Ev {
  action: string;
  message: string;
  details: Record<string, unknown>;
  severity: string;
}

describe('first-boot user data (e2e, simulator)', () => {
  let ctx: TestContext;
  let alice: TestUser;
  let admin: TestUser;
  const logs: string[] = [];

  beforeAll(async () => {
    ctx = await createTestApp({ captureLogs: logs, env: { LOG_LEVEL: 'debug' } });
    alice = await newUser(ctx, { credits: 1000 });
    admin = await newUser(ctx, { role: 'admin' });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const create = (name: string, user_data?: unknown) =>
    ctx.http
      .post('/api/vms')
      .set(alice.auth)
      .send({ name, ...spec, user_data });
  const vmOf = async (id: string) => (await ctx.http.get(`/api/vms/${id}`).set(alice.auth).expect(200)).body;
  const eventsOf = async (id: string): Promise<Ev[]> =>
    (await ctx.http.get(`/api/events?vm_id=${id}&limit=100`).set(alice.auth).expect(200)).body.items.reverse();
  const finished = (id: string) =>
    eventually(async () => (await eventsOf(id)).find((e) => e.action === 'vm.user_data_finished'), 10_000, `user data of ${id}`);

  it('runs the script at first boot: pending, then running with user_data_status succeeded and the output tail in vm.user_data_finished', async () => {
    const script = `#!/bin/sh\n# simulate-output: installing nginx\n# simulate-output: done\necho ${SECRET} > /root/secret\n`;
    const res = await create('ud-ok', script).expect(202);
    expect(res.body).toMatchObject({ status: 'provisioning', user_data_status: 'pending', user_data_size: Buffer.byteLength(script) });
    expect(res.body).not.toHaveProperty('user_data');
    const event = await finished(res.body.id);
    expect(event).toMatchObject({
      severity: 'info',
      details: { status: 'succeeded', exit_code: 0, output_tail: 'installing nginx\ndone' },
    });
    const vm = await vmOf(res.body.id);
    expect(vm).toMatchObject({ status: 'running', user_data_status: 'succeeded', user_data_size: script.length });
    const actions = (await eventsOf(res.body.id)).map((e) => e.action);
    expect(actions).toEqual(['vm.create', 'system.credit_deduction', 'vm.provisioned', 'vm.user_data_finished']);
    const created = (await eventsOf(res.body.id))[0];
    expect(created!.details.user_data_size).toBe(script.length);
  });

  it('a failing script leaves the VM running (you can log in) with user_data_status failed and its exit code', async () => {
    const res = await create('ud-fail', `#!/bin/bash\n# simulate-exit: 3\n# simulate-output: apt-get: not found\nexit 3\n`).expect(202);
    const event = await finished(res.body.id);
    expect(event).toMatchObject({ severity: 'warning', details: { status: 'failed', exit_code: 3, output_tail: 'apt-get: not found' } });
    expect(await vmOf(res.body.id)).toMatchObject({ status: 'running', user_data_status: 'failed' });
    // Later boots do not run it again.
    await ctx.http.post(`/api/vms/${res.body.id}/action`).set(alice.auth).send({ action: 'restart' }).expect(202);
    await eventually(async () => (await eventsOf(res.body.id)).some((e) => e.action === 'vm.restarted'), 10_000, 'restart');
    expect((await eventsOf(res.body.id)).filter((e) => e.action === 'vm.user_data_finished')).toHaveLength(1);
    expect((await vmOf(res.body.id)).user_data_status).toBe('failed');
  });

  it('without user data: user_data_status none, size null, no user-data event', async () => {
    const res = await create('ud-none').expect(202);
    expect(res.body).toMatchObject({ user_data_status: 'none', user_data_size: null });
    await eventually(async () => (await vmOf(res.body.id)).status === 'running', 10_000, 'running');
    expect((await eventsOf(res.body.id)).map((e) => e.action)).not.toContain('vm.user_data_finished');
    expect((await vmOf(res.body.id)).user_data_status).toBe('none');
  });

  it('accepts exactly 64 KiB and refuses one byte more (400 vm.user_data_too_large with size and max_size), charging nothing', async () => {
    const head = '#!/bin/sh\n';
    const exact = head + 'x'.repeat(65536 - head.length);
    await create('ud-max', exact).expect(202);
    const before = (await ctx.http.get('/api/users/me').set(alice.auth).expect(200)).body.credits;
    const over = await create('ud-over', `${exact}y`).expect(400);
    expect(over.body).toMatchObject({ code: 'vm.user_data_too_large', size: 65537, max_size: 65536 });
    // Multi-byte characters count in bytes (UTF-8), not characters.
    const wide = await create('ud-wide', head + 'é'.repeat(32768)).expect(400);
    expect(wide.body).toMatchObject({ code: 'vm.user_data_too_large', size: head.length + 65536 });
    expect((await ctx.http.get('/api/users/me').set(alice.auth).expect(200)).body.credits).toBe(before);
  });

  it('refuses a body that is not a #! script (400 vm.user_data_not_script) and a non-string (400 request.validation)', async () => {
    for (const text of ['echo hi', '', ' #!/bin/sh\necho', '\n#!/bin/sh']) {
      const res = await create('ud-bad', text);
      expect({ text, status: res.status, code: res.body.code }).toEqual({ text, status: 400, code: 'vm.user_data_not_script' });
    }
    for (const value of [42, ['#!/bin/sh'], { script: '#!/bin/sh' }]) {
      const res = await create('ud-bad', value);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'request.validation' });
    }
  });

  it('is answered to no one: the admin view shows status and size only, and no log line, event or other table holds the script', async () => {
    const res = await create('ud-admin', `#!/bin/sh\necho ${SECRET}\n`).expect(202);
    await finished(res.body.id);
    const page = await ctx.http.get(`/api/admin/vms?user_id=${alice.id}&limit=100`).set(admin.auth).expect(200);
    const seen = page.body.items.find((v: { id: string }) => v.id === res.body.id);
    expect(seen).toMatchObject({ user_data_status: 'succeeded', user_data_size: `#!/bin/sh\necho ${SECRET}\n`.length });
    expect(JSON.stringify(page.body)).not.toContain(SECRET);
    const adminEvents = await ctx.http.get(`/api/admin/events?limit=100`).set(admin.auth).expect(200);
    expect(JSON.stringify(adminEvents.body)).not.toContain(SECRET);
    expect(JSON.stringify(await vmOf(res.body.id))).not.toContain(SECRET);
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.filter((l) => l.includes(SECRET))).toEqual([]);
    // Only the vms row holds it, in the column the API never selects.
    const [{ holders }] = await ctx.db.query(
      `SELECT (SELECT count(*) FROM events WHERE details::text LIKE $1 OR message LIKE $1)::int
            + (SELECT count(*) FROM idempotency_keys WHERE response_body::text LIKE $1)::int AS holders`,
      [`%${SECRET}%`],
    );
    expect(holders).toBe(0);
    const [{ stored }] = await ctx.db.query(`SELECT count(*)::int AS stored FROM vms WHERE user_data LIKE $1`, [`%${SECRET}%`]);
    expect(stored).toBe(2);
  });
});
