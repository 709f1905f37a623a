import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import PgBoss from 'pg-boss';
import { DataSource } from 'typeorm';
import { PeriodicRuns1796800000000 } from '../../migrations/1796800000000-PeriodicRuns';
import { dataSourceOptions } from '../../src/data-source';
import { QUEUE_SCHEMA } from '../../src/queue/queue.service';
import { PeriodicRunsRepository } from '../../src/queue/periodic-runs.repository';
import { createTestDatabase, TestDatabase } from '../support/test-app';

/**
 * The claim behind PeriodicService: one run per interval however many processes tick, never two at
 * once, and a run whose process died given up after its expiry.
 */
describe('periodic runs claimed once per interval (real PostgreSQL)', () => {
  let database: TestDatabase;
  let ds: DataSource;
  let runs: PeriodicRunsRepository;

  beforeAll(async () => {
    database = await createTestDatabase();
    ds = await new DataSource(dataSourceOptions(database.url, 8)).initialize();
    runs = new PeriodicRunsRepository(ds);
  });
  afterAll(async () => {
    await ds.destroy();
    await database.drop();
  });

  /** Moves the task's last start `seconds` into the past. */
  const age = (name: string, seconds: number) =>
    ds.query(`UPDATE periodic_runs SET started_at = started_at - make_interval(secs => $2) WHERE name = $1`, [name, seconds]);

  it('gives one of many simultaneous claimants the run', async () => {
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => runs.claim('race', `p${i}`, 54, 900)));
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    const [row] = await ds.query(`SELECT run_by, finished_at FROM periodic_runs WHERE name = 'race'`);
    expect(row).toEqual({ run_by: expect.stringMatching(/^p\d$/), finished_at: null });
    // And when the task's row exists and its next run is due.
    await ds.query(`UPDATE periodic_runs SET finished_at = now(), started_at = now() - interval '1 minute' WHERE name = 'race'`);
    const again = await Promise.all(Array.from({ length: 8 }, (_, i) => runs.claim('race', `q${i}`, 54, 900)));
    expect(again.filter((c) => c !== undefined)).toHaveLength(1);
  });

  it('refuses a run within the interval, and while the last one runs past it', async () => {
    const first = await runs.claim('task', 'a', 54, 900);
    expect(first).toBeInstanceOf(Date);
    expect(await runs.claim('task', 'b', 54, 900)).toBeUndefined();
    await age('task', 60);
    // Past the interval but not finished: still refused.
    expect(await runs.claim('task', 'b', 54, 900)).toBeUndefined();
    const [last] = await ds.query<{ started_at: Date }[]>(`SELECT started_at FROM periodic_runs WHERE name = 'task'`);
    await runs.finish('task', last!.started_at);
    const second = await runs.claim('task', 'b', 54, 900);
    expect(second).toBeInstanceOf(Date);
    // Finished just now, started just now: the next interval has not come.
    await runs.finish('task', second!);
    expect(await runs.claim('task', 'a', 54, 900)).toBeUndefined();
  });

  it('gives up a run whose process died once it expires, and ignores the late end of it', async () => {
    const dead = await runs.claim('expiring', 'dead', 54, 900);
    await age('expiring', 600);
    expect(await runs.claim('expiring', 'alive', 54, 900)).toBeUndefined();
    await age('expiring', 301);
    const taken = await runs.claim('expiring', 'alive', 54, 900);
    expect(taken).toBeInstanceOf(Date);
    // The dead run's end, if it ever comes, does not end the new run.
    await runs.finish('expiring', dead!);
    const [row] = await ds.query(`SELECT run_by, finished_at FROM periodic_runs WHERE name = 'expiring'`);
    expect(row).toEqual({ run_by: 'alive', finished_at: null });
  });
});

describe('migration PeriodicRuns (real PostgreSQL)', () => {
  it('removes the old per-task pg-boss schedules and their queues (partitions included), and keeps the rest', async () => {
    const database = await createTestDatabase();
    const ds = await new DataSource(dataSourceOptions(database.url, 1)).initialize();
    const boss = new PgBoss({ connectionString: database.url, schema: QUEUE_SCHEMA, max: 1, supervise: false, schedule: false });
    try {
      await boss.start();
      const old = ['vm-reconcile.hv-1', 'metrics-collect.hv-1', 'vm-reconcile.hv-2', 'host-watch', 'metrics-prune', 'idempotency-purge'];
      const kept = ['vm-operation.hv-1', 'vm-operation', 'webhook-delivery'];
      for (const name of [...old, ...kept]) await boss.createQueue(name, { name });
      for (const name of old) await boss.schedule(name, '* * * * *');
      for (const name of [...old, ...kept]) await boss.send(name, {});
      const partitions = async (names: string[]) => {
        const [row] = await ds.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM pgboss.queue q JOIN pg_class c ON c.relname = q.partition_name WHERE q.name = ANY($1)`,
          [names],
        );
        return row!.n;
      };
      expect(await partitions(old)).toBe(old.length);

      const migration = new PeriodicRuns1796800000000();
      const runner = ds.createQueryRunner();
      try {
        await migration.down(runner);
        await migration.up(runner);
      } finally {
        await runner.release();
      }
      const queues = (
        await ds.query<{ name: string }[]>(`SELECT name FROM pgboss.queue WHERE name = ANY($1) ORDER BY name`, [[...old, ...kept]])
      ).map((r) => r.name);
      expect(queues).toEqual([...kept].sort());
      expect(await ds.query(`SELECT name FROM pgboss.schedule`)).toEqual([]);
      expect(await ds.query(`SELECT name FROM pgboss.job WHERE name = ANY($1)`, [old])).toEqual([]);
      expect((await ds.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = ANY($1)`, [kept]))[0].n).toBe(kept.length);
      expect(await partitions(kept)).toBe(kept.length);
      expect(await ds.query(`SELECT count(*)::int AS n FROM periodic_runs`)).toEqual([{ n: 0 }]);
    } finally {
      await boss.stop({ graceful: false, wait: true });
      await ds.destroy();
      await database.drop();
    }
  });
});
