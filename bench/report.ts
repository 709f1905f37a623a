import type { QueueResult } from './queue';

/** The result shapes of bench/run.ts and their text tables. */

export interface CaseResult {
  id: string;
  label: string;
  /** Which baseline the ratio is against (raw: the read's raw reference); null for the baselines themselves. */
  baseline: 'bare' | 'pgbench' | 'raw' | null;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  statusCodes?: Record<string, number>;
  /** req/s of the baseline in the slices alternated with this case's (null for the baselines). */
  baselineRps?: number | null;
  /** This case's req/s over its baseline's, overall (`ratio`) and round by round. */
  ratio: number | null;
  roundRatios?: number[];
  peakRssMb: number | null;
  /** CPU time of the serving process (API, or the bare app) per request: warm-up included, except for the reads measured against their raw reference (their own slices only). */
  cpuMsPerRequest?: number | null;
  /** CPU time of the serving process's database backends per request (PostgreSQL on this machine). */
  dbCpuMsPerRequest?: number | null;
  /** Reads against their raw reference: the reference's own figures in the same alternation. */
  reference?: ArmFigures & { label: string };
  /** CPU per request over the reference's, overall and per repetition. */
  cpuRatio?: number | null;
  cpuRatioReps?: number[];
  /** The same read on BENCH_AB_REF's builds in the same alternation; cpuRatioReps: this build's CPU over each one's. */
  ab?: (ArmFigures & { ref: string; cpuRatioReps: number[] })[];
  /**
   * Writes with BENCH_AB_REF: this build (`self`) and each build alone, in alternating slices; per
   * repetition, this build's CPU per request over each one's, of the process and of process + DB backends.
   */
  abWrite?: { self: ArmFigures; refs: (ArmFigures & { ref: string; cpuRatioReps: number[]; totalCpuRatioReps: number[] })[] };
  /** Items in the probe's page, for list cases. */
  items?: number;
  targets?: number;
  targetsUsed?: number;
}

export interface ArmFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  cpuMsPerRequest: number | null;
  dbCpuMsPerRequest: number | null;
}

export interface GrowthResult {
  endpoint: GrowthEndpoint;
  rows: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  items?: number;
}

export interface TargetCheck {
  target: string;
  value: string;
  met: boolean | null;
}

export interface BenchReport {
  startedAt: string;
  totalSeconds?: number;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string };
  database: { embedded: boolean; server: string };
  settings: Record<string, unknown>;
  cases: CaseResult[];
  queue: QueueResult[];
  growth: GrowthResult[];
  rss: {
    /** Node flags the API ran with. */
    nodeArgs: string;
    bootMb: number | null;
    idleMb: number | null;
    peakUnderLoadMb: number | null;
    /** The list case again on an API started without those flags. */
    nodeDefaults?: { peakUnderLoadMb: number | null; case: string; rps: number; p99: number };
  };
  targets: TargetCheck[];
}

const BASELINE_NAMES = { bare: 'bare NestJS', pgbench: 'pgbench tx', raw: 'raw reference' } as const;

