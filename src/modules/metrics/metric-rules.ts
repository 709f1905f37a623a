/**
 * What a metric point may be. Known names are what the collector samples (and what agents may send
 * with the same meaning); anything else must be namespaced (`app.requests`, `nginx.active_conns`),
 * so an agent's own names can never collide with ours.
 */
export const KNOWN_METRICS = {
  cpu_percent: { unit: '%', min: 0, max: 100 },
  memory_used_mb: { unit: 'MB', min: 0 },
  /** The RAM the guest has. */
  memory_total_mb: { unit: 'MB', min: 0 },
  /** Filesystem use inside the guest (an agent's, or the guest agent's: libvirt cannot see it). */
  disk_used_gb: { unit: 'GB', min: 0 },
  /** The size of the VM's disks as the guest sees them. */
  disk_size_gb: { unit: 'GB', min: 0 },
  /** What the VM's disks take on the host. */
  disk_allocated_gb: { unit: 'GB', min: 0 },
  load_1m: { unit: null, min: 0 },
} as const satisfies Record<string, { unit: string | null; min?: number; max?: number }>;

export type KnownMetric = keyof typeof KNOWN_METRICS;

/** The known names with their units, for descriptions: `cpu_percent (%), ..., load_1m (no unit)`. */
export const KNOWN_METRICS_DESCRIPTION = Object.entries(KNOWN_METRICS)
  .map(([name, { unit }]) => `${name} (${unit ?? 'no unit'})`)
  .join(', ');

export const METRIC_NAME_PATTERN = new RegExp(`^(${Object.keys(KNOWN_METRICS).join('|')}|[a-z][a-z0-9_]{0,31}(\\.[a-z0-9_]{1,32}){1,3})$`);
export const METRIC_NAME_MESSAGE = `name must be one of ${Object.keys(KNOWN_METRICS).join(', ')} or namespaced like app.requests (lowercase, digits, _ and dots)`;
export const METRIC_UNIT_PATTERN = /^[A-Za-z0-9%/._ -]{1,16}$/;

/** At most this many points in one POST. */
export const MAX_POINTS_PER_BATCH = 1000;
/** At most this many buckets in one series answer, whatever the range. */
export const MAX_SERIES_POINTS = 1000;

export function isKnownMetric(name: string): name is KnownMetric {
  return Object.hasOwn(KNOWN_METRICS, name);
}

export interface PointInput {
  name: string;
  value: number;
  unit?: string;
  recorded_at?: string;
}

export interface PointRules {
  now: number;
  maxFutureSeconds: number;
  retentionDays: number;
}

export interface CheckedPoint {
  name: string;
  value: number;
  unit: string | null;
  recordedAt: Date;
}

/**
 * The checks that need the clock, the retention and the known metrics' meaning (the DTO has
 * already checked types and formats). Returns the point to store, or the problems with it.
 */
export function checkPoint(p: PointInput, rules: PointRules): { point: CheckedPoint } | { problems: { field: string; message: string }[] } {
  const problems: { field: string; message: string }[] = [];
  const recordedAt = p.recorded_at === undefined ? new Date(rules.now) : new Date(p.recorded_at);
  if (Number.isNaN(recordedAt.getTime())) {
    problems.push({ field: 'recorded_at', message: 'recorded_at must be a valid date-time' });
  } else if (recordedAt.getTime() > rules.now + rules.maxFutureSeconds * 1000) {
    problems.push({ field: 'recorded_at', message: `recorded_at must not be more than ${rules.maxFutureSeconds} s in the future` });
  } else if (recordedAt.getTime() < rules.now - rules.retentionDays * 86_400_000) {
    problems.push({ field: 'recorded_at', message: `recorded_at must be within the ${rules.retentionDays}-day retention` });
  }
  let unit = p.unit ?? null;
  if (isKnownMetric(p.name)) {
    const known: { unit: string | null; min?: number; max?: number } = KNOWN_METRICS[p.name];
    if (p.unit !== undefined && p.unit !== known.unit) {
      problems.push({ field: 'unit', message: `${p.name} is measured in ${known.unit === null ? 'no unit' : known.unit}` });
    }
    unit = known.unit;
    if ((known.min !== undefined && p.value < known.min) || (known.max !== undefined && p.value > known.max)) {
      problems.push({ field: 'value', message: `${p.name} must be between ${known.min ?? '-inf'} and ${known.max ?? 'inf'}` });
    }
  }
  return problems.length ? { problems } : { point: { name: p.name, value: p.value, unit, recordedAt } };
}

/** Steps a chart can label well; an automatic step is the smallest of these that fits. */
const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/**
 * The bucket width for a range: the requested step, raised when it would give more than
 * MAX_SERIES_POINTS buckets; without a request, the smallest "nice" step that fits. Buckets are
 * aligned to the epoch, so a range of L seconds touches at most floor(L / step) + 1 of them: a step of
 * at least L / (MAX - 1) keeps that within MAX.
 */
export function chooseStep(rangeSeconds: number, requested?: number): number {
  const minimum = Math.max(1, Math.ceil(rangeSeconds / (MAX_SERIES_POINTS - 1)));
  if (requested !== undefined && requested >= minimum) return requested;
  const nice = NICE_STEPS.find((s) => s >= minimum) ?? Math.ceil(minimum / 86400) * 86400;
  return requested !== undefined ? Math.max(nice, requested) : nice;
}
