import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import { PartitionedMetrics1796500000000 } from '../../migrations/1796500000000-PartitionedMetrics';
import { dataSourceOptions } from '../../src/data-source';
import { MIGRATIONS } from '../../src/database/migrations';
import { expiredPartitions } from '../../src/modules/metrics/metric-partitions';
import { MetricRow, MetricsRepository, SERIES_SQL } from '../../src/modules/metrics/metrics.repository';
import { createTestDatabase, TestDatabase } from '../support/test-app';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A user and `count` running VMs, by SQL (no application here); their ids. */
async function seedVms(ds: DataSource, count: number): Promise<string[]> {
  const userId = randomUUID();
  await ds.query(`INSERT INTO users (id, username, email, password_hash, role, credits) VALUES ($1, $2, $3, 'x', 'user', 0)`, [
    userId,
    `u${userId.slice(0, 8)}`,
    `${userId.slice(0, 8)}@example.test`,
  ]);
  const ids = Array.from({ length: count }, () => randomUUID());
  await ds.query(
    `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, metadata, status_changed_at)
     SELECT id, $1, 'vm-' || ord, 'debian-12', 1024, 20, 2, 'running', 34, '{}', now()
       FROM unnest($2::uuid[]) WITH ORDINALITY AS v(id, ord)`,
    [userId, ids],
  );
  return ids;
}

/** Every point, in a comparable form. */
async function allPoints(ds: DataSource): Promise<unknown[]> {
  return ds.query<unknown[]>(`SELECT id::text, vm_id, name, value, unit, recorded_at FROM metrics ORDER BY metrics.id`);
}

async function relkind(ds: DataSource): Promise<string> {
  const [row] = await ds.query<{ kind: string }[]>(`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'public.metrics'::regclass`);
  return row!.kind;
}

/** Counts the INSERT statements on metrics that reach PostgreSQL while `work` runs (failed ones too). */
async function countInserts(work: () => Promise<void>): Promise<number> {
  const spy = jest.spyOn(PostgresQueryRunner.prototype, 'query');
  try {
    await work();
    return spy.mock.calls.filter(([text]) => /^\s*INSERT INTO metrics\b/.test(text)).length;
  } finally {
    spy.mockRestore();
  }
}