function table(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (rightAlign[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n') + '\n';
}

const n0 = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '-' : Math.round(v).toLocaleString('en-US');
const n1 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(1));
const pct = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : `${(v * 100).toFixed(0)}%`);
const ms2 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(2));
const times = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`);
const timesRange = (v: number[] | undefined) => (v?.length ? `${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)}x` : '-');
const rowsLabel = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

/** An endpoint's first page p50 at the largest table over the smallest (null below two sizes). */
function growthSpan(r: BenchReport, endpoint: GrowthEndpoint): { first: GrowthResult; last: GrowthResult; ratio: number } | null {
  const rows = r.growth.filter((g) => g.endpoint === endpoint);
  if (rows.length < 2) return null;
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  return { first, last, ratio: last.p50 / first.p50 };
}

function evaluateTargets(r: BenchReport): TargetCheck[] {
  const byId = new Map(r.cases.map((c) => [c.id, c]));
  const out: TargetCheck[] = [];
  for (const id of ['list_vms', 'get_vm']) {
    const c = byId.get(id);
    out.push({
      target: `${c?.label ?? id} CPU per request <= 2.0x its raw reference`,
      value: c?.cpuRatio != null ? `${times(c.cpuRatio)} (${ms2(c.cpuMsPerRequest)} vs ${ms2(c.reference?.cpuMsPerRequest)} ms)` : '-',
      met: c?.cpuRatio != null ? c.cpuRatio <= 2 : null,
    });
  }
  const create = byId.get('create_vm');
  out.push({
    target: 'POST /api/vms >= 85% of the pgbench transaction rate',
    value: pct(create?.ratio),
    met: create?.ratio != null ? create.ratio >= 0.85 : null,
  });
  const reads = ['list_vms', 'get_vm', 'quota_check', 'list_events'].map((id) => byId.get(id)).filter((c): c is CaseResult => !!c);
  const worst = reads.reduce<CaseResult | undefined>((a, c) => (!a || c.p99 > a.p99 ? c : a), undefined);
  out.push({
    target: `p99 < 50 ms for reads at ${r.settings.connections} connections`,
    value: worst ? `worst ${worst.p99.toFixed(1)} ms (${worst.label})` : '-',
    met: worst ? worst.p99 < 50 && r.settings.connections === 32 : null,
  });
  for (const endpoint of Object.keys(GROWTH_ENDPOINTS) as GrowthEndpoint[]) {
    const label = GROWTH_ENDPOINTS[endpoint];
    const span = growthSpan(r, endpoint);
    if (!span) {
      out.push({ target: `${label} p50 at the largest table within 1.5x of the smallest`, value: '-', met: null });
      continue;
    }
    const { first, last, ratio } = span;
    out.push({
      target: `${label} p50 at ${rowsLabel(last.rows)} rows within 1.5x of ${rowsLabel(first.rows)}`,
      value: `${ratio.toFixed(2)}x (${n1(first.p50)} -> ${n1(last.p50)} ms)`,
      met: ratio <= 1.5,
    });
  }
  for (const q of r.queue) {
    out.push({
      target: `queue ${q.workers} worker(s) x concurrency ${q.concurrency}: drained within 1.2x of jobs / (N x C) x ${q.delayMs} ms`,
      value: `${q.ratio.toFixed(2)}x (${n1(q.seconds)} s for ${q.jobs})`,
      met: !q.timedOut && q.failed === 0 && q.ratio <= 1.2,
    });
  }
  out.push({
    target: 'API RSS < 200 MB under load',
    value: r.rss.peakUnderLoadMb === null ? '-' : `${n0(r.rss.peakUnderLoadMb)} MB`,
    met: r.rss.peakUnderLoadMb === null ? null : r.rss.peakUnderLoadMb < 200,
  });
  return out;
}

export type GrowthEndpoint =
  'vms' | 'events' | 'ledger' | 'ssh_keys' | 'admin_vms' | 'admin_events' | 'admin_users' | 'admin_ledger' | 'admin_hosts';

const GROWTH_ENDPOINTS: Record<GrowthEndpoint, string> = {
  vms: 'GET /api/vms?limit=50',
  events: 'GET /api/events?limit=50',
  ledger: 'GET /api/credits/transactions?limit=50',
  ssh_keys: 'GET /api/ssh-keys?limit=50',
  admin_vms: 'GET /api/admin/vms?limit=50',
  admin_events: 'GET /api/admin/events?limit=50',
  admin_users: 'GET /api/admin/users?limit=50',
  admin_ledger: 'GET /api/admin/users/{id}/credits/transactions?limit=50',
  admin_hosts: 'GET /api/admin/hosts?limit=50',
};

export function formatReport(r: BenchReport): { text: string; targets: TargetCheck[] } {
  const s = r.settings;
  let text = `\nVM Platform API benchmark, ${r.startedAt}\n`;
  text += `${r.machine.cpus} CPUs (${r.machine.cpuModel}), ${r.machine.memoryGb} GB, Node ${r.machine.node}, PostgreSQL ${r.database.server} (${r.database.embedded ? 'embedded' : 'DATABASE_URL'})\n`;
  text += `${s.connections} connections; each case ${s.duration} s in ${s.rounds} slices alternating with as many of its baseline, after ${s.warmup} s warm-up of each; API: node ${(s.nodeArgs as string[]).join(' ') || '(defaults)'}, DB_POOL_SIZE ${s.dbPool}, WORKER=false\n\n`;

  const range = (v: number[] | undefined) => (v?.length ? `${pct(Math.min(...v))}-${pct(Math.max(...v))}` : '-');
  text += table(
    ['case', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'vs baseline', 'its req/s', 'ratio', 'per round', 'CPU ms/req'],
    r.cases.map((c) => [
      c.label,
      n0(c.rps),
      n1(c.p50),
      n1(c.p99),
      String(c.errors),
      c.baseline ? BASELINE_NAMES[c.baseline] : '(baseline)',
      c.baseline ? n0(c.baselineRps) : '',
      pct(c.ratio),
      c.baseline ? range(c.roundRatios) : '',
      c.cpuMsPerRequest == null ? '-' : c.cpuMsPerRequest.toFixed(2),
    ]),
    [false, true, true, true, true, false, true, true, true, true],
  );

  const referenced = r.cases.filter((c) => c.reference);
  if (referenced.length) {
    text += `\nReads against their raw reference (bench/raw-list.ts: the same SQL, prepared, and the same mappers on node:http + pg): CPU time of the serving process per request; ${s.readReps} repetitions of ${s.rounds} alternating slices each, DB CPU from the backends' /proc times\n`;
    const rows: string[][] = [];
    for (const c of referenced) {
      const ref = c.reference!;
      rows.push([
        c.label,
        ms2(c.cpuMsPerRequest),
        ms2(ref.cpuMsPerRequest),
        times(c.cpuRatio),
        timesRange(c.cpuRatioReps),
        n0(c.rps),
        n0(ref.rps),
        `${ms2(c.dbCpuMsPerRequest)} / ${ms2(ref.dbCpuMsPerRequest)}`,
        `${n1(c.p50)} / ${n1(c.p99)}`,
      ]);
      for (const ab of c.ab ?? []) {
        const ratio = ab.cpuMsPerRequest && c.cpuMsPerRequest != null ? c.cpuMsPerRequest / ab.cpuMsPerRequest : null;
        rows.push([
          `  same on ${ab.ref}`,
          ms2(ab.cpuMsPerRequest),
          ms2(ref.cpuMsPerRequest),
          times(ab.cpuMsPerRequest && ref.cpuMsPerRequest ? ab.cpuMsPerRequest / ref.cpuMsPerRequest : null),
          '',
          n0(ab.rps),
          n0(ref.rps),
          `${ms2(ab.dbCpuMsPerRequest)} / ${ms2(ref.dbCpuMsPerRequest)}`,
          `${n1(ab.p50)} / ${n1(ab.p99)}`,
        ]);
        rows.push([
          `  A/B: this build / ${ab.ref}`,
          times(ratio),
          '',
          '',
          timesRange(ab.cpuRatioReps),
          `${times(c.rps / ab.rps)} req/s`,
          '',
          '',
          '',
        ]);
      }
    }
    text += table(
      [
        'route',
        'CPU ms/req',
        'raw CPU ms/req',
        'ratio',
        'per repetition',
        'req/s',
        'raw req/s',
        'DB CPU ms/req (it / raw)',
        'p50 / p99 ms',
      ],
      rows,
      [false, true, true, true, true, true, true, true, true],
    );
  }

  const abWrites = r.cases.filter((c) => c.abWrite);
  if (abWrites.length) {
    text += `\nWrites A/B (BENCH_AB_REF): this build and each build alone in alternating slices (${Number(s.readReps)} repetitions of ${Number(s.rounds)} rounds, order rotating), CPU per request of the API process and of its DB backends\n`;
    const rows: string[][] = [];
    const total = (a: ArmFigures) =>
      a.cpuMsPerRequest != null && a.dbCpuMsPerRequest != null ? a.cpuMsPerRequest + a.dbCpuMsPerRequest : null;
    for (const c of abWrites) {
      const { self, refs } = c.abWrite!;
      const arm = (name: string, a: ArmFigures) => [
        name,
        ms2(a.cpuMsPerRequest),
        ms2(a.dbCpuMsPerRequest),
        ms2(total(a)),
        n0(a.rps),
        `${n1(a.p50)} / ${n1(a.p99)}`,
        String(a.errors),
      ];
      rows.push(arm(`${c.label}, this build`, self));
      for (const ab of refs) {
        rows.push(arm(`  on ${ab.ref}`, ab));
        const selfTotal = total(self);
        const abTotal = total(ab);
        rows.push([
          `  this build / ${ab.ref}`,
          `${times(self.cpuMsPerRequest && ab.cpuMsPerRequest ? self.cpuMsPerRequest / ab.cpuMsPerRequest : null)} (${timesRange(ab.cpuRatioReps)})`,
          '',
          `${times(selfTotal && abTotal ? selfTotal / abTotal : null)} (${timesRange(ab.totalCpuRatioReps)})`,
          times(self.rps / ab.rps),
          '',
          '',
        ]);
      }
    }
    text += table(['case', 'CPU ms/req', 'DB CPU ms/req', 'total ms/req', 'req/s', 'p50 / p99 ms', 'errors'], rows, [
      false,
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
  }

  if (r.growth.length) {
    const levels = [...new Set(r.growth.map((g) => g.rows))];
    text += `\nGrowth: first page latency as the tables grow (${s.growthConnections} connections, ${s.growthDuration} s each), p50 / p99 ms\n`;
    const rows = (Object.keys(GROWTH_ENDPOINTS) as GrowthEndpoint[]).map((endpoint) => {
      const label = GROWTH_ENDPOINTS[endpoint];
      const cells = levels.map((n) => {
        const g = r.growth.find((x) => x.endpoint === endpoint && x.rows === n);
        return g ? `${n1(g.p50)} / ${n1(g.p99)}${g.errors ? ` (${g.errors} err)` : ''}` : '-';
      });
      const span = growthSpan(r, endpoint);
      return [label, ...cells, span ? `${span.ratio.toFixed(2)}x` : '-'];
    });
    text += table(['endpoint', ...levels.map((n) => `${rowsLabel(n)} rows`), 'p50 largest/smallest'], rows, [
      false,
      ...levels.map(() => true),
      true,
    ]);
  }

  if (r.queue.length) {
    const q0 = r.queue[0];
    text += `\nQueue: creates queued through the API, then drained by N worker processes x concurrency C (simulator, ${q0!.delayMs} ms per operation; ideal = jobs x ${q0!.delayMs} ms / (N x C))\n`;
    text += table(
      ['N x C', 'jobs', 'enqueue s', 'worker boot s', 'to all running s', 'ideal s', 'ratio', 'jobs/s', 'failed', 'worker RSS MB'],
      r.queue.map((q) => [
        `${q.workers} x ${q.concurrency}`,
        String(q.jobs),
        n1(q.enqueueSeconds),
        n1(q.bootSeconds),
        `${n1(q.seconds)}${q.timedOut ? ' (timed out)' : ''}`,
        n1(q.idealSeconds),
        `${q.ratio.toFixed(2)}x`,
        n1(q.jobsPerSecond),
        String(q.failed),
        q.workerPeakRssMb.map(n0).join(', '),
      ]),
      [false, true, true, true, true, true, true, true, true, true],
    );
  }
  text += `\nAPI memory (RSS, node ${r.rss.nodeArgs || '(defaults)'}): ${n0(r.rss.bootMb)} MB after boot, ${n0(r.rss.idleMb)} MB idle after seeding, ${n0(r.rss.peakUnderLoadMb)} MB peak under load\n`;
  const d = r.rss.nodeDefaults;
  if (d)
    text += `  with Node's default heap sizing: ${n0(d.peakUnderLoadMb)} MB peak under ${d.case} (${n0(d.rps)} req/s, p99 ${n1(d.p99)} ms)\n`;

  const targets = evaluateTargets(r);
  text += '\nTargets\n';
  text += table(
    ['target', 'measured', 'met'],
    targets.map((t) => [t.target, t.value, t.met === null ? 'n/a' : t.met ? 'yes' : 'NO']),
    [false, false, false],
  );
  return { text, targets };
}
