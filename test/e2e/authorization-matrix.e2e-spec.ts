import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import type { Test } from 'supertest';
import { eventually, newUser, TestUser } from '../support/factories';
import { sshKeygen } from '../support/ssh-keygen';
import { listen, openSse } from '../support/sse';
import { createTestApp, TEST_HOST, TestContext } from '../support/test-app';

type Who = 'anonymous' | 'stranger' | 'owner' | 'admin';

interface Row {
  /** Expected status per caller. `stranger` is a normal user acting on someone else's resource. */
  expect: Record<Who, number>;
  body?: () => object;
  /** Appended to the path. */
  query?: string;
  /** A Server-Sent Events stream: only the status is read, then the connection is closed. */
  stream?: boolean;
  /** What {id} stands for, when not the owner's VM (or user, on admin user routes). */
  /** Whose id `{id}` is (default: the owner's VM, or the owner for admin user routes); `otherVm`: the owner's second VM and its snapshot. */
  id?: 'sshKey' | 'apiToken' | 'webhook' | 'otherVm';
}

/**
 * The scope each operation needs of an API token (`x-required-scope`): checked against the document here,
 * and allowed and refused per scope in api-tokens.e2e-spec.ts. `public`: no token needed.
 */
const SCOPES: Record<string, string> = {
  'POST /api/auth/register': 'public',
  'POST /api/auth/login': 'public',
  'GET /api': 'public',
  'GET /api/health': 'public',
  'GET /api/users/me': 'none',
  'POST /api/auth/logout': 'login',
  'POST /api/users/me/password': 'login',
  'GET /api/credits/transactions': 'credits:read',
  'GET /api/events': 'events:read',
  'GET /api/events/stream': 'events:read',
  'GET /api/vms/os-types': 'vms:read',
  'GET /api/vms/quota': 'vms:read',
  'POST /api/vms/quota-check': 'vms:read',
  'GET /api/vms': 'vms:read',
  'GET /api/vms/{id}': 'vms:read',
  'GET /api/vms/{id}/status': 'vms:read',
  'GET /api/vms/{id}/metrics': 'vms:read',
  'POST /api/vms': 'vms:write',
  'PATCH /api/vms/{id}': 'vms:write',
  'POST /api/vms/{id}/action': 'vms:write',
  'DELETE /api/vms/{id}': 'vms:write',
  'POST /api/vms/{id}/metrics': 'vms:write',
  'GET /api/vms/{id}/snapshots': 'vms:read',
  'GET /api/vms/{id}/snapshots/{snapshot_id}': 'vms:read',
  'POST /api/vms/{id}/snapshots': 'vms:write',
  'DELETE /api/vms/{id}/snapshots/{snapshot_id}': 'vms:write',
  'POST /api/vms/{id}/snapshots/{snapshot_id}/restore': 'vms:write',
  'GET /api/ssh-keys': 'ssh_keys:read',
  'POST /api/webhooks': 'webhooks:write',
  'GET /api/webhooks': 'webhooks:read',
  'GET /api/webhooks/{id}': 'webhooks:read',
  'PATCH /api/webhooks/{id}': 'webhooks:write',
  'DELETE /api/webhooks/{id}': 'webhooks:write',
  'GET /api/webhooks/{id}/deliveries': 'webhooks:read',
  'POST /api/webhooks/{id}/deliveries/{delivery_id}/retry': 'webhooks:write',
  'GET /api/ssh-keys/{id}': 'ssh_keys:read',
  'POST /api/ssh-keys': 'ssh_keys:write',
  'DELETE /api/ssh-keys/{id}': 'ssh_keys:write',
  'GET /api/tokens': 'tokens:read',
  'POST /api/tokens': 'tokens:write',
  'DELETE /api/tokens/{id}': 'tokens:write',
  'GET /api/admin/vms': 'admin:read',
  'GET /api/admin/events': 'admin:read',
  'GET /api/admin/events/stream': 'admin:read',
  'GET /api/admin/users': 'admin:read',
  'GET /api/admin/users/{id}': 'admin:read',
  'GET /api/admin/users/{id}/credits/transactions': 'admin:read',
  'GET /api/admin/credits/audit': 'admin:read',
  'GET /api/admin/hosts': 'admin:read',
  'GET /api/admin/health': 'admin:read',
  'GET /api/admin/hosts/{name}': 'admin:read',
  'POST /api/admin/vms/{id}/action': 'admin:write',
  'PATCH /api/admin/users/{id}': 'admin:write',
  'POST /api/admin/users/{id}/credits': 'admin:write',
  'POST /api/admin/users/{id}/sign-out': 'admin:write',
  'PATCH /api/admin/hosts/{name}': 'admin:write',
};

