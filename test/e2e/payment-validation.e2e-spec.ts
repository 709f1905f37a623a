import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { CreditsService } from '../../src/modules/credits/credits.service';
import { newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

const spec = { os_type: 'ubuntu-22.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }; // costs 34

/**
 * Issue 22: a request that could never succeed is refused for what is wrong with it, not for its
 * price. Each body goes from a user with 0 credits (with and without an Idempotency-Key: the guard
 * and the debit answer) and from a user with plenty; the answers must be the same problem.
 */
describe('validation before payment (e2e)', () => {
  let ctx: TestContext;
  let rich: TestUser;
  let poor: TestUser;
  let strangersKey: string;

  const sshPublicKey = () =>
    `ssh-ed25519 ${Buffer.concat([
      Buffer.from([0, 0, 0, 11]),
      Buffer.from('ssh-ed25519'),
      Buffer.from([0, 0, 0, 32]),
      generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32),
    ]).toString('base64')} test`;

  beforeAll(async () => {
    ctx = await createTestApp();
    const admin = await newUser(ctx, { role: 'admin' });
    rich = await newUser(ctx, { credits: 100_000 });
    poor = await newUser(ctx, { credits: 1000 });
    // Both own a live VM named `taken` and have a RAM quota of 4096 MB (1024 in use).
    for (const user of [rich, poor]) {
      await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: 'taken', ...spec })
        .expect(202);
      await ctx.http
        .patch(`/api/admin/users/${user.id}`)
        .set(admin.auth)
        .send({ quotas: { ram_mb: 4096 } })
        .expect(200);
    }
    const [{ credits }] = await ctx.db.query('SELECT credits FROM users WHERE id = $1', [poor.id]);
    await ctx.db.transaction((m) =>
      ctx.app.get(CreditsService).apply(m, { userId: poor.id, amount: -credits, kind: 'admin_adjustment', reason: 'test: empty' }),
    );
    const stranger = await newUser(ctx);
    strangersKey = (await ctx.http.post('/api/ssh-keys').set(stranger.auth).send({ name: 'k', public_key: sshPublicKey() }).expect(201))
      .body.id;
  });
  afterAll(async () => {
    await ctx.close();
  });

  const cases: [string, () => Record<string, unknown>, number, string][] = [
    ['an unknown os_type', () => ({ name: 'n1', ...spec, os_type: 'plan9' }), 400, 'vm.unknown_os_type'],
    ['an unknown field', () => ({ name: 'n2', ...spec, admin: true }), 400, 'request.validation'],
    ['an invalid name', () => ({ name: 'Bad_Name', ...spec }), 400, 'request.validation'],
    ['no name', () => ({ ...spec }), 400, 'request.validation'],
    ['RAM over the largest size', () => ({ name: 'n3', ...spec, ram_mb: 131072 }), 400, 'request.validation'],
    ['metadata that is not an object', () => ({ name: 'n4', ...spec, metadata: 'x' }), 400, 'request.validation'],
    ['another user’s SSH key id', () => ({ name: 'n5', ...spec, ssh_key_ids: [strangersKey] }), 400, 'vm.unknown_ssh_key'],
    ['RAM over the quota', () => ({ name: 'n6', ...spec, ram_mb: 4096 }), 403, 'quota.exceeded'],
    ['a duplicate name', () => ({ name: 'taken', ...spec }), 409, 'vm.name_taken'],
    [
      'an unknown os_type and a duplicate name (the first check wins)',
      () => ({ name: 'taken', ...spec, os_type: 'plan9' }),
      400,
      'vm.unknown_os_type',
    ],
    [
      'a duplicate name over the quota (the quota is checked first)',
      () => ({ name: 'taken', ...spec, ram_mb: 4096 }),
      403,
      'quota.exceeded',
    ],
  ];

  const strip = ({ request_id: _r, instance: _i, ...rest }: Record<string, unknown>) => rest;

  it.each(cases)('%s: the same problem with 0 credits as with plenty', async (_what, body, status, code) => {
    const withCredits = await ctx.http.post('/api/vms').set(rich.auth).send(body());
    const without = await ctx.http.post('/api/vms').set(poor.auth).send(body());
    const keyed = await ctx.http.post('/api/vms').set(poor.auth).set('Idempotency-Key', `pv-${code}-${Math.random()}`).send(body());
    for (const res of [withCredits, without, keyed]) {
      expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect(strip(without.body)).toEqual(strip(withCredits.body));
    expect(strip(keyed.body)).toEqual(strip(withCredits.body));
  });

  it('still answers 402 for a valid body the balance cannot pay, and changes nothing', async () => {
    const body = { name: 'fine', ...spec };
    const res = await ctx.http.post('/api/vms').set(poor.auth).send(body).expect(402);
    expect(res.body).toMatchObject({ code: 'credits.insufficient', cost: 34, balance: 0 });
    const keyed = await ctx.http.post('/api/vms').set(poor.auth).set('Idempotency-Key', 'pv-valid').send(body).expect(402);
    expect(strip(keyed.body)).toEqual(strip(res.body));
    const [{ count }] = await ctx.db.query(`SELECT count(*)::int AS count FROM vms WHERE user_id = $1`, [poor.id]);
    expect(count).toBe(1);
    await ctx.http.post('/api/vms').set(rich.auth).send(body).expect(202);
  });
});