describe('the metrics migration to a partitioned table, on a database holding points', () => {
  let database: TestDatabase;
  const dataSources: DataSource[] = [];
  const open = async (migrations: typeof MIGRATIONS) => {
    const ds = await new DataSource({ ...dataSourceOptions(database.url, 2), migrations }).initialize();
    dataSources.push(ds);
    return ds;
  };

  beforeAll(async () => {
    database = await createTestDatabase({ empty: true });
  });
  afterAll(async () => {
    for (const ds of dataSources) await ds.destroy();
    await database.drop();
  });

  it('moves every point (ids, values, units, times) into day partitions, answers the same series, and down() moves them back', async () => {
    const before = await open(MIGRATIONS.slice(0, MIGRATIONS.indexOf(PartitionedMetrics1796500000000)));
    await before.runMigrations({ transaction: 'each' });
    expect(await relkind(before)).toBe('r');
    const [vmA, vmB] = await seedVms(before, 2);
    // Three days back to now, every 10 minutes, two names on A and one on B, some without a unit; values
    // in quarters, whose sums are exact whatever order the rows are read in.
    const now = Date.now();
    await before.query(
      `INSERT INTO metrics (vm_id, name, value, unit, recorded_at)
       SELECT v.id, n.name, floor(random() * 400) / 4, n.unit, $3::timestamptz - make_interval(mins => m * 10)
         FROM generate_series(0, 3 * 24 * 6) AS m
        CROSS JOIN (VALUES ($1::uuid), ($2::uuid)) AS v(id)
        CROSS JOIN (VALUES ('cpu_percent', '%'), ('app.queue', NULL)) AS n(name, unit)
        WHERE NOT (v.id = $2 AND n.name = 'app.queue')`,
      [vmA, vmB, new Date(now)],
    );
    const points = await allPoints(before);
    expect(points.length).toBe(3 * (3 * 24 * 6 + 1));
    const query = { vmId: vmA!, name: 'cpu_percent', from: new Date(now - 3 * DAY), to: new Date(now + 1000), step: 3600 };
    const seriesBefore = await new MetricsRepository(before).series(query);
    expect(seriesBefore.length).toBeGreaterThan(70);

    // Up to this migration (not later ones), so that undoLastMigration below undoes this one.
    const after = await open(MIGRATIONS.slice(0, MIGRATIONS.indexOf(PartitionedMetrics1796500000000) + 1));
    await after.runMigrations({ transaction: 'each' });
    expect(await relkind(after)).toBe('p');
    expect(await allPoints(after)).toEqual(points);
    const repo = new MetricsRepository(after);
    expect(await repo.series(query)).toEqual(seriesBefore);
    // A partition per UTC day from the oldest point's to two days ahead, each with the series index.
    const partitions = await repo.partitions();
    const firstDay = Math.floor((now - 3 * DAY) / DAY) * DAY;
    const lastDay = Math.floor(now / DAY) * DAY + 2 * DAY;
    expect(partitions.map((p) => [p.from.getTime(), p.to.getTime()])).toEqual(
      Array.from({ length: (lastDay - firstDay) / DAY + 1 }, (_, i) => [firstDay + i * DAY, firstDay + (i + 1) * DAY]),
    );
    const indexed: { n: number }[] = await after.query(
      `SELECT count(*)::int AS n FROM pg_index x JOIN pg_inherits i ON i.inhrelid = x.indrelid
        WHERE i.inhparent = 'public.metrics'::regclass AND pg_get_indexdef(x.indexrelid) LIKE '%(vm_id, name, recorded_at) INCLUDE (value)%'`,
    );
    expect(indexed[0]!.n).toBe(partitions.length);
    // New points get ids past the moved ones.
    await repo.insert([{ vmId: vmB!, name: 'cpu_percent', value: 1, unit: '%', recordedAt: new Date(now) }]);
    const [{ max }] = await after.query(`SELECT max(id)::int AS max FROM metrics`);
    expect(max).toBe(points.length + 1);

    await after.undoLastMigration({ transaction: 'each' });
    expect(await relkind(after)).toBe('r');
    const back = await allPoints(after);
    expect(back.slice(0, points.length)).toEqual(points);
    expect(back).toHaveLength(points.length + 1);
    expect(await new MetricsRepository(after).series(query)).toEqual(seriesBefore);
    const [{ functions }] = await after.query(`SELECT count(*)::int AS functions FROM pg_proc WHERE proname LIKE 'metrics\\_%partition'`);
    expect(functions).toBe(0);
  });
});