const spec = { os_type: 'ubuntu-22.04', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };
// Each caller adds this key once (keys are unique per user, not across users).
const matrixKey = sshKeygen('ed25519').publicKey;
let n = 0;

/**
 * Every operation in openapi.json must have a row here: a route added without one fails the test.
 * {id} is the owner's VM on VM routes and the owner's user id on admin user routes.
 */
const MATRIX: Record<string, Row> = {
  'POST /api/auth/register': {
    expect: { anonymous: 202, stranger: 202, owner: 202, admin: 202 },
    body: () => ({ username: `m${++n}x${Date.now() % 1e6}`, email: `m${n}.${Date.now()}@example.test`, password: 'password1' }),
  },
  'POST /api/auth/login': {
    expect: { anonymous: 401, stranger: 401, owner: 401, admin: 401 },
    body: () => ({ email: 'no@example.test', password: 'nope-nope' }),
  },
  'GET /api': { expect: { anonymous: 200, stranger: 200, owner: 200, admin: 200 } },
  'GET /api/health': { expect: { anonymous: 200, stranger: 200, owner: 200, admin: 200 } },
  'GET /api/users/me': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  'GET /api/credits/transactions': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  'GET /api/events': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  'GET /api/vms/os-types': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  'GET /api/vms/quota': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  'POST /api/vms/quota-check': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 }, body: () => spec },
  'POST /api/vms': { expect: { anonymous: 401, stranger: 202, owner: 202, admin: 202 }, body: () => ({ name: `mx${++n}`, ...spec }) },
  'GET /api/vms': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  // Someone else's VM is "not found", never "forbidden" — for admins too on the owner routes.
  'GET /api/vms/{id}': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 } },
  'GET /api/vms/{id}/status': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 } },
  'PATCH /api/vms/{id}': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 }, body: () => ({ metadata: { k: 'v' } }) },
  'POST /api/vms/{id}/action': { expect: { anonymous: 401, stranger: 404, owner: 409, admin: 404 }, body: () => ({ action: 'start' }) },
  // Snapshots are their VM's owner's alone, for admins too. The owner's create reuses a taken name (409 snapshot.name_taken);
  // the owner's delete is of the second VM's snapshot, the restore (just before the VM's DELETE) of the first's.
  'GET /api/vms/{id}/snapshots': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 } },
  'GET /api/vms/{id}/snapshots/{snapshot_id}': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 } },
  'POST /api/vms/{id}/snapshots': {
    expect: { anonymous: 401, stranger: 404, owner: 409, admin: 404 },
    body: () => ({ name: 'target-snap' }),
  },
  'DELETE /api/vms/{id}/snapshots/{snapshot_id}': { expect: { anonymous: 401, stranger: 404, owner: 202, admin: 404 }, id: 'otherVm' },
  'GET /api/admin/vms': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  'POST /api/admin/vms/{id}/action': {
    expect: { anonymous: 401, stranger: 403, owner: 403, admin: 409 },
    body: () => ({ action: 'start' }),
  },
  'GET /api/admin/events': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  'GET /api/admin/users': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  'GET /api/admin/users/{id}': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  'PATCH /api/admin/users/{id}': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 }, body: () => ({ is_active: true }) },
  'POST /api/admin/users/{id}/credits': {
    expect: { anonymous: 401, stranger: 403, owner: 403, admin: 201 },
    body: () => ({ amount: 1, reason: 'matrix' }),
  },
  'GET /api/admin/users/{id}/credits/transactions': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  'GET /api/admin/credits/audit': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  // {name}: the test app's own host (its in-process worker registered it).
  'GET /api/admin/hosts': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  'GET /api/admin/health': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  'GET /api/admin/hosts/{name}': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 } },
  'PATCH /api/admin/hosts/{name}': {
    expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 },
    body: () => ({ schedulable: true }),
  },
  // VM metrics: the owner or any admin (unlike the other owner routes).
  'POST /api/vms/{id}/metrics': {
    expect: { anonymous: 401, stranger: 404, owner: 201, admin: 201 },
    body: () => ({ points: [{ name: 'app.matrix', value: 1 }] }),
  },
  'GET /api/vms/{id}/metrics': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 200 }, query: 'name=cpu_percent' },
  'GET /api/events/stream': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 }, stream: true },
  'GET /api/admin/events/stream': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 200 }, stream: true },
  'POST /api/ssh-keys': {
    expect: { anonymous: 401, stranger: 201, owner: 201, admin: 201 },
    body: () => ({ name: 'matrix', public_key: matrixKey }),
  },
  'GET /api/ssh-keys': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  // Keys are their owner's alone, for admins too; the owner's DELETE (before the admin's turn) removes it.
  'GET /api/ssh-keys/{id}': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 }, id: 'sshKey' },
  'DELETE /api/ssh-keys/{id}': { expect: { anonymous: 401, stranger: 404, owner: 204, admin: 404 }, id: 'sshKey' },
  'POST /api/tokens': {
    expect: { anonymous: 401, stranger: 201, owner: 201, admin: 201 },
    body: () => ({ name: 'matrix', scopes: ['vms:read'] }),
  },
  'GET /api/tokens': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  // Tokens are their owner's alone, for admins too.
  'DELETE /api/tokens/{id}': { expect: { anonymous: 401, stranger: 404, owner: 204, admin: 404 }, id: 'apiToken' },
  'POST /api/vms/{id}/snapshots/{snapshot_id}/restore': { expect: { anonymous: 401, stranger: 404, owner: 202, admin: 404 } },
  // After every other VM route: the owner's DELETE starts destroying the VM.
  'DELETE /api/vms/{id}': { expect: { anonymous: 401, stranger: 404, owner: 202, admin: 404 } },
  // Webhook endpoints are their owner's alone, for admins too. Its delivery (of its own webhook.created)
  // is still pending (being retried), so the owner's retry is refused; the owner's DELETE comes last.
  'POST /api/webhooks': {
    expect: { anonymous: 401, stranger: 201, owner: 201, admin: 201 },
    body: () => ({ url: 'https://hooks.example.com/matrix', events: ['vm.*'] }),
  },
  'GET /api/webhooks': { expect: { anonymous: 401, stranger: 200, owner: 200, admin: 200 } },
  'GET /api/webhooks/{id}': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 }, id: 'webhook' },
  'PATCH /api/webhooks/{id}': {
    expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 },
    id: 'webhook',
    body: () => ({ description: 'matrix' }),
  },
  'GET /api/webhooks/{id}/deliveries': { expect: { anonymous: 401, stranger: 404, owner: 200, admin: 404 }, id: 'webhook' },
  'POST /api/webhooks/{id}/deliveries/{delivery_id}/retry': {
    expect: { anonymous: 401, stranger: 404, owner: 409, admin: 404 },
    id: 'webhook',
  },
  'DELETE /api/webhooks/{id}': { expect: { anonymous: 401, stranger: 404, owner: 204, admin: 404 }, id: 'webhook' },
  // Last, in this order: they end tokens. A wrong current password changes nothing.
  'POST /api/users/me/password': {
    expect: { anonymous: 401, stranger: 403, owner: 403, admin: 403 },
    body: () => ({ current_password: 'not-the-one', new_password: 'another-one' }),
  },
  // The admin signs the owner out everywhere, so the owner's logout below finds its token ended already.
  'POST /api/admin/users/{id}/sign-out': { expect: { anonymous: 401, stranger: 403, owner: 403, admin: 204 } },
  'POST /api/auth/logout': { expect: { anonymous: 401, stranger: 204, owner: 401, admin: 204 } },
};

