import { Injectable } from '@nestjs/common';
import { DataSource, QueryFailedError } from 'typeorm';
import { Db, typedQuery, typedQueryOne, typedWrite } from '../../database/typed-query';
import { DEFAULT_PARTITION_HOURS, MetricPartition, missingRanges } from './metric-partitions';
import { CheckedPoint, MAX_SERIES_POINTS } from './metric-rules';

export interface MetricRow extends CheckedPoint {
  vmId: string;
}

export interface SeriesQuery {
  vmId: string;
  name: string;
  from: Date;
  to: Date;
  step: number;
}

export interface SeriesPoint {
  t: Date;
  avg: number;
  min: number;
  max: number;
  count: number;
}

/** Makers of partitions take turns (several processes start together, or sample a new day at once). */
const PARTITION_LOCK = 'vmapi.metrics-partitions';
/** "no partition of relation found for row" (check_violation; metrics has no CHECK constraint). */
const NO_PARTITION = '23514';

/** The downsampled series read (exported for the query-plan test). */
export const SERIES_SQL = `SELECT date_bin(make_interval(secs => $5), recorded_at, timestamptz 'epoch') AS t,
              avg(value) AS avg, min(value) AS min, max(value) AS max, count(*)::int AS count
         FROM metrics
        WHERE vm_id = $1 AND name = $2 AND recorded_at >= $3 AND recorded_at < $4
        GROUP BY 1 ORDER BY 1`;

/**
 * The metrics table (partitioned by RANGE on recorded_at, migrations/1796500000000-PartitionedMetrics.ts)
 * and its partitions: every statement on them lives here. Needs only a DataSource, so the benchmark
 * (bench/metrics-query.ts) runs exactly this SQL outside Nest.
 */
@Injectable()
export class MetricsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * The downsampled read: one index range scan on (vm_id, name, recorded_at), grouped into buckets of
   * `step` seconds aligned to the epoch. Only the partitions overlapping [from, to) are scanned.
   */
  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    const rows = await typedQuery<SeriesPoint>(this.dataSource, SERIES_SQL, [q.vmId, q.name, q.from, q.to, q.step]);
    // chooseStep already bounds the buckets; no SQL LIMIT, which would steer the planner (it cannot
    // estimate date_bin groups) from a hash aggregate to a slower sort-based plan.
    return rows.slice(0, MAX_SERIES_POINTS);
  }

  /** The unit of the series' newest point in [from, to), or null (none, or stored without a unit). */
  async latestUnit(q: Omit<SeriesQuery, 'step'>): Promise<string | null> {
    const row = await typedQueryOne<{ unit: string | null }>(
      this.dataSource,
      `SELECT unit FROM metrics WHERE vm_id = $1 AND name = $2 AND recorded_at >= $3 AND recorded_at < $4
        ORDER BY recorded_at DESC LIMIT 1`,
      [q.vmId, q.name, q.from, q.to],
    );
    return row?.unit ?? null;
  }

  /**
   * Many rows in one statement whatever their number (five array parameters, unnested) and however
   * many partitions they fall in. A row for a time no partition covers yet (a new day before the
   * maintenance made it, an agent's point from a day nothing was stored for) fails the statement as
   * a whole: the missing partitions (`partitionHours` wide) are made and the statement runs again.
   */
  async insert(rows: readonly MetricRow[], partitionHours = DEFAULT_PARTITION_HOURS): Promise<void> {
    if (!rows.length) return;
    try {
      await this.insertOnce(rows);
    } catch (err) {
      if (!(err instanceof QueryFailedError && (err.driverError as { code?: string }).code === NO_PARTITION)) throw err;
      await this.createPartitions(
        rows.map((r) => r.recordedAt),
        partitionHours,
      );
      await this.insertOnce(rows);
    }
  }

  private async insertOnce(rows: readonly MetricRow[]): Promise<void> {
    await typedWrite(
      this.dataSource,
      `INSERT INTO metrics (vm_id, name, value, unit, recorded_at)
       SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::float8[], $4::varchar[], $5::timestamptz[])`,
      [rows.map((r) => r.vmId), rows.map((r) => r.name), rows.map((r) => r.value), rows.map((r) => r.unit), rows.map((r) => r.recordedAt)],
    );
  }

  /** The partitions of `metrics`, oldest first, with their bounds (read back from the catalog). */
  async partitions(db: Db = this.dataSource): Promise<MetricPartition[]> {
    const rows = await typedQuery<{ name: string; from: Date; to: Date; estimated_rows: number }>(
      db,
      `SELECT c.relname::text AS name, b[1]::timestamptz AS "from", b[2]::timestamptz AS "to", c.reltuples::float8 AS estimated_rows
         FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
        CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), $$FROM \\('([^']+)'\\) TO \\('([^']+)'\\)$$) AS b
        WHERE i.inhparent = 'public.metrics'::regclass
        ORDER BY 2`,
    );
    return rows.map((r) => ({ name: r.name, from: r.from, to: r.to, estimatedRows: r.estimated_rows < 0 ? null : r.estimated_rows }));
  }

  /**
   * Makes sure a partition covers each `partitionHours`-wide slot holding one of `times`; returns the
   * names of the partitions it made. Idempotent, and safe when several processes run it at once:
   * they take turns on a transaction-scoped advisory lock and each looks again once it holds it.
   * Attaching takes SHARE UPDATE EXCLUSIVE on `metrics`: reads and inserts go on meanwhile.
   */
  async createPartitions(times: readonly Date[], partitionHours = DEFAULT_PARTITION_HOURS): Promise<string[]> {
    if (!missingRanges(times, partitionHours, await this.partitions()).length) return [];
    return this.dataSource.transaction(async (m) => {
      await typedQuery(m, `SELECT pg_advisory_xact_lock(hashtext($1))`, [PARTITION_LOCK]);
      const made: string[] = [];
      for (const range of missingRanges(times, partitionHours, await this.partitions(m))) {
        const rows = await typedQuery<{ name: string }>(m, `SELECT public.metrics_create_partition($1, $2) AS name`, [
          range.from,
          range.to,
        ]);
        made.push(...rows.map((r) => r.name));
      }
      return made;
    });
  }

  /**
   * Drops one partition and every point in it; false when it is no partition of `metrics` (any more).
   * DROP takes ACCESS EXCLUSIVE on `metrics` for the few milliseconds it needs; reads arriving
   * meanwhile wait for it. The function waits at most 2 s for the lock (lock_timeout, then it fails
   * with 55P03 and the next run tries again).
   */
  async dropPartition(name: string): Promise<boolean> {
    const row = await typedQueryOne<{ dropped: boolean }>(this.dataSource, `SELECT public.metrics_drop_partition($1) AS dropped`, [name]);
    return row?.dropped === true;
  }
}
