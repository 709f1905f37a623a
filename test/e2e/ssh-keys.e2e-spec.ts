import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { SimulatorProvider } from '../../src/modules/vms/providers/simulator.provider';
import { VM_PROVIDER } from '../../src/modules/vms/providers/vm-provider.interface';
import { eventually, newUser, TestUser } from '../support/factories';
import { rsaKeyLine, sshKeygen } from '../support/ssh-keygen';
import { createTestApp, TestContext } from '../support/test-app';

const spec = { os_type: 'ubuntu-22.04', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }; // costs 17
const MAX_KEYS = 8;

describe('SSH keys (e2e)', () => {
  let ctx: TestContext;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { VM_SSH_USER: 'deploy', SSH_KEYS_MAX_PER_USER: MAX_KEYS } });
    alice = await newUser(ctx, { credits: 1000 });
    bob = await newUser(ctx, { credits: 1000 });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const addKey = (user: TestUser, name: string, publicKey: string) =>
    ctx.http.post('/api/ssh-keys').set(user.auth).send({ name, public_key: publicKey });
  const keyRows = async (user: TestUser): Promise<number> =>
    (await ctx.db.query('SELECT count(*)::int AS n FROM ssh_keys WHERE user_id = $1', [user.id]))[0].n;

  it.each([
    ['ed25519', undefined, 'ssh-ed25519'],
    ['ecdsa', 256, 'ecdsa-sha2-nistp256'],
    ['ecdsa', 384, 'ecdsa-sha2-nistp384'],
    ['ecdsa', 521, 'ecdsa-sha2-nistp521'],
    ['rsa', 2048, 'ssh-rsa'],
  ] as const)('adds a %s %s key with the fingerprint ssh-keygen -lf prints', async (type, bits, sshType) => {
    const key = sshKeygen(type, { bits, comment: 'ada@laptop' });
    const name = `${type}-${bits ?? 'default'}`;
    // Pasted with a trailing newline and extra spaces, as from a terminal.
    const res = await addKey(alice, name, `${key.publicKey.replace(' ', '   ')}\n`).expect(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      name,
      type: sshType,
      bits: key.bits,
      fingerprint: key.fingerprint,
      public_key: key.publicKey,
      created_at: expect.any(String),
    });
    expect(res.body.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const got = await ctx.http.get(`/api/ssh-keys/${res.body.id}`).set(alice.auth).expect(200);
    expect(got.body).toEqual(res.body);

    const events = await ctx.http.get('/api/events?type=auth&limit=100').set(alice.auth).expect(200);
    const added = events.body.items.find((e: { details: { ssh_key_id?: string } }) => e.details.ssh_key_id === res.body.id);
    expect(added).toMatchObject({
      type: 'auth',
      action: 'auth.ssh_key_added',
      details: { fingerprint: key.fingerprint, name, type: sshType },
    });
  });

  it('refuses weak, unsupported, private and malformed keys with precise codes, storing nothing', async () => {
    const before = await keyRows(bob);
    const dsa =
      'ssh-dss AAAAB3NzaC1kc3MAAACBAJxShFqB1pl1j/tORxL9pTncu7ZcxzKDhfWypGCqm1E1pevCR/yUjN5EyQg94HUCCauvW4eGrC5hBCnOAW0ksW/lbj3EmvXykRAutRFANK+pL9TH9Imbf6EcqfY6dqpsU72QedpCwen2wfOl4JzrluNRz8SfKsS/3hhHt4PVPX6rAAAAFQDTwSji27HpsqFZ5ZLSZKZIDNOSNwAAAIBh4G6L+2HW1DyQhPBphXYtZluYCqiWCrqYhh8qYXpBNsROm0uqklBikb6yrT38ngB/R29r+amvjCl98PNtA8wpy0Wq/vrDxgBuS3Xmfr3N/TBZdNvrPMz+wY5HqqxJujTPZYd8YDr4/xNeC9gghoa7ouslJBCt6PKhYONjjYQx3AAAAIA4au1vyLihrOmnWX5EEridezoo6JjjzRkqLH198ESwW8Sap2hWMZmHCwq308mb5z/BIqwXK6tJCuMtT0WU7kmCjKlN7gYa/jc+ShyYAIAjH/3FvfA3dNio7hJYC+wquTT9YT0ZmFLfpjjpfe/H1eDV8uwZYHUSxKt2UqQ9lgZD5Q== me@host';
    const ed = sshKeygen('ed25519');
    const cases: [string, string][] = [
      [sshKeygen('rsa', { bits: 1024 }).publicKey, 'ssh_key.too_weak'],
      [dsa, 'ssh_key.unsupported_type'],
      ['sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t key', 'ssh_key.unsupported_type'],
      [ed.privateKey, 'ssh_key.private_key'],
      [sshKeygen('ed25519', { passphrase: 'long passphrase' }).privateKey, 'ssh_key.private_key'],
      ['not a key at all', 'ssh_key.invalid'],
      [`${ed.publicKey.split(' ')[0]} ${ed.publicKey.split(' ')[1]!.slice(0, 30)}`, 'ssh_key.invalid'],
      [`${ed.publicKey}\n${ed.publicKey}`, 'ssh_key.invalid'],
      ['', 'ssh_key.invalid'],
    ];
    for (const [publicKey, code] of cases) {
      const res = await addKey(bob, 'bad', publicKey);
      expect([publicKey.slice(0, 40), res.status, res.body.code]).toEqual([publicKey.slice(0, 40), 400, code]);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    // Field validation: a missing key, an empty or overlong name, unknown fields.
    await addKey(bob, '', ed.publicKey).expect(400);
    await addKey(bob, 'x'.repeat(65), ed.publicKey).expect(400);
    await ctx.http.post('/api/ssh-keys').set(bob.auth).send({ name: 'k' }).expect(400);
    await ctx.http.post('/api/ssh-keys').set(bob.auth).send({ name: 'k', public_key: ed.publicKey, admin: true }).expect(400);
    expect(await keyRows(bob)).toBe(before);
  });

  it('refuses RSA keys over 16,384 bits with 400 ssh_key.too_large, quickly, and accepts 16,384', async () => {
    const before = await keyRows(bob);
    for (const bits of [16385, 65536, 96000]) {
      const line = rsaKeyLine(bits);
      const started = Date.now();
      const res = await addKey(bob, `big-${bits}`, line);
      const ms = Date.now() - started;
      process.stdout.write(`ssh-rsa ${bits} bits (${line.length} chars): ${res.status} in ${ms} ms\n`);
      expect({ bits, status: res.status, code: res.body.code }).toEqual({ bits, status: 400, code: 'ssh_key.too_large' });
    }
    expect(await keyRows(bob)).toBe(before);
    const edge = await addKey(bob, 'edge-16384', rsaKeyLine(16384)).expect(201);
    expect(edge.body).toMatchObject({ type: 'ssh-rsa', bits: 16384 });
  });

  it('answers 409 for a name or a key the user already has; other users may add the same key', async () => {
    const key = sshKeygen('ed25519', { comment: 'first' });
    await addKey(bob, 'work', key.publicKey).expect(201);
    expect((await addKey(bob, 'work', sshKeygen('ed25519').publicKey).expect(409)).body.code).toBe('ssh_key.name_taken');
    // Same key material under another comment is the same key.
    const sameKey = key.publicKey.replace(/ first$/, ' renamed');
    expect((await addKey(bob, 'work-2', sameKey).expect(409)).body.code).toBe('ssh_key.already_added');
    await addKey(alice, 'work', key.publicKey).expect(201);
  });

  it('pages keys newest first with a cursor', async () => {
    const carol = await newUser(ctx);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await addKey(carol, `k${i}`, sshKeygen('ed25519').publicKey).expect(201)).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: { id: string }[]; next_cursor: string | null } } = await ctx.http
        .get(`/api/ssh-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        .set(carol.auth)
        .expect(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((k) => k.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    await ctx.http.get('/api/ssh-keys?limit=101').set(carol.auth).expect(400);
  });

  it('limits how many keys one user stores (SSH_KEYS_MAX_PER_USER)', async () => {
    const dave = await newUser(ctx);
    for (let i = 0; i < MAX_KEYS; i++) await addKey(dave, `k${i}`, sshKeygen('ed25519').publicKey).expect(201);
    const res = await addKey(dave, 'one-more', sshKeygen('ed25519').publicKey).expect(403);
    expect(res.body).toMatchObject({ code: 'ssh_key.limit_reached', limit: MAX_KEYS });
    expect(await keyRows(dave)).toBe(MAX_KEYS);
  });

  it('holds the limit under concurrent adds', async () => {
    const frank = await newUser(ctx);
    for (let i = 0; i < MAX_KEYS - 2; i++) await addKey(frank, `k${i}`, sshKeygen('ed25519').publicKey).expect(201);
    const keys = Array.from({ length: 8 }, () => sshKeygen('ed25519').publicKey);
    const results = await Promise.all(keys.map((k, i) => addKey(frank, `race-${i}`, k)));
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 403, 403, 403, 403, 403, 403]);
    expect(await keyRows(frank)).toBe(MAX_KEYS);
  });

  it('keeps keys to their owner: another user gets 404 and cannot use them for a VM', async () => {
    const key = (await addKey(alice, 'private-to-alice', sshKeygen('ed25519').publicKey).expect(201)).body;
    expect((await ctx.http.get(`/api/ssh-keys/${key.id}`).set(bob.auth).expect(404)).body.code).toBe('ssh_key.not_found');
    expect((await ctx.http.delete(`/api/ssh-keys/${key.id}`).set(bob.auth).expect(404)).body.code).toBe('ssh_key.not_found');
    const bobsList = await ctx.http.get('/api/ssh-keys?limit=100').set(bob.auth).expect(200);
    expect(bobsList.body.items.map((k: { id: string }) => k.id)).not.toContain(key.id);
    await ctx.http.get(`/api/ssh-keys/${key.id}`).set(alice.auth).expect(200);

    // Bob names Alice's key (and an id that is nobody's) for his VM: refused, nothing charged or written.
    const own = (await addKey(bob, 'bobs', sshKeygen('ed25519').publicKey).expect(201)).body;
    const credits = (await ctx.http.get('/api/users/me').set(bob.auth).expect(200)).body.credits;
    const counts = async () =>
      (
        await ctx.db.query(
          `SELECT (SELECT count(*) FROM vms WHERE user_id = $1)::int AS vms, (SELECT count(*) FROM events WHERE user_id = $1)::int AS events,
                  (SELECT count(*) FROM credit_transactions WHERE user_id = $1)::int AS ledger`,
          [bob.id],
        )
      )[0];
    const before = await counts();
    for (const ids of [[key.id], [own.id, key.id], [randomUUID()]]) {
      const res = await ctx.http
        .post('/api/vms')
        .set(bob.auth)
        .send({ name: 'sneaky', ...spec, ssh_key_ids: ids })
        .expect(400);
      expect(res.body.code).toBe('vm.unknown_ssh_key');
      expect(res.body.ssh_key_ids).toEqual(ids.filter((id) => id !== own.id));
    }
    expect(await counts()).toEqual(before);
    expect((await ctx.http.get('/api/users/me').set(bob.auth).expect(200)).body.credits).toBe(credits);
  });

  it('validates ssh_key_ids: uuids, no repeats, at most 20', async () => {
    const key = (await addKey(bob, 'valid', sshKeygen('ed25519').publicKey).expect(201)).body;
    const create = (ssh_key_ids: unknown) =>
      ctx.http
        .post('/api/vms')
        .set(bob.auth)
        .send({ name: 'v', ...spec, ssh_key_ids });
    expect((await create([key.id, key.id]).expect(400)).body.code).toBe('request.validation');
    expect((await create(['not-a-uuid']).expect(400)).body.code).toBe('request.validation');
    expect((await create(key.id).expect(400)).body.code).toBe('request.validation');
    expect((await create(Array.from({ length: 21 }, () => randomUUID())).expect(400)).body.code).toBe('request.validation');
  });

  it('creates a VM with keys: the VM shows them and how to log in, the provider receives exactly them, and deleting a key changes no VM', async () => {
    const erin = await newUser(ctx, { credits: 100 });
    const k1 = (await addKey(erin, 'vm-key-1', sshKeygen('ed25519', { comment: 'one' }).publicKey).expect(201)).body;
    const k2 = (await addKey(erin, 'vm-key-2', sshKeygen('ecdsa', { bits: 256 }).publicKey).expect(201)).body;
    // Another key of Alice's that is not chosen must not reach the VM.
    await addKey(erin, 'not-chosen', sshKeygen('ed25519').publicKey).expect(201);

    const created = await ctx.http
      .post('/api/vms')
      .set(erin.auth)
      .send({ name: 'keyed', ...spec, ssh_key_ids: [k2.id, k1.id] })
      .expect(202);
    const expectedKeys = [k2, k1].map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint }));
    expect(created.body).toMatchObject({ status: 'provisioning', ssh_user: 'deploy', ssh_keys: expectedKeys, ssh_command: null });
    const id = created.body.id as string;

    const running = await eventually(async () => {
      const res = await ctx.http.get(`/api/vms/${id}`).set(erin.auth).expect(200);
      return res.body.status === 'running' ? res.body : null;
    });
    expect(running.ssh_command).toBe(`ssh -p ${running.ssh_port} deploy@${running.ip_address}`);
    const status = await ctx.http.get(`/api/vms/${id}/status`).set(erin.auth).expect(200);
    expect(status.body).toMatchObject({ ssh_user: 'deploy', ssh_command: running.ssh_command });
    expect(running.ssh_keys).toEqual(expectedKeys);

    const sim = ctx.app.get(VM_PROVIDER) as SimulatorProvider;
    expect(await sim.sshPublicKeysOf(id)).toEqual([k2.public_key, k1.public_key]);

    const events = await ctx.http.get(`/api/events?vm_id=${id}&limit=100`).set(erin.auth).expect(200);
    const createEvent = events.body.items.find((e: { action: string }) => e.action === 'vm.create');
    expect(createEvent.details).toMatchObject({ ssh_user: 'deploy', ssh_keys: expectedKeys });

    // Deleting a key: gone from the list, recorded, and the VM keeps what it was created with.
    await ctx.http.delete(`/api/ssh-keys/${k1.id}`).set(erin.auth).expect(204);
    await ctx.http.get(`/api/ssh-keys/${k1.id}`).set(erin.auth).expect(404);
    await ctx.http.delete(`/api/ssh-keys/${k1.id}`).set(erin.auth).expect(404);
    const deleted = await ctx.http.get('/api/events?type=auth&limit=100').set(erin.auth).expect(200);
    expect(deleted.body.items.find((e: { action: string }) => e.action === 'auth.ssh_key_deleted')).toMatchObject({
      details: { ssh_key_id: k1.id, fingerprint: k1.fingerprint },
    });
    const after = await ctx.http.get(`/api/vms/${id}`).set(erin.auth).expect(200);
    expect(after.body.ssh_keys).toEqual(expectedKeys);
    const [row] = await ctx.db.query('SELECT ssh_keys FROM vms WHERE id = $1', [id]);
    expect(row.ssh_keys.map((k: { public_key: string }) => k.public_key)).toEqual([k2.public_key, k1.public_key]);

    // The same connection facts in the admin view.
    const admin = await newUser(ctx, { role: 'admin' });
    const adminList = await ctx.http.get(`/api/admin/vms?user_id=${erin.id}&limit=100`).set(admin.auth).expect(200);
    expect(adminList.body.items.find((v: { id: string }) => v.id === id)).toMatchObject({
      ssh_user: 'deploy',
      ssh_keys: expectedKeys,
      ssh_command: running.ssh_command,
    });

    // Stopped: no address, so no command.
    await ctx.http.post(`/api/vms/${id}/action`).set(erin.auth).send({ action: 'stop' }).expect(202);
    const stopped = await eventually(async () => {
      const res = await ctx.http.get(`/api/vms/${id}`).set(erin.auth).expect(200);
      return res.body.status === 'stopped' ? res.body : null;
    });
    expect(stopped.ssh_command).toBeNull();
  });

  it('creates a VM without keys: none reach the provider', async () => {
    const created = await ctx.http
      .post('/api/vms')
      .set(alice.auth)
      .send({ name: 'keyless', ...spec })
      .expect(202);
    expect(created.body).toMatchObject({ ssh_user: 'deploy', ssh_keys: [] });
    await eventually(async () => (await ctx.http.get(`/api/vms/${created.body.id}`).set(alice.auth)).body.status === 'running');
    expect(await (ctx.app.get(VM_PROVIDER) as SimulatorProvider).sshPublicKeysOf(created.body.id)).toEqual([]);
  });
});
