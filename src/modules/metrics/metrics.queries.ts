import type { DataSource, EntityManager } from 'typeorm';
import { CheckedPoint, MAX_SERIES_POINTS } from './metric-rules';

/** The metrics table's SQL, free of Nest so the benchmark (bench/metrics-query.ts) runs exactly this. */

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

/**
 * The downsampled read: one index range scan on (vm_id, name, recorded_at), grouped into buckets of
 * `step` seconds aligned to the epoch. Exported for the benchmark (bench/metrics-query.ts).
 */
export async function querySeries(db: EntityManager | DataSource, q: SeriesQuery): Promise<SeriesPoint[]> {
  const rows: { t: Date; avg: number; min: number; max: number; count: number }[] = await db.query(
    `SELECT date_bin(make_interval(secs => $5), recorded_at, timestamptz 'epoch') AS t,
            avg(value) AS avg, min(value) AS min, max(value) AS max, count(*)::int AS count
       FROM metrics
      WHERE vm_id = $1 AND name = $2 AND recorded_at >= $3 AND recorded_at < $4
      GROUP BY 1 ORDER BY 1`,
    [q.vmId, q.name, q.from, q.to, q.step],
  );
  // chooseStep already bounds the buckets; no SQL LIMIT, which would steer the planner (it cannot
  // estimate date_bin groups) from a hash aggregate to a slower sort-based plan.
  return rows.slice(0, MAX_SERIES_POINTS);
}

/** Many rows in one statement whatever their number: five array parameters, unnested. */
export async function insertMetricRows(db: EntityManager | DataSource, rows: MetricRow[]): Promise<void> {
  if (!rows.length) return;
  await db.query(
    `INSERT INTO metrics (vm_id, name, value, unit, recorded_at)
     SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::float8[], $4::varchar[], $5::timestamptz[])`,
    [rows.map((r) => r.vmId), rows.map((r) => r.name), rows.map((r) => r.value), rows.map((r) => r.unit), rows.map((r) => r.recordedAt)],
  );
}
