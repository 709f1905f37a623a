import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { typedQuery, typedQueryOne, typedWrite } from '../../database/typed-query';
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

/**
 * The metrics table: every statement on it lives here. Needs only a DataSource, so the benchmark
 * (bench/metrics-query.ts) runs exactly this SQL outside Nest.
 */
@Injectable()
export class MetricsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * The downsampled read: one index range scan on (vm_id, name, recorded_at), grouped into buckets of
   * `step` seconds aligned to the epoch.
   */
  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    const rows = await typedQuery<SeriesPoint>(
      this.dataSource,
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

  /** Many rows in one statement whatever their number: five array parameters, unnested. */
  async insert(rows: readonly MetricRow[]): Promise<void> {
    if (!rows.length) return;
    await typedWrite(
      this.dataSource,
      `INSERT INTO metrics (vm_id, name, value, unit, recorded_at)
       SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::float8[], $4::varchar[], $5::timestamptz[])`,
      [rows.map((r) => r.vmId), rows.map((r) => r.name), rows.map((r) => r.value), rows.map((r) => r.unit), rows.map((r) => r.recordedAt)],
    );
  }

  /** Deletes up to `limit` points recorded before `cutoff`; how many it deleted. */
  async pruneBatch(cutoff: Date, limit: number): Promise<number> {
    const { affected } = await typedWrite(
      this.dataSource,
      `DELETE FROM metrics WHERE id IN (SELECT id FROM metrics WHERE recorded_at < $1 LIMIT $2)`,
      [cutoff, limit],
    );
    return affected;
  }
}
