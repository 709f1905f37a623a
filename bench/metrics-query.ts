/**
 * Latency of the downsampled metrics read (GET /api/vms/{id}/metrics) on a 30-day series of
 * one-minute points (43,200 per metric), among other VMs' data written interleaved in time order as
 * the collector writes it.
 *
 *   npx ts-node bench/metrics-query.ts [--other-vms 9] [--runs 300] [--no-vacuum] [--keep]
 *
 * Uses DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/postgres): creates a scratch
 * database vmapi_bench_metrics_<time>, applies the migrations, seeds, times `MetricsRepository.series` (the exact
 * function the service runs) and drops the database unless --keep. --no-vacuum measures the worst
 * case of data autovacuum has not reached yet (no visibility map, so the index-only scan visits the heap).
 */
import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/data-source';
import { chooseStep } from '../src/modules/metrics/metric-rules';
import { MetricsRepository, SERIES_SQL } from '../src/modules/metrics/metrics.repository';
import { createDatabase, dropDatabase, percentile, seedRunningVms } from './support';

const POINTS = 30 * 24 * 60; // 43,200 one-minute points
const NAMES = ['cpu_percent', 'memory_used_mb', 'disk_used_gb', 'load_1m'];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const otherVms = arg('other-vms', 9);
  const runs = arg('runs', 300);
  const keep = process.argv.includes('--keep');
  const vacuum = !process.argv.includes('--no-vacuum');
  const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `vmapi_bench_metrics_${Date.now().toString(36)}`;
  const url = await createDatabase(server, dbName);
  const ds = new DataSource({ ...dataSourceOptions(url, 4), migrationsRun: true, logging: false });
  try {
    await ds.initialize();
    const metrics = new MetricsRepository(ds);
    const [{ version }] = await ds.query(`SELECT current_setting('server_version') AS version`);
    const vmIds = await seedRunningVms(ds, otherVms + 1);
    const target = vmIds[0]!;
    // Minute by minute, every VM's four samples: the physical order the collector produces.
    const end = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const start = new Date(end.getTime() - POINTS * 60_000);
    const seedStarted = performance.now();
    // A partition per day of the range (the repository makes them; a raw INSERT would not).
    await metrics.createPartitions(Array.from({ length: 32 }, (_, d) => new Date(start.getTime() + d * 86_400_000)));
    await ds.query(
      `INSERT INTO metrics (vm_id, name, value, unit, recorded_at)
       SELECT v.id, n.name, 50 + 40 * sin(m / 60.0 + v.ord) + random() * 5, NULL, $2::timestamptz + make_interval(mins => m)
         FROM generate_series(0, ${POINTS - 1}) AS m
        CROSS JOIN unnest($1::uuid[]) WITH ORDINALITY AS v(id, ord)
        CROSS JOIN unnest($3::text[]) AS n(name)
        ORDER BY m`,
      [vmIds, start, NAMES],
    );
    // Autovacuum would do this for an insert-only table soon enough (index-only scans need the
    // visibility map); the checkpoint keeps the seeding's writes out of the measurement.
    await ds.query(vacuum ? 'VACUUM ANALYZE metrics' : 'ANALYZE metrics');
    await ds.query('CHECKPOINT');
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const [{ rows, size }] = await ds.query(
      `SELECT count(*)::int AS rows, (SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('metrics')) AS size FROM metrics`,
    );

    const scenarios = [
      { label: '30 days, automatic step', from: start, to: end, step: chooseStep((end.getTime() - start.getTime()) / 1000) },
      { label: '30 days, step 3600 s', from: start, to: end, step: 3600 },
      { label: 'last 24 h, automatic step', from: new Date(end.getTime() - 86_400_000), to: end, step: chooseStep(86_400) },
    ];
    console.log(
      `PostgreSQL ${version}; metrics: ${rows} rows (${otherVms + 1} VMs x ${NAMES.length} names x ${POINTS} minutes), ${size}; seeded in ${seedSeconds.toFixed(1)} s${vacuum ? '' : '; not vacuumed'}`,
    );
    for (const s of scenarios) {
      const q = { vmId: target, name: 'cpu_percent', from: s.from, to: s.to, step: s.step };
      for (let i = 0; i < 20; i++) await metrics.series(q); // warm the cache and the pool
      const times: number[] = [];
      let buckets = 0;
      let samples = 0;
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const points = await metrics.series(q);
        times.push(performance.now() - t0);
        buckets = points.length;
        samples = points.reduce((n, p) => n + p.count, 0);
      }
      times.sort((a, b) => a - b);
      const f = (ms: number) => `${ms.toFixed(2)} ms`;
      console.log(
        `${s.label}: ${samples} samples -> ${buckets} buckets of ${s.step} s; ${runs} runs: ` +
          `p50 ${f(percentile(times, 50))}, p95 ${f(percentile(times, 95))}, p99 ${f(percentile(times, 99))}, max ${f(times[times.length - 1]!)}`,
      );
    }
    const plan: { 'QUERY PLAN': string }[] = await ds.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${SERIES_SQL}`, [
      target,
      'cpu_percent',
      start,
      end,
      scenarios[0]!.step,
    ]);
    console.log(`Plan of the 30-day query:\n  ${plan.map((r) => r['QUERY PLAN']).join('\n  ')}`);
  } finally {
    if (ds.isInitialized) await ds.destroy();
    if (!keep) await dropDatabase(server, dbName);
    else console.log(`Kept database ${dbName}`);
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
