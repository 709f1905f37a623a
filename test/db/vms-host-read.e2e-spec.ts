import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/data-source';
import { BY_HOST_SQL } from '../../src/modules/vms/vms.repository';
import { createTestDatabase, TestDatabase } from '../support/test-app';

const HOSTS = 200;
const VMS_PER_HOST = 50;

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/**
 * Every host's reconcile and sampling pass reads its own VMs (VmsRepository.byHost): that read must
 * cost what the host holds, not what the fleet holds (bench:fleet, docs/scale.md).
 */
describe("a host's VMs read by each watcher pass (real PostgreSQL)", () => {
  let database: TestDatabase;
  let ds: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase();
    ds = await new DataSource(dataSourceOptions(database.url, 1)).initialize();
    const userId = randomUUID();
    await ds.query(
      `INSERT INTO users (id, username, email, password_hash, role, credits) VALUES ($1, 'fleet', 'fleet@example.test', 'x', 'user', 0)`,
      [userId],
    );
    await ds.query(
      `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, metadata, status_changed_at, host)
       SELECT gen_random_uuid(), $1, 'vm-' || n, 'debian-12', 1024, 20, 1, CASE WHEN n % 10 = 0 THEN 'stopped' ELSE 'running' END,
              34, '{}', now(), 'host-' || (n % $2)
         FROM generate_series(1, $3) AS n`,
      [userId, HOSTS, HOSTS * VMS_PER_HOST],
    );
    await ds.query('ANALYZE vms');
  });
  afterAll(async () => {
    await ds.destroy();
    await database.drop();
  });

  it("reads the host's rows through vms_host_status_idx, with the plan the service's prepared statement gets", async () => {
    const plan = await ds.transaction(async (m) => {
      // What a prepared statement settles on after its first executions: a plan for any host.
      await m.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
      await m.query(`PREPARE by_host AS ${BY_HOST_SQL}`);
      const [row] = await m.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE by_host('host-7', '{running,stopped}')`,
      );
      await m.query('DEALLOCATE by_host');
      return row!['QUERY PLAN'][0]!.Plan;
    });
    const all = nodes(plan);
    expect(all.map((n) => n['Index Name']).filter(Boolean)).toEqual(['vms_host_status_idx']);
    expect(all.some((n) => n['Node Type'] === 'Seq Scan')).toBe(false);
    const rows = all.find((n) => n['Index Name'])!['Actual Rows'];
    expect(rows).toBe(VMS_PER_HOST);
    // The pages touched follow the host's 50 rows, not the fleet's 10,000 (~ 250 pages of vms).
    // (A node's buffer counts include its children's: the top node's are the statement's.)
    const blocks = (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
    expect(blocks).toBeLessThan(2 * VMS_PER_HOST);
  });
});
