import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

const small = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }; // costs 17

describe('resource quotas (e2e)', () => {
  let ctx: TestContext;
  let admin: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { QUOTA_MAX_VMS: 3, QUOTA_MAX_CPU_CORES: 4, QUOTA_MAX_RAM_MB: 4096 } });
    admin = await newUser(ctx, { role: 'admin' });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const credits = async (id: string) => (await ctx.db.query('SELECT credits FROM users WHERE id = $1', [id]))[0].credits as number;

  it('answers 403 naming the resource, requested, used and limit, and charges nothing', async () => {
    const user = await newUser(ctx, { credits: 1000 });
    for (let i = 0; i < 3; i++)
      await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: `q${i}`, ...small })
        .expect(202);
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'q3', ...small })
      .expect(403);
    expect(res.body).toMatchObject({ status: 403, code: 'quota.exceeded', resource: 'vms', requested: 1, used: 3, limit: 3 });
    expect(await credits(user.id)).toBe(1000 - 3 * 17);
    const cores = await newUser(ctx, { credits: 1000 });
    const big = await ctx.http
      .post('/api/vms')
      .set(cores.auth)
      .send({ name: 'big', ...small, cpu_cores: 5 })
      .expect(403);
    expect(big.body).toMatchObject({ resource: 'cpu_cores', requested: 5, used: 0, limit: 4 });
    const ram = await ctx.http
      .post('/api/vms')
      .set(cores.auth)
      .send({ name: 'fat', ...small, ram_mb: 8192 })
      .expect(403);
    expect(ram.body).toMatchObject({ resource: 'ram_mb', requested: 8192, limit: 4096 });
  });

  it('frees quota when a VM is destroyed', async () => {
    const user = await newUser(ctx, { credits: 1000 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (
          await ctx.http
            .post('/api/vms')
            .set(user.auth)
            .send({ name: `d${i}`, ...small })
            .expect(202)
        ).body.id,
      );
    await ctx.db.query(`UPDATE vms SET status = 'destroyed', destroyed_at = now() WHERE id = $1`, [ids[0]]);
    await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'd3', ...small })
      .expect(202);
  });

  it('never lets concurrent creates overshoot a quota', async () => {
    const user = await newUser(ctx, { credits: 1000 });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        ctx.http
          .post('/api/vms')
          .set(user.auth)
          .send({ name: `r${i}`, ...small }),
      ),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(3);
    expect(results.filter((r) => r.status === 403)).toHaveLength(7);
  });

  it('counts nothing against a user whose every limit is 0 (no limit)', async () => {
    const user = await newUser(ctx, { credits: 1000 });
    await ctx.http
      .patch(`/api/admin/users/${user.id}`)
      .set(admin.auth)
      .send({ quotas: { vms: 0, cpu_cores: 0, ram_mb: 0 } })
      .expect(200);
    for (let i = 0; i < 4; i++)
      await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: `u${i}`, ...small, cpu_cores: 2, ram_mb: 2048 })
        .expect(202);
    const detail = await ctx.http.get(`/api/admin/users/${user.id}`).set(admin.auth).expect(200);
    expect(detail.body.quota).toEqual({ limits: { vms: 0, cpu_cores: 0, ram_mb: 0 }, used: { vms: 4, cpu_cores: 8, ram_mb: 8192 } });
  });

  it('lets an admin override a user’s quota and return it to the default, with the usage shown', async () => {
    const user = await newUser(ctx, { credits: 1000 });
    await ctx.http
      .patch(`/api/admin/users/${user.id}`)
      .set(admin.auth)
      .send({ quotas: { vms: 5, cpu_cores: 0 } })
      .expect(200);
    for (let i = 0; i < 5; i++)
      await ctx.http
        .post('/api/vms')
        .set(user.auth)
        .send({ name: `o${i}`, ...small })
        .expect(202);
    await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'o5', ...small })
      .expect(403);
    const detail = await ctx.http.get(`/api/admin/users/${user.id}`).set(admin.auth).expect(200);
    expect(detail.body.quota).toEqual({ limits: { vms: 5, cpu_cores: 0, ram_mb: 4096 }, used: { vms: 5, cpu_cores: 5, ram_mb: 2560 } });
    // Which limits are the user's own and what clearing them returns to (the console's quota form).
    expect(detail.body.quota_overrides).toEqual({ vms: 5, cpu_cores: 0, ram_mb: null });
    expect(detail.body.quota_defaults).toEqual({ vms: 3, cpu_cores: 4, ram_mb: 4096 });
    // The user reads the same about themselves (the console's launch form shows the headroom).
    const own = await ctx.http.get('/api/vms/quota').set(user.auth).expect(200);
    expect(own.body).toEqual(detail.body.quota);
    await ctx.http.get('/api/vms/quota').expect(401);
    await ctx.http
      .patch(`/api/admin/users/${user.id}`)
      .set(admin.auth)
      .send({ quotas: { vms: null, cpu_cores: null } })
      .expect(200);
    const back = await ctx.http.get(`/api/admin/users/${user.id}`).set(admin.auth).expect(200);
    expect(back.body.quota.limits).toEqual({ vms: 3, cpu_cores: 4, ram_mb: 4096 });
    expect(back.body.quota_overrides).toEqual({ vms: null, cpu_cores: null, ram_mb: null });
    await ctx.http
      .patch(`/api/admin/users/${user.id}`)
      .set(admin.auth)
      .send({ quotas: { vms: -1 } })
      .expect(400);
    await ctx.http
      .patch(`/api/admin/users/${user.id}`)
      .set(user.auth)
      .send({ quotas: { vms: 100 } })
      .expect(403);
  });
});
