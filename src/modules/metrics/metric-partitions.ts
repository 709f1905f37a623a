/**
 * Which partitions of `metrics` (RANGE on recorded_at) to make and drop: pure arithmetic on ranges,
 * MetricsRepository runs the statements. Partitions are METRICS_PARTITION_HOURS wide, aligned to the
 * epoch (24 h: UTC midnights).
 */
const HOUR_MS = 3_600_000;

/** METRICS_PARTITION_HOURS' default, for callers without the settings (the benchmarks). */
export const DEFAULT_PARTITION_HOURS = 24;
/** Partitions are made this far ahead of now by start-up and the retention job. */
export const PARTITIONS_AHEAD_HOURS = 48;

export interface TimeRange {
  from: Date;
  to: Date;
}

export interface MetricPartition extends TimeRange {
  name: string;
  /** PostgreSQL's estimate (pg_class.reltuples, kept by (auto)vacuum and analyze); null before the first. */
  estimatedRows: number | null;
}

/** The start of the partition-wide slot holding `t`. */
export function slotStart(t: Date, widthHours: number): Date {
  const width = widthHours * HOUR_MS;
  return new Date(Math.floor(t.getTime() / width) * width);
}

/** One time in each slot from now's to PARTITIONS_AHEAD_HOURS later's. */
export function timesAhead(now: Date, widthHours: number): Date[] {
  const times: Date[] = [];
  for (let t = slotStart(now, widthHours).getTime(); t <= now.getTime() + PARTITIONS_AHEAD_HOURS * HOUR_MS; t += widthHours * HOUR_MS) {
    times.push(new Date(t));
  }
  return times;
}

/**
 * The ranges to create so that each slot holding one of `times` is covered: the slot less whatever
 * existing partitions cover of it. They may have another width (the migration's days, or a
 * METRICS_PARTITION_HOURS since changed); PostgreSQL refuses overlapping partitions.
 */
export function missingRanges(times: readonly Date[], widthHours: number, existing: readonly TimeRange[]): TimeRange[] {
  const starts = [...new Set(times.map((t) => slotStart(t, widthHours).getTime()))].sort((a, b) => a - b);
  const missing: TimeRange[] = [];
  for (const start of starts) {
    const end = start + widthHours * HOUR_MS;
    let t = start;
    while (t < end) {
      const holding = existing.find((p) => p.from.getTime() <= t && t < p.to.getTime());
      if (holding) {
        t = holding.to.getTime();
        continue;
      }
      const stop = Math.min(end, ...existing.map((p) => p.from.getTime()).filter((from) => from > t));
      missing.push({ from: new Date(t), to: new Date(stop) });
      t = stop;
    }
  }
  return missing;
}

/** Partitions holding nothing newer than `cutoff`: retention drops them whole. */
export function expiredPartitions<P extends TimeRange>(partitions: readonly P[], cutoff: Date): P[] {
  return partitions.filter((p) => p.to.getTime() <= cutoff.getTime());
}