describe('authorization matrix over every documented route (e2e)', () => {
  let ctx: TestContext;
  let users: Record<Exclude<Who, 'anonymous'>, TestUser>;
  let vmId: string;
  let snapshotId: string;
  let otherVmId: string;
  let otherSnapshotId: string;
  let sshKeyId: string;
  let apiTokenId: string;
  let webhookId: string;
  let deliveryId: string;
  let operations: string[];
  let declared: Record<string, unknown>;

  beforeAll(async () => {
    ctx = await createTestApp();
    users = {
      owner: await newUser(ctx, { credits: 1000 }),
      stranger: await newUser(ctx, { credits: 1000 }),
      admin: await newUser(ctx, { role: 'admin', credits: 1000 }),
    };
    vmId = (
      await ctx.http
        .post('/api/vms')
        .set(users.owner.auth)
        .send({ name: 'target', ...spec })
        .expect(202)
    ).body.id;
    await eventually(async () => (await ctx.http.get(`/api/vms/${vmId}`).set(users.owner.auth)).body.status === 'running');
    otherVmId = (
      await ctx.http
        .post('/api/vms')
        .set(users.owner.auth)
        .send({ name: 'other', ...spec })
        .expect(202)
    ).body.id;
    await eventually(async () => (await ctx.http.get(`/api/vms/${otherVmId}`).set(users.owner.auth)).body.status === 'running');
    // A snapshot of each, available, and the VMs' operation slots free again.
    const snapshotOf = async (vm: string) => {
      const id = (await ctx.http.post(`/api/vms/${vm}/snapshots`).set(users.owner.auth).send({ name: 'target-snap' }).expect(202)).body.id;
      await eventually(async () => {
        const [snap, owner] = await Promise.all([
          ctx.http.get(`/api/vms/${vm}/snapshots/${id}`).set(users.owner.auth),
          ctx.http.get(`/api/vms/${vm}`).set(users.owner.auth),
        ]);
        return snap.body.status === 'available' && owner.body.pending_operation === null;
      });
      return id as string;
    };
    snapshotId = await snapshotOf(vmId);
    otherSnapshotId = await snapshotOf(otherVmId);
    sshKeyId = (
      await ctx.http
        .post('/api/ssh-keys')
        .set(users.owner.auth)
        .send({ name: 'target', public_key: sshKeygen('ed25519').publicKey })
        .expect(201)
    ).body.id;
    apiTokenId = (
      await ctx.http
        .post('/api/tokens')
        .set(users.owner.auth)
        .send({ name: 'target', scopes: ['vms:read'] })
        .expect(201)
    ).body.id;
    webhookId = (
      await ctx.http
        .post('/api/webhooks')
        .set(users.owner.auth)
        .send({ url: 'https://hooks.example.com/target', events: ['webhook.*'] })
        .expect(201)
    ).body.id;
    deliveryId = (await ctx.http.get(`/api/webhooks/${webhookId}/deliveries`).set(users.owner.auth).expect(200)).body.items[0].id;
    const doc = JSON.parse(await readFile('openapi.json', 'utf8')) as { paths: Record<string, Record<string, Record<string, unknown>>> };
    operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
    declared = Object.fromEntries(
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.entries(item).map(([m, op]) => [
          `${m.toUpperCase()} ${path}`,
          op['x-required-scope'] ?? ((op.security as unknown[] | undefined)?.length ? undefined : 'public'),
        ]),
      ),
    );
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('has exactly one row per documented operation', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...operations].sort());
  });

  it('declares the scope of every operation as designed (x-required-scope)', () => {
    expect(Object.keys(SCOPES).sort()).toEqual([...operations].sort());
    expect(declared).toEqual(SCOPES);
  });

  it('answers each caller exactly as designed', async () => {
    const results: string[] = [];
    let checked = 0;
    for (const [key, row] of Object.entries(MATRIX)) {
      const [method, template] = key.split(' ');
      const id =
        row.id === 'sshKey'
          ? sshKeyId
          : row.id === 'apiToken'
            ? apiTokenId
            : row.id === 'webhook'
              ? webhookId
              : row.id === 'otherVm'
                ? otherVmId
                : template!.startsWith('/api/admin/users')
                  ? users.owner.id
                  : vmId;
      const snapshot = row.id === 'otherVm' ? otherSnapshotId : snapshotId;
      const path =
        template!.replace('{id}', id).replace('{snapshot_id}', snapshot).replace('{delivery_id}', deliveryId).replace('{name}', TEST_HOST) +
        (row.query ? `?${row.query}` : '');
      for (const who of ['anonymous', 'stranger', 'owner', 'admin'] as Who[]) {
        let res: { status: number; body?: unknown };
        if (row.stream) {
          const sse = await openSse(`${await listen(ctx)}${path}`, who === 'anonymous' ? {} : users[who].auth);
          sse.close();
          res = { status: sse.status };
        } else {
          let req: Test = (ctx.http as unknown as Record<string, (p: string) => Test>)[method!.toLowerCase()]!(path);
          if (who !== 'anonymous') req = req.set(users[who].auth);
          res = row.body ? await req.send(row.body()) : await req;
        }
        checked++;
        if (res.status !== row.expect[who])
          results.push(`${key} as ${who}: expected ${row.expect[who]}, got ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
      }
    }
    process.stdout.write(`authorization matrix: ${Object.keys(MATRIX).length} operations x 4 callers = ${checked} checks\n`);
    expect(results).toEqual([]);
  });
});
