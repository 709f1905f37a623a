import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HostsRepository } from '../../src/modules/hosts/hosts.repository';
import { newUser, TestUser } from '../support/factories';
import { createTestApp, registerHost, TestContext } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 1024, disk_gb: 10, cpu_cores: 1 };

/**
 * Placement orders a shortlist of hosts by `allocated_ram_mb` (kept on the host row: added to by
 * placement, recomputed by the heartbeat) and reads the exact sums of those only. The figure may be
 * stale; it must never decide whether a VM fits.
 */
describe('placement: the shortlist by allocated_ram_mb (e2e)', () => {
  let ctx: TestContext;
  let user: TestUser;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { WORKER: false, QUOTA_MAX_VMS: 0 } });
    user = await newUser(ctx, { credits: 10_000 });
  });
  afterAll(async () => {
    await ctx.close();
  });

  const allocated = async (name: string): Promise<number> =>
    Number((await ctx.db.query(`SELECT allocated_ram_mb FROM hosts WHERE name = $1`, [name]))[0].allocated_ram_mb);

  it('places past a shortlist of hosts whose figure says empty but that are full, and adds the VM to the figure', async () => {
    // 21 hosts of one slot each, filled behind placement's back (their figure stays 0), rank first by
    // their bigger nominal room; the one with room ranks last.
    for (let i = 0; i < 21; i++) {
      const name = `full-${String(i).padStart(2, '0')}`;
      await registerHost(ctx, { name, cpuCores: 1, ramMb: 2048, diskGb: 10 });
      await ctx.db.query(
        `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, host, status_changed_at, metadata)
         VALUES (gen_random_uuid(), $1, $2, 'debian-12', 2048, 10, 1, 'running', 22, $3, now(), '{}')`,
        [user.id, `filler-${i}`, name],
      );
    }
    await registerHost(ctx, { name: 'roomy', cpuCores: 1, ramMb: 1024, diskGb: 10 });
    const res = await ctx.http
      .post('/api/vms')
      .set(user.auth)
      .send({ name: 'placed', ...spec })
      .expect(202);
    const [vm] = await ctx.db.query(`SELECT host FROM vms WHERE id = $1`, [res.body.id]);
    expect(vm.host).toBe('roomy');
    expect(await allocated('roomy')).toBe(1024);
    expect(await allocated('full-00')).toBe(0);
  });

  it('a heartbeat that recounts sets the figure to what the host’s VMs hold; the others leave it', async () => {
    const registration = {
      name: 'full-00',
      capacity: { cpuCores: 1, ramMb: 2048, diskGb: 10 },
      ratios: { cpu: 1, ram: 1, disk: 1 },
      version: 'test',
    };
    await ctx.app.get(HostsRepository).upsert(registration, false);
    expect(await allocated('full-00')).toBe(0);
    await ctx.app.get(HostsRepository).upsert(registration, true);
    expect(await allocated('full-00')).toBe(2048);
    await ctx.db.query(`UPDATE hosts SET allocated_ram_mb = 7 WHERE name = 'full-00'`);
    await ctx.app.get(HostsRepository).upsert(registration, false);
    expect(await allocated('full-00')).toBe(7);
  });
});
