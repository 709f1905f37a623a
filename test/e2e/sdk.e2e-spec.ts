import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import { createVmPlatformClient, type VmPlatformClient } from '../../sdk';
import { eventually, newUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

/** The whole VM flow through the generated client only: a document that lies fails here. */
describe('generated TypeScript SDK drives the API (e2e)', () => {
  let ctx: TestContext;
  let baseUrl: string;
  let token: string | undefined;
  let api: VmPlatformClient;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { INITIAL_CREDITS: 100 } });
    await ctx.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(ctx.app.getHttpServer().address() as AddressInfo).port}`;
    api = createVmPlatformClient({ baseUrl, token: () => token });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('register, login, quota check, create, poll to running, act, read events and ledger', async () => {
    const reg = await api.POST('/api/auth/register', { body: { username: 'sdkuser', email: 'sdk@example.com', password: 'sdk-password' } });
    expect(reg.response.status).toBe(202);
    expect(reg.data?.status).toBe('accepted');

    const bad = await api.POST('/api/auth/login', { body: { email: 'sdk@example.com', password: 'wrong-password' } });
    expect(bad.response.status).toBe(401);
    expect(bad.error?.code).toBe('auth.invalid_credentials');

    const login = await api.POST('/api/auth/login', { body: { email: 'sdk@example.com', password: 'sdk-password' } });
    token = login.data!.access_token;

    const quota = await api.POST('/api/vms/quota-check', { body: { ram_mb: 1024, disk_gb: 20, cpu_cores: 2 } });
    expect(quota.data).toEqual({ cost: 34, balance: 100, sufficient: true, balance_after: 66 });

    const tooBig = await api.POST('/api/vms', {
      body: { name: 'huge', os_type: 'ubuntu-24.04', ram_mb: 65536, disk_gb: 2048, cpu_cores: 32 },
    });
    expect(tooBig.response.status).toBe(402);
    expect(tooBig.error).toMatchObject({ code: 'credits.insufficient', cost: 1370, balance: 100 });

    const created = await api.POST('/api/vms', {
      body: { name: 'sdk-vm', os_type: 'ubuntu-24.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2, metadata: { via: 'sdk' } },
    });
    expect(created.response.status).toBe(202);
    const id = created.data!.id;

    const running = await eventually(async () => {
      const { data } = await api.GET('/api/vms/{id}/status', { params: { path: { id } } });
      return data?.status === 'running' ? data : null;
    });
    expect(running.ip_address).toBeTruthy();

    const conflict = await api.POST('/api/vms/{id}/action', { params: { path: { id } }, body: { action: 'start' } });
    expect(conflict.response.status).toBe(409);
    // Problems are typed per code: branching on `code` narrows to that problem's extension members.
    const problem = conflict.error;
    if (problem?.code !== 'vm.invalid_transition') throw new Error(`expected vm.invalid_transition, got ${JSON.stringify(problem)}`);
    expect(problem.allowed_actions).toEqual(['stop', 'restart', 'destroy', 'rebuild']);

    const stop = await api.POST('/api/vms/{id}/action', { params: { path: { id } }, body: { action: 'stop' } });
    expect(stop.data?.status).toBe('stopping');
    await eventually(async () => (await api.GET('/api/vms/{id}', { params: { path: { id } } })).data?.status === 'stopped');

    const patched = await api.PATCH('/api/vms/{id}', { params: { path: { id } }, body: { metadata: { via: null, team: 'sdk' } } });
    expect(patched.data?.metadata).toEqual({ team: 'sdk' });

    const list = await api.GET('/api/vms', { params: { query: { limit: 10 } } });
    expect(list.data?.items.map((v) => v.id)).toEqual([id]);

    const events = await api.GET('/api/events', { params: { query: { vm_id: id, limit: 50 } } });
    expect(events.data?.items.map((e) => e.action)).toEqual(
      expect.arrayContaining(['vm.create', 'system.credit_deduction', 'vm.provisioned', 'vm.stopped', 'vm.metadata_updated']),
    );
    const ledger = await api.GET('/api/credits/transactions');
    expect(ledger.data?.items.map((t) => [t.kind, t.amount])).toEqual([
      ['vm_create', -34],
      ['signup_grant', 100],
    ]);
  });

  it('lets an admin adjust credits and see it in the admin feed', async () => {
    const admin = await newUser(ctx, { role: 'admin' });
    const user = await newUser(ctx);
    const adminApi = createVmPlatformClient({ baseUrl, token: admin.token });
    const adjusted = await adminApi.POST('/api/admin/users/{id}/credits', {
      params: { path: { id: user.id } },
      body: { amount: 25, reason: 'sdk test' },
    });
    expect(adjusted.response.status).toBe(201);
    expect(adjusted.data).toMatchObject({ amount: 25, balance_after: 125, kind: 'admin_adjustment' });
    const feed = await adminApi.GET('/api/admin/events', { params: { query: { type: 'admin', user_id: user.id } } });
    expect(feed.data?.items[0]).toMatchObject({ action: 'admin.credit_adjustment', actor_id: admin.id });
    const forbidden = await createVmPlatformClient({ baseUrl, token: user.token }).GET('/api/admin/users');
    expect(forbidden.response.status).toBe(403);
  });
});
