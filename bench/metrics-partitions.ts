/**
 * The partitioned metrics table's write and retention costs (issue 24):
 *  - one sampling pass stored: `MetricsRepository.insert` of `--vms` VMs x `--values` values (one
 *    statement), `--passes` times, into today's partition;
 *  - retention: `MetricsRepository.dropPartition` of one day holding `--day-vms` VMs x 4 values x
 *    1,440 minutes, while another connection reads series in a loop (their latency and errors).
 *
 *   npx ts-node bench/metrics-partitions.ts [--vms 1000] [--values 4] [--passes 50] [--day-vms 500] [--keep]
 *
 * Uses DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/postgres): a scratch database
 * vmapi_bench_partitions_<time>, migrated, dropped at the end unless --keep. Prints one JSON object.
 */
import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/data-source';
import { MetricRow, MetricsRepository } from '../src/modules/metrics/metrics.repository';
import { createDatabase, dropDatabase, percentile, seedRunningVms } from './support';

const NAMES = ['cpu_percent', 'memory_used_mb', 'disk_used_gb', 'load_1m', 'disk_read_bytes', 'net_rx_bytes'];
const DAY = 86_400_000;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const ms = (sorted: number[]) => ({
  p50: +percentile(sorted, 50).toFixed(2),
  p95: +percentile(sorted, 95).toFixed(2),
  max: +sorted[sorted.length - 1]!.toFixed(2),
});

async function main(): Promise<void> {
  const vms = arg('vms', 1000);
  const values = Math.min(arg('values', 4), NAMES.length);
  const passes = arg('passes', 50);
  const dayVms = arg('day-vms', 500);
  const keep = process.argv.includes('--keep');
  const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `vmapi_bench_partitions_${Date.now().toString(36)}`;
  const url = await createDatabase(server, dbName);
  const ds = new DataSource({ ...dataSourceOptions(url, 4), migrationsRun: true, logging: false });
  const readerDs = new DataSource({ ...dataSourceOptions(url, 2), logging: false });
  try {
    await ds.initialize();
    await readerDs.initialize();
    const repo = new MetricsRepository(ds);
    const [{ version }] = await ds.query(`SELECT current_setting('server_version') AS version`);
    const vmIds = await seedRunningVms(ds, Math.max(vms, dayVms));

    // One pass: every VM's values at one instant, as the sampler stores them.
    const insertMs: number[] = [];
    for (let p = 0; p < passes; p++) {
      const at = new Date();
      const rows: MetricRow[] = vmIds
        .slice(0, vms)
        .flatMap((vmId) => NAMES.slice(0, values).map((name) => ({ vmId, name, value: Math.random() * 100, unit: null, recordedAt: at })));
      const t0 = performance.now();
      await repo.insert(rows);
      insertMs.push(performance.now() - t0);
    }
    insertMs.sort((a, b) => a - b);

    // One old day, filled minute by minute, vacuumed and analyzed like a day autovacuum has seen.
    const day = new Date(Math.floor((Date.now() - 40 * DAY) / DAY) * DAY);
    const [partition] = await repo.createPartitions([day]);
    const seedStarted = performance.now();
    await ds.query(
      `INSERT INTO metrics (vm_id, name, value, unit, recorded_at)
       SELECT v, n, random() * 100, NULL, $2::timestamptz + make_interval(mins => m)
         FROM generate_series(0, 1439) AS m, unnest($1::uuid[]) AS v, unnest($3::text[]) AS n
        ORDER BY m`,
      [vmIds.slice(0, dayVms), day, NAMES.slice(0, 4)],
    );
    await ds.query(`VACUUM ANALYZE ${partition}`);
    await ds.query('CHECKPOINT');
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const [{ rows: dayRows, size }] = await ds.query(
      `SELECT count(*)::int AS rows, pg_size_pretty(pg_total_relation_size($1::regclass)) AS size FROM ${partition}`,
      [partition],
    );

    const reader = new MetricsRepository(readerDs);
    const readMs: number[] = [];
    let readErrors = 0;
    const state = { reading: true };
    const reads = (async () => {
      let i = 0;
      while (state.reading) {
        const t0 = performance.now();
        try {
          await reader.series({ vmId: vmIds[i++ % dayVms]!, name: 'cpu_percent', from: day, to: new Date(), step: 86_400 });
        } catch {
          readErrors++;
        }
        readMs.push(performance.now() - t0);
      }
    })();
    // Reads under way before the drop starts.
    while (readMs.length < 50) await new Promise((resolve) => setTimeout(resolve, 5));
    const readsBefore = readMs.length;
    const t0 = performance.now();
    const dropped = await repo.dropPartition(partition!);
    const dropMs = performance.now() - t0;
    const duringDrop = readMs.length - readsBefore;
    await new Promise((resolve) => setTimeout(resolve, 200));
    state.reading = false;
    await reads;
    readMs.sort((a, b) => a - b);

    console.log(
      JSON.stringify(
        {
          postgres: version,
          insert_pass: { vms, values_per_vm: values, rows_per_pass: vms * values, passes, ms: ms(insertMs) },
          drop_day: {
            partition,
            dropped,
            rows: dayRows,
            size,
            seeded_s: +seedSeconds.toFixed(1),
            drop_ms: +dropMs.toFixed(2),
            concurrent_reads: { total: readMs.length, finished_during_drop: duringDrop, errors: readErrors, ms: ms(readMs) },
          },
        },
        null,
        2,
      ),
    );
  } finally {
    if (readerDs.isInitialized) await readerDs.destroy();
    if (ds.isInitialized) await ds.destroy();
    if (!keep) await dropDatabase(server, dbName);
    else console.log(`Kept database ${dbName}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