describe('metrics partitions at run time (real PostgreSQL)', () => {
  let database: TestDatabase;
  let ds: DataSource;
  let other: DataSource;
  let repo: MetricsRepository;
  let vmIds: string[];

  beforeAll(async () => {
    database = await createTestDatabase();
    ds = await new DataSource(dataSourceOptions(database.url, 4)).initialize();
    other = await new DataSource(dataSourceOptions(database.url, 2)).initialize();
    repo = new MetricsRepository(ds);
    vmIds = await seedVms(ds, 50);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  afterAll(async () => {
    await other.destroy();
    await ds.destroy();
    await database.drop();
  });

  it('makes partitions once however many processes ask at once, and again finds nothing to make', async () => {
    const times = [0, 1, 2].map((d) => new Date(Date.UTC(2031, 0, 1) + d * DAY));
    const made = await Promise.all([
      repo.createPartitions(times),
      new MetricsRepository(other).createPartitions(times),
      repo.createPartitions(times),
    ]);
    expect(made.flat().sort()).toEqual(['metrics_p20310101_0000', 'metrics_p20310102_0000', 'metrics_p20310103_0000']);
    expect(await repo.createPartitions(times)).toEqual([]);
    // Hours-wide partitions asked for later fill only what the days leave.
    expect(await repo.createPartitions([new Date(Date.UTC(2031, 0, 2, 13))], 6)).toEqual([]);
    expect(await repo.createPartitions([new Date(Date.UTC(2031, 0, 4, 13))], 6)).toEqual(['metrics_p20310104_1200']);
  });

  it("stores a sampling pass that straddles midnight in one statement, in both days' partitions", async () => {
    const midnight = Date.UTC(2031, 1, 1);
    await repo.createPartitions([new Date(midnight - 1), new Date(midnight)]);
    const rows: MetricRow[] = vmIds.flatMap((vmId, i) =>
      ['cpu_percent', 'memory_used_mb', 'disk_used_gb', 'load_1m'].map((name) => ({
        vmId,
        name,
        value: i,
        unit: null,
        recordedAt: new Date(midnight + (i % 2 ? 500 : -500)),
      })),
    );
    expect(await countInserts(() => repo.insert(rows))).toBe(1);
    const where: { part: string; n: number }[] = await ds.query(
      `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM metrics WHERE recorded_at >= $1 AND recorded_at < $2 GROUP BY 1 ORDER BY 1`,
      [new Date(midnight - HOUR), new Date(midnight + HOUR)],
    );
    expect(where).toEqual([
      { part: 'metrics_p20310131_0000', n: rows.length / 2 },
      { part: 'metrics_p20310201_0000', n: rows.length / 2 },
    ]);
  });

  it('stores points for a day no partition covers yet: the partition is made and the statement runs again', async () => {
    const t = new Date(Date.UTC(2032, 5, 1, 12));
    const rows: MetricRow[] = [{ vmId: vmIds[0]!, name: 'cpu_percent', value: 5, unit: '%', recordedAt: t }];
    expect(await countInserts(() => repo.insert(rows))).toBe(2);
    const [{ part }] = await ds.query(`SELECT tableoid::regclass::text AS part FROM metrics WHERE recorded_at = $1`, [t]);
    expect(part).toBe('metrics_p20320601_0000');
  });

  it('reads only the partitions a series range overlaps (plan-time pruning)', async () => {
    const day = Date.UTC(2031, 0, 2);
    await repo.createPartitions([new Date(day - DAY), new Date(day), new Date(day + DAY)]);
    const plan: { 'QUERY PLAN': string }[] = await ds.query(`EXPLAIN ${SERIES_SQL}`, [
      vmIds[0],
      'cpu_percent',
      new Date(day + HOUR),
      new Date(day + 5 * HOUR),
      60,
    ]);
    const scanned = new Set(plan.flatMap((r) => [...r['QUERY PLAN'].matchAll(/ on (metrics_p\d+_\d+)/g)].map((m) => m[1])));
    expect([...scanned]).toEqual(['metrics_p20310102_0000']);
  });

  it('drops a partition while series reads go on, none failing or waiting long', async () => {
    const day = Date.UTC(2020, 5, 1);
    await repo.createPartitions([new Date(day)]);
    // 10 VMs x 4 names x one point a minute for the day: 57,600 points.
    await ds.query(
      `INSERT INTO metrics (vm_id, name, value, unit, recorded_at)
       SELECT v, n, m, NULL, $2::timestamptz + make_interval(mins => m)
         FROM generate_series(0, 1439) AS m, unnest($1::uuid[]) AS v, unnest(ARRAY['cpu_percent', 'memory_used_mb', 'disk_used_gb', 'load_1m']) AS n`,
      [vmIds.slice(0, 10), new Date(day)],
    );
    const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM metrics_p20200601_0000`);
    expect(n).toBe(57_600);
    await repo.insert(vmIds.map((vmId) => ({ vmId, name: 'cpu_percent', value: 1, unit: '%', recordedAt: new Date() })));

    const reader = new MetricsRepository(other);
    const state = { reading: true };
    const latencies: number[] = [];
    const reads = (async () => {
      let i = 0;
      while (state.reading || latencies.length < 20) {
        const started = performance.now();
        const vmId = vmIds[i++ % vmIds.length]!;
        // Across the dropped day and today: answers with or without the old day, never an error.
        await reader.series({ vmId, name: 'cpu_percent', from: new Date(day), to: new Date(Date.now() + HOUR), step: 86_400 });
        latencies.push(performance.now() - started);
      }
    })();
    const expired = expiredPartitions(await repo.partitions(), new Date(day + DAY));
    expect(expired.map((p) => p.name)).toContain('metrics_p20200601_0000');
    const dropped = await repo.dropPartition('metrics_p20200601_0000');
    state.reading = false;
    await reads;
    expect(dropped).toBe(true);
    expect(await repo.dropPartition('metrics_p20200601_0000')).toBe(false);
    expect((await repo.partitions()).map((p) => p.name)).not.toContain('metrics_p20200601_0000');
    expect(Math.max(...latencies)).toBeLessThan(1000);
    const today = await reader.series({
      vmId: vmIds[0]!,
      name: 'cpu_percent',
      from: new Date(day),
      to: new Date(Date.now() + HOUR),
      step: 86_400 * 30,
    });
    expect(today.reduce((s, p) => s + p.count, 0)).toBeGreaterThanOrEqual(1);
  });

  it('refuses to drop anything that is not a partition of metrics', async () => {
    expect(await repo.dropPartition('vms')).toBe(false);
    expect(await repo.dropPartition('metrics')).toBe(false);
  });
});
