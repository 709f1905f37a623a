/**
 * `npm run bench`: starts the built service (node dist/src/main.js) on a fresh database, seeds it
 * through its API, drives load with autocannon from a separate process and compares every figure
 * with a baseline measured in the same run: a bare NestJS app (framework ceiling) and pgbench
 * running the SQL of a VM create (database ceiling). Prints tables; writes bench/results/latest.json.
 *
 * DATABASE_URL: a PostgreSQL server on which a fresh database is created (and dropped afterwards);
 * unset: an embedded PostgreSQL in a temporary DATA_DIR. Knobs: see docs/performance.md.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/database/embedded-postgres';
import type { LoadResult, LoadTarget } from './load';
import { formatReport, type ArmFigures, type BenchReport, type CaseResult, type GrowthResult } from './report';
import { queueConfig, queueGrid } from './queue';
import { GROWTH_FILLERS, growthEndpoints, topUpGrowth } from './growth';
import {
  api,
  benchServiceEnv,
  buildRef,
  cpuMs,
  freePorts,
  createDatabase,
  dropDatabase,
  envList,
  envNumber,
  exec,
  killChildren,
  log,
  percentile,
  pool,
  registerBenchHost,
  RESULTS_DIR,
  ROOT,
  rssMb,
  runLoad,
  sampleRss,
  Service,
  sql,
  startNode,
  waitForHttp,
} from './support';

const cfg = {
  duration: envNumber('BENCH_DURATION', 10),
  warmup: envNumber('BENCH_WARMUP', 2),
  /** Each case's duration is split into this many slices, alternated with as many of its baseline. */
  rounds: envNumber('BENCH_ROUNDS', 5),
  connections: envNumber('BENCH_CONNECTIONS', 32),
  users: envNumber('BENCH_USERS', 32),
  vmsPerUser: envNumber('BENCH_VMS_PER_USER', 25),
  /** Distinct live VMs the destroy-action case can use (one per request, warm-up included). */
  actionPool: envNumber('BENCH_ACTION_POOL', 20_000),
  growthRows: envList('BENCH_GROWTH_ROWS', [10_000, 100_000, 1_000_000]),
  growthDuration: envNumber('BENCH_GROWTH_DURATION', 5),
  growthConnections: envNumber('BENCH_GROWTH_CONNECTIONS', 8),
  /** First of four ports (API, bare app, growth API, raw reference; A/B APIs take free ones); default: free ports picked at start. */
  port: envNumber('BENCH_PORT', 0),
  /**
   * Node flags for the API and worker processes: by default those of `npm start` and the Docker
   * image (node-options.env). BENCH_NODE_ARGS= (empty) runs them with Node's defaults.
   */
  nodeArgs: (process.env.BENCH_NODE_ARGS ?? '--env-file=node-options.env').split(' ').filter(Boolean),
  /** The API's DB_POOL_SIZE (the service default is 10). */
  dbPool: envNumber('BENCH_DB_POOL', 10),
  /** Comma list of phases/cases to run (default all): bare, list_vms, get_vm, quota_check, list_events, create_vm, pgbench, vm_action, queue, growth, rss_node_defaults. */
  only: (process.env.BENCH_CASES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  /** Reads against their raw reference: repetitions of BENCH_ROUNDS alternating slices each. */
  readReps: envNumber('BENCH_READ_REPS', 3),
  /** A/B: commits (comma list) whose builds join the reads' alternation beside this tree's, and alternate with it on the create (see docs/performance.md). */
  abRefs: (process.env.BENCH_AB_REF ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  /** Run the API under `node --cpu-prof` (profiles in bench/results/profiles). */
  profile: ['1', 'true', 'yes'].includes((process.env.BENCH_PROFILE ?? '').toLowerCase()),
  keepDb: ['1', 'true', 'yes'].includes((process.env.BENCH_KEEP_DB ?? '').toLowerCase()),
  out: process.env.BENCH_OUT ?? join(RESULTS_DIR, 'latest.json'),
};

const ports = { api: 0, bare: 0, growth: 0, raw: 0 };

/** The flags as given, with what an --env-file's NODE_OPTIONS holds (the report shows the limits in effect). */
function describeNodeArgs(args: string[]): string {
  return args
    .map((a) => {
      const file = /^--env-file=(.+)$/.exec(a)?.[1];
      if (!file) return a;
      const options = /^NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(ROOT, file), 'utf8'))?.[1];
      return options ? `${a} (NODE_OPTIONS=${options})` : a;
    })
    .join(' ');
}

const wanted = (name: string) => cfg.only.length === 0 || cfg.only.includes(name);

const ADMIN = { email: 'bench-admin@example.com', password: 'bench-admin-password' };
const PASSWORD = 'bench-password-1';
const SPEC = { ram_mb: 1024, disk_gb: 20, cpu_cores: 2 };
const MAIN = join(ROOT, 'dist', 'src', 'main.js');
const WORKER = join(ROOT, 'dist', 'src', 'worker.js');
const BARE = join(__dirname, 'bare-app.js');
const RAW = join(__dirname, 'raw-list.js');

interface BenchUser {
  id: string;
  token: string;
}

function serviceEnv(databaseUrl: string, port: number): Record<string, string> {
  return {
    ...benchServiceEnv(databaseUrl, port),
    SIMULATOR_DELAY_MS: '0',
    JWT_EXPIRES_IN: String(24 * 3600),
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    DB_POOL_SIZE: String(cfg.dbPool),
    // node-postgres' default application_name: how the reads find this API's database backends.
    PGAPPNAME: 'bench-api',
  };
}

async function startApi(name: string, databaseUrl: string, port: number, profile = false, nodeArgs = cfg.nodeArgs): Promise<Service> {
  const args = [...nodeArgs, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS_DIR, 'profiles')}`] : [])];
  const svc = startNode(name, MAIN, serviceEnv(databaseUrl, port), args);
  // Our process says it listens (another one answering on the port must not pass for it).
  await svc.waitForLine(new RegExp(`listening[^\n]*:${port}\\b`, 'i'), 60_000);
  await waitForHttp(`http://127.0.0.1:${port}/api/health`, 60_000, svc);
  return svc;
}

async function registerUsers(base: string, count: number, prefix: string): Promise<BenchUser[]> {
  return pool(
    Array.from({ length: count }, (_, i) => i),
    4,
    async (i) => {
      const email = `${prefix}${i}@example.com`;
      const reg = await api(base, 'POST', '/api/auth/register', undefined, { username: `${prefix}${i}`, email, password: PASSWORD });
      if (reg.status !== 202) throw new Error(`register ${email}: ${reg.status} ${JSON.stringify(reg.body)}`);
      // argon2id: once per user, never per request.
      const login = await api(base, 'POST', '/api/auth/login', undefined, { email, password: PASSWORD });
      if (login.status !== 200) throw new Error(`login ${email}: ${login.status} ${JSON.stringify(login.body)}`);
      const me = await api(base, 'GET', '/api/users/me', login.body.access_token as string);
      return { id: me.body.id as string, token: login.body.access_token as string };
    },
  );
}

async function adminToken(base: string): Promise<string> {
  const login = await api(base, 'POST', '/api/auth/login', undefined, ADMIN);
  if (login.status !== 200) throw new Error(`admin login: ${login.status} ${JSON.stringify(login.body)}`);
  return login.body.access_token as string;
}

/** Creates `count` VMs through the API, round-robin over the users; returns their ids. */
async function createVms(base: string, users: BenchUser[], count: number, prefix: string): Promise<string[]> {
  return pool(
    Array.from({ length: count }, (_, i) => i),
    16,
    async (i) => {
      const u = users[i % users.length];
      const res = await api(base, 'POST', '/api/vms', u!.token, { name: `${prefix}-${i}`, os_type: 'ubuntu-22.04', ...SPEC });
      if (res.status !== 202) throw new Error(`create VM: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
  );
}

/** Interleaves per-user lists so consecutive requests go to different users. */
function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) out.push(l[i]!);
  return out;
}

// ---------------------------------------------------------------- HTTP cases

interface CaseDef {
  id: string;
  label: string;
  method: 'GET' | 'POST';
  /** What it is compared with: a baseline in alternating slices, or (reads) its raw reference; null for a reference itself. */
  baseline: 'bare' | 'pgbench' | 'raw' | null;
  expect: number;
  targets: LoadTarget[];
}

async function runCase(
  base: string,
  api: Service,
  def: CaseDef,
  connections = cfg.connections,
  duration = cfg.duration,
  warmup = cfg.warmup,
) {
  log(
    `case ${def.id}: ${def.method} ${def.label} (${connections} connections, ${duration} s + ${warmup} s warm-up, ${def.targets.length} targets)`,
  );
  const stopRss = sampleRss(api.proc.pid);
  const load = await runLoad({
    url: base,
    method: def.method,
    connections,
    durationSeconds: duration,
    warmupSeconds: warmup,
    targets: def.targets,
  });
  return { load, peakRss: stopRss() };
}

/** One request before the load, so a broken case fails loudly instead of measuring errors. */
async function probe(base: string, def: CaseDef, target: LoadTarget): Promise<number | undefined> {
  const res = await api(
    base,
    def.method,
    target.path,
    target.token,
    target.body ? JSON.parse(target.body.replace(/\{\{n\}\}/g, 'probe')) : undefined,
  );
  if (res.status !== def.expect) throw new Error(`probe ${def.id}: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
  return Array.isArray(res.body?.items) ? res.body.items.length : undefined;
}

/** One stretch of load on one target: what a case or a baseline did in it. */
interface Slice {
  requests: number;
  seconds: number;
  errors: number;
  /** Every response time (ms) of the slice. */
  latencies: number[];
  statusCodes: Record<string, number>;
  targetsUsed: number;
}

interface Merged {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  statusCodes: Record<string, number>;
  targetsUsed: number;
}

/** Rates and exact latency percentiles over several slices. */
function merge(slices: Slice[]): Merged {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const statusCodes: Record<string, number> = {};
  for (const s of slices) for (const [code, n] of Object.entries(s.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const requests = slices.reduce((a, s) => a + s.requests, 0);
  const seconds = slices.reduce((a, s) => a + s.seconds, 0);
  return {
    requests,
    rps: seconds > 0 ? requests / seconds : 0,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors: slices.reduce((a, s) => a + s.errors, 0),
    statusCodes,
    targetsUsed: slices.reduce((a, s) => a + s.targetsUsed, 0),
  };
}

/** Runs `seconds` of load; `offset` is how many of its targets earlier slices used. */
type SliceRunner = (seconds: number, offset: number) => Promise<Slice>;

function httpSlices(base: string, def: CaseDef, connections = cfg.connections): SliceRunner {
  return async (seconds, offset) => {
    const load = await runLoad({
      url: base,
      method: def.method,
      connections,
      durationSeconds: seconds,
      warmupSeconds: 0,
      targets: def.targets,
      offset,
      recordLatencies: true,
    });
    return {
      requests: load.requests,
      seconds: load.durationSeconds,
      errors: load.errors,
      latencies: load.latencies ?? [],
      statusCodes: load.statusCodes,
      targetsUsed: load.targetsUsed,
    };
  };
}

interface PairedRun {
  subject: Merged;
  baseline: Merged | null;
  baselineSlices: Slice[];
  /** Subject req/s over baseline req/s, round by round. */
  roundRatios: number[];
  cpuPerRequest: number | null;
  peakRss: number | null;
}

/**
 * A case and its baseline in alternating slices after a warm-up of each (baseline, case, baseline,
 * case, ...; BENCH_ROUNDS of each, BENCH_DURATION seconds in all per side). The machine is shared and
 * its speed drifts from one second to the next: measured this way both see the same moments, so the
 * ratio of their rates holds where two back-to-back runs could differ by half.
 */
async function paired(def: CaseDef, subject: SliceRunner, served: Service, baseline: SliceRunner | null): Promise<PairedRun> {
  log(
    `case ${def.id}: ${def.method} ${def.label} (${cfg.connections} connections, ${cfg.rounds} x ${sliceSeconds()} s${baseline ? ' alternating with its baseline' : ''}, ${def.targets.length} targets)`,
  );
  const sides = baseline ? [baseline, subject] : [subject];
  const offsets = sides.map(() => 0);
  const slices: Slice[][] = sides.map(() => []);
  const stopRss = sampleRss(served.proc.pid);
  const cpu0 = cpuMs(served.proc.pid);
  if (cfg.warmup > 0) for (const [i, run] of sides.entries()) offsets[i]! += (await run(cfg.warmup, offsets[i]!)).targetsUsed;
  for (let r = 0; r < cfg.rounds; r++) {
    for (const [i, run] of sides.entries()) {
      const slice = await run(sliceSeconds(), offsets[i]!);
      offsets[i]! += slice.targetsUsed;
      slices[i]!.push(slice);
    }
  }
  const cpu1 = cpuMs(served.proc.pid);
  const peakRss = stopRss();
  const own = slices[sides.length - 1];
  const base = baseline ? slices[0] : [];
  const rate = (x: Slice) => x.requests / x.seconds;
  return {
    subject: merge(own!),
    baseline: baseline ? merge(base!) : null,
    baselineSlices: base!,
    roundRatios: baseline ? own!.map((x, r) => rate(x) / rate(base![r]!)) : [],
    // The served process is idle during baseline slices: its CPU time is the subject's, warm-up included.
    cpuPerRequest: cpu0 !== null && cpu1 !== null && offsets[sides.length - 1]! > 0 ? (cpu1 - cpu0) / offsets[sides.length - 1]! : null,
    peakRss,
  };
}

const sliceSeconds = () => Math.max(1, Math.round(cfg.duration / cfg.rounds));

function toCaseResult(def: CaseDef, run: PairedRun, items?: number): CaseResult {
  const m = run.subject;
  return {
    cpuMsPerRequest: run.cpuPerRequest,
    id: def.id,
    label: `${def.method} ${def.label}`,
    baseline: def.baseline,
    rps: m.rps,
    p50: m.p50,
    p99: m.p99,
    errors: m.errors,
    requests: m.requests,
    statusCodes: m.statusCodes,
    baselineRps: run.baseline?.rps ?? null,
    ratio: run.baseline ? m.rps / run.baseline.rps : null,
    roundRatios: run.roundRatios,
    peakRssMb: run.peakRss,
    items,
    targets: def.targets.length,
    targetsUsed: m.targetsUsed,
  };
}

/** A baseline's own row: every slice it ran, over all the cases it was paired with. */
function baselineResult(id: string, label: string, slices: Slice[], cpuPerRequest: number | null): CaseResult {
  const m = merge(slices);
  return {
    id,
    label,
    baseline: null,
    rps: m.rps,
    p50: m.p50,
    p99: m.p99,
    errors: m.errors,
    requests: m.requests,
    ratio: null,
    peakRssMb: null,
    cpuMsPerRequest: cpuPerRequest,
  };
}

// ---------------------------------------------------------------- reads against their raw reference

interface ReferencedRead {
  def: CaseDef;
  /** The same read on bench/raw-list.ts. */
  raw: CaseDef;
}

/** One process answering one side of a comparison. */
interface Arm {
  name: string;
  served: Service;
  /** Its database sessions' application_name, to sum their backends' CPU. */
  appName: string;
  run: SliceRunner;
}

/** CPU time (ms) of the database backends of `appName`'s sessions, by backend pid (PostgreSQL on this machine only). */
async function backendCpu(dbUrl: string, appName: string): Promise<Map<number, number>> {
  const rows = await sql<{ pid: number }>(
    dbUrl,
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
    [appName],
  );
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    const ms = cpuMs(pid);
    if (ms !== null) out.set(pid, ms);
  }
  return out;
}

interface ArmTotals {
  slices: Slice[];
  cpuMs: number;
  dbCpuMs: number;
  /** Per repetition: requests, process CPU ms, its database backends' CPU ms. */
  reps: { requests: number; cpuMs: number; dbCpuMs: number }[];
}

/**
 * Each arm (raw reference, this service, optionally BENCH_AB_REF's build) in alternating slices: after
 * a warm-up of each, BENCH_READ_REPS repetitions of BENCH_ROUNDS rounds, each round one slice of every
 * arm (the order rotating round by round). CPU time of each serving process and of its database
 * backends is read around each of its own slices, so idle sides and warm-ups do not count.
 */
async function alternateArms(def: CaseDef, arms: Arm[], dbUrl: string): Promise<ArmTotals[]> {
  log(
    `case ${def.id}: ${def.method} ${def.label} (${cfg.connections} connections, ${cfg.readReps} x ${cfg.rounds} x ${sliceSeconds()} s alternating: ${arms.map((a) => a.name).join(', ')})`,
  );
  const offsets = arms.map(() => 0);
  const totals: ArmTotals[] = arms.map(() => ({ slices: [], cpuMs: 0, dbCpuMs: 0, reps: [] }));
  if (cfg.warmup > 0) for (const [i, arm] of arms.entries()) offsets[i]! += (await arm.run(cfg.warmup, offsets[i]!)).targetsUsed;
  for (let rep = 0; rep < cfg.readReps; rep++) {
    for (const t of totals) t.reps.push({ requests: 0, cpuMs: 0, dbCpuMs: 0 });
    for (let round = 0; round < cfg.rounds; round++) {
      for (let k = 0; k < arms.length; k++) {
        const i = (round + k) % arms.length;
        const arm = arms[i];
        const db0 = await backendCpu(dbUrl, arm!.appName);
        const cpu0 = cpuMs(arm!.served.proc.pid);
        const slice = await arm!.run(sliceSeconds(), offsets[i]!);
        const cpu1 = cpuMs(arm!.served.proc.pid);
        const db1 = await backendCpu(dbUrl, arm!.appName);
        offsets[i]! += slice.targetsUsed;
        const t = totals[i];
        t!.slices.push(slice);
        const cpu = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : NaN;
        t!.cpuMs += cpu;
        t!.reps[rep]!.requests += slice.requests;
        t!.reps[rep]!.cpuMs += cpu;
        let dbCpu = 0;
        for (const [pid, ms] of db1) dbCpu += ms - (db0.get(pid) ?? 0);
        t!.dbCpuMs += dbCpu;
        t!.reps[rep]!.dbCpuMs += dbCpu;
      }
    }
  }
  return totals;
}

const perRequest = (ms: number, requests: number) => (requests > 0 && Number.isFinite(ms) ? ms / requests : null);

/** An arm's rates, latencies and CPU per request over all its slices. */
function armSummary(t: ArmTotals): ArmFigures {
  const m = merge(t.slices);
  return {
    rps: m.rps,
    p50: m.p50,
    p99: m.p99,
    requests: m.requests,
    errors: m.errors,
    cpuMsPerRequest: perRequest(t.cpuMs, m.requests),
    dbCpuMsPerRequest: perRequest(t.dbCpuMs, m.requests),
  };
}

/** Per repetition: a's CPU per request (as `cpu` counts it) over b's. */
function repRatios(a: ArmTotals, b: ArmTotals, cpu: (rep: ArmTotals['reps'][number]) => number): number[] {
  const per = (t: ArmTotals) => t.reps.map((x) => perRequest(cpu(x), x.requests) ?? NaN);
  const [pa, pb] = [per(a), per(b)];
  return pa.map((x, k) => x / pb[k]!);
}

/**
 * GET /api/vms and GET /api/vms/{id} against the same reads on bench/raw-list.ts, CPU per request of
 * the serving process first (steadier than req/s on a shared machine), req/s beside it.
 */
async function referenceReads(
  cases: ReferencedRead[],
  base: string,
  apiSvc: Service,
  dbUrl: string,
  probeUser: string,
): Promise<CaseResult[]> {
  const raw = startNode('raw', RAW, {
    PORT: String(ports.raw),
    DATABASE_URL: dbUrl,
    DB_POOL_SIZE: String(cfg.dbPool),
    PGAPPNAME: 'bench-raw',
  });
  const abs: { ref: string; svc: Service; base: string }[] = [];
  try {
    for (const [i, ref] of cfg.abRefs.entries()) abs.push(await startAbApi(dbUrl, ref, i));
    const rawBase = `http://127.0.0.1:${ports.raw}`;
    await waitForHttp(`${rawBase}/vms/${probeUser}`, 30_000, raw);
    const results: CaseResult[] = [];
    for (const { def, raw: rawDef } of cases) {
      const items = await probe(base, def, def.targets[0]!);
      await probe(rawBase, rawDef, rawDef.targets[0]!);
      const arms: Arm[] = [
        { name: 'raw', served: raw, appName: 'bench-raw', run: httpSlices(rawBase, rawDef) },
        { name: 'service', served: apiSvc, appName: 'bench-api', run: httpSlices(base, def) },
      ];
      for (const [i, ab] of abs.entries()) {
        await probe(ab.base, def, def.targets[0]!);
        arms.push({ name: `service@${ab.ref}`, served: ab.svc, appName: `bench-api-ab${i}`, run: httpSlices(ab.base, def) });
      }
      const stopRss = sampleRss(apiSvc.proc.pid);
      const totals = await alternateArms(def, arms, dbUrl);
      const peakRss = stopRss();
      const [r, s] = [armSummary(totals[0]!), armSummary(totals[1]!)];
      const ratios = (a: ArmTotals, b: ArmTotals) => repRatios(a, b, (x) => x.cpuMs);
      const m = merge(totals[1]!.slices);
      const result: CaseResult = {
        id: def.id,
        label: `${def.method} ${def.label}`,
        baseline: 'raw',
        rps: s.rps,
        p50: s.p50,
        p99: s.p99,
        errors: s.errors,
        requests: s.requests,
        statusCodes: m.statusCodes,
        baselineRps: r.rps,
        ratio: s.rps / r.rps,
        roundRatios: totals[1]!.slices.map(
          (x, k) => x.requests / x.seconds / (totals[0]!.slices[k]!.requests / totals[0]!.slices[k]!.seconds),
        ),
        peakRssMb: peakRss,
        cpuMsPerRequest: s.cpuMsPerRequest,
        dbCpuMsPerRequest: s.dbCpuMsPerRequest,
        reference: { label: `${rawDef.method} ${rawDef.label}`, ...r },
        cpuRatio: s.cpuMsPerRequest !== null && r.cpuMsPerRequest ? s.cpuMsPerRequest / r.cpuMsPerRequest : null,
        cpuRatioReps: ratios(totals[1]!, totals[0]!),
        items,
        targets: def.targets.length,
        targetsUsed: m.targetsUsed,
      };
      result.ab = abs.map((ab, i) => ({ ref: ab.ref, ...armSummary(totals[2 + i]!), cpuRatioReps: ratios(totals[1]!, totals[2 + i]!) }));
      results.push(result);
    }
    return results;
  } finally {
    await raw.stop();
    await Promise.all(abs.map((ab) => ab.svc.stop()));
  }
}

/** BENCH_AB_REF's builds, each made once per run (the reads and the writes both start them). */
const builds = new Map<string, Promise<string>>();
function builtRef(ref: string): Promise<string> {
  if (!builds.has(ref)) builds.set(ref, buildRef(ref));
  return builds.get(ref)!;
}

/** One of BENCH_AB_REF's builds serving the same database beside this tree's API. */
async function startAbApi(dbUrl: string, ref: string, i: number): Promise<{ ref: string; svc: Service; base: string }> {
  const main = await builtRef(ref);
  const [port] = await freePorts(1);
  const svc = startNode(`api-ab${i}`, main, { ...serviceEnv(dbUrl, port!), PGAPPNAME: `bench-api-ab${i}` }, cfg.nodeArgs);
  await waitForHttp(`http://127.0.0.1:${port}/api/health`, 60_000, svc);
  return { ref, svc, base: `http://127.0.0.1:${port}` };
}

/**
 * A write case with BENCH_AB_REF: this tree's API and each build, alone (no baseline), in alternating
 * slices as the reads are (BENCH_READ_REPS x BENCH_ROUNDS, order rotating): CPU per request of each
 * serving process and of its database backends. `defFor(i)` gives arm i its own targets (e.g. VM names
 * no other arm uses).
 */
async function abWrite(
  defFor: (arm: number) => CaseDef,
  base: string,
  apiSvc: Service,
  dbUrl: string,
): Promise<NonNullable<CaseResult['abWrite']>> {
  const abs: { ref: string; svc: Service; base: string }[] = [];
  try {
    for (const [i, ref] of cfg.abRefs.entries()) abs.push(await startAbApi(dbUrl, ref, i));
    const arms: Arm[] = [{ name: 'service', served: apiSvc, appName: 'bench-api', run: httpSlices(base, defFor(0)) }];
    for (const [i, ab] of abs.entries()) {
      const def = defFor(1 + i);
      await probe(ab.base, def, def.targets[0]!);
      arms.push({ name: `service@${ab.ref}`, served: ab.svc, appName: `bench-api-ab${i}`, run: httpSlices(ab.base, def) });
    }
    await probe(base, defFor(0), defFor(0).targets[0]!);
    const totals = await alternateArms(defFor(0), arms, dbUrl);
    return {
      self: armSummary(totals[0]!),
      refs: abs.map((ab, i) => ({
        ref: ab.ref,
        ...armSummary(totals[1 + i]!),
        cpuRatioReps: repRatios(totals[0]!, totals[1 + i]!, (x) => x.cpuMs),
        totalCpuRatioReps: repRatios(totals[0]!, totals[1 + i]!, (x) => x.cpuMs + x.dbCpuMs),
      })),
    };
  } finally {
    await Promise.all(abs.map((ab) => ab.svc.stop()));
  }
}

// ---------------------------------------------------------------- pgbench

/** The pgbench script's own funded users, with ids it can compute from a number; then its slices. */
async function pgbenchSlices(dbUrl: string, users: number): Promise<SliceRunner> {
  await sql(
    dbUrl,
    `WITH u AS (
       INSERT INTO users (id, username, email, password_hash, role, credits)
       SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'pgbench' || i, 'pgbench' || i || '@example.com', '!', 'user', 1000000000
         FROM generate_series(1, $1::int) i
       ON CONFLICT DO NOTHING RETURNING id)
     INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind) SELECT gen_random_uuid(), id, 1000000000, 1000000000, 'signup_grant' FROM u`,
    [users],
  );
  const script = join(ROOT, 'bench', 'sql', 'vm-create.pgbench.sql');
  const threads = String(Math.max(1, Math.min(cfg.connections, cpus().length)));
  const common = ['-n', '-M', 'extended', '-c', String(cfg.connections), '-j', threads, '-f', script, '-D', `nusers=${users}`];
  return async (seconds) => {
    const logDir = mkdtempSync(join(tmpdir(), 'vmapi-pgbench-'));
    try {
      const r = await exec('pgbench', [
        ...common,
        '-T',
        String(Math.max(1, Math.round(seconds))),
        '-l',
        `--log-prefix=${join(logDir, 'tx')}`,
        dbUrl,
      ]);
      const tps = Number(/tps = ([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
      const processed = Number(/actually processed: (\d+)/.exec(r.stdout)?.[1] ?? 0);
      const failed = Number(/number of failed transactions: (\d+)/.exec(r.stdout)?.[1] ?? 0);
      const aborted = (r.stderr.match(/aborted/g) ?? []).length;
      if (!Number.isFinite(tps)) throw new Error(`pgbench failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      const latencies: number[] = [];
      for (const f of readdirSync(logDir)) {
        for (const line of readFileSync(join(logDir, f), 'utf8').split('\n')) {
          const cols = line.split(' ');
          if (cols.length >= 3) latencies.push(Number(cols[2]) / 1000);
        }
      }
      return {
        requests: processed,
        seconds: processed / tps,
        errors: failed + aborted + (r.code === 0 ? 0 : 1),
        latencies,
        statusCodes: {},
        targetsUsed: processed,
      };
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  };
}

// ---------------------------------------------------------------- growth

async function growthPhase(serverUrl: string, stamp: string): Promise<GrowthResult[]> {
  const name = `vmapi_bench_${stamp}_growth`;
  const dbUrl = await createDatabase(serverUrl, name);
  const port = ports.growth;
  const base = `http://127.0.0.1:${port}`;
  const svc = await startApi('api-growth', dbUrl, port);
  try {
    const [user] = await registerUsers(base, 1, `g${stamp}u`);
    const admin = await adminToken(base);
    const fillers = await sql<{ id: string }>(
      dbUrl,
      `INSERT INTO users (username, email, password_hash, credits)
       SELECT 'filler' || i, 'filler' || i || '@example.com', '!', 0 FROM generate_series(1, $1::int) i RETURNING id`,
      [GROWTH_FILLERS],
    );
    const owners = [user!.id, ...fillers.map((f) => f.id)];
    const results: GrowthResult[] = [];
    for (const rows of cfg.growthRows) {
      const t0 = performance.now();
      await topUpGrowth(dbUrl, rows, owners);
      log(`growth: ${rows} rows in every listed table (seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      const cases = growthEndpoints(user!, admin);
      for (const c of cases) {
        const def: CaseDef = {
          id: `growth_${c.id}_${rows}`,
          label: c.path,
          method: 'GET',
          baseline: 'bare',
          expect: 200,
          targets: [{ path: c.path, token: c.token }],
        };
        const items = await probe(base, def, def.targets[0]!);
        const { load } = await runCase(base, svc, def, cfg.growthConnections, cfg.growthDuration, Math.min(cfg.warmup, 1));
        results.push({ endpoint: c.id, rows, rps: load.rps, p50: load.latency.p50, p99: load.latency.p99, errors: load.errors, items });
      }
    }
    return results;
  } finally {
    await svc.stop();
    if (!cfg.keepDb) await dropDatabase(serverUrl, name).catch(() => undefined);
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  Logger.overrideLogger(['warn', 'error', 'fatal']);
  const stamp = Date.now().toString(36);
  const started = performance.now();
  let embedded: EmbeddedDatabase | undefined;
  let embeddedDir: string | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    embeddedDir = mkdtempSync(join(tmpdir(), 'vmapi-bench-'));
    await chmod(embeddedDir, 0o755);
    embedded = await startEmbeddedPostgres(embeddedDir, 56000 + Math.floor(Math.random() * 4000));
    serverUrl = embedded.url;
    log(`embedded PostgreSQL in ${embeddedDir}`);
  }
  const dbName = `vmapi_bench_${stamp}`;
  const dbUrl = await createDatabase(serverUrl, dbName);
  const [api, bare, growth, raw] = cfg.port ? [0, 1, 2, 3].map((i) => cfg.port + i) : await freePorts(4);
  [ports.api, ports.bare, ports.growth, ports.raw] = [api!, bare!, growth!, raw!];
  const base = `http://127.0.0.1:${ports.api}`;
  let apiSvc: Service | undefined;
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    database: { embedded: !!embedded, server: '' },
    settings: { ...cfg, out: undefined, only: cfg.only.length ? cfg.only : undefined, queue: queueConfig },
    cases: [],
    queue: [],
    growth: [],
    rss: { nodeArgs: describeNodeArgs(cfg.nodeArgs), bootMb: null, idleMb: null, peakUnderLoadMb: null },
    targets: [],
  };
  try {
    report.database.server = (await sql<{ v: string }>(dbUrl, `SELECT current_setting('server_version') AS v`))[0]!.v;
    apiSvc = await startApi('api', dbUrl, ports.api);
    await registerBenchHost(dbUrl);
    report.rss.bootMb = rssMb(apiSvc.proc.pid);
    log(`registering ${cfg.users} users (argon2id: once each)`);
    const users = await registerUsers(base, cfg.users, `b${stamp}u`);

    if (wanted('queue')) {
      report.queue = await queueGrid({
        dbUrl,
        env: serviceEnv(dbUrl, 0),
        nodeArgs: cfg.nodeArgs,
        workerScript: WORKER,
        createVms: (count, prefix) => createVms(base, users, count, prefix),
      });
    }
    // Every user gets at least vmsPerUser VMs (the list case reads a full page of 20).
    const counts = await sql<{ user_id: string; n: number }>(dbUrl, `SELECT user_id, count(*)::int AS n FROM vms GROUP BY user_id`);
    const have = new Map(counts.map((c) => [c.user_id, c.n]));
    const missing = users.flatMap((u) => Array.from({ length: Math.max(0, cfg.vmsPerUser - (have.get(u.id) ?? 0)) }, () => u));
    if (missing.length) {
      log(`seeding ${missing.length} VMs through the API`);
      await createVms(base, missing, missing.length, 's');
    }
    await sql(dbUrl, 'VACUUM ANALYZE');
    if (cfg.profile) {
      // A fresh process under --cpu-prof, so the profile holds the measured cases and not the seeding.
      await apiSvc.stop();
      apiSvc = await startApi('api', dbUrl, ports.api, true);
      log(`API restarted under --cpu-prof (profile written to bench/results/profiles when it stops)`);
    }
    await sleep(2000);
    report.rss.idleMb = rssMb(apiSvc.proc.pid);

    const vmsByUser = await sql<{ user_id: string; ids: string[] }>(
      dbUrl,
      `SELECT user_id, (array_agg(id ORDER BY created_at DESC))[1:5] AS ids FROM vms WHERE user_id = ANY($1::uuid[]) GROUP BY user_id`,
      [users.map((u) => u.id)],
    );
    const tokenOf = new Map(users.map((u) => [u.id, u.token]));
    const quotaBody = JSON.stringify(SPEC);
    const vmPairs = interleave(vmsByUser.map((r) => r.ids.map((vm) => ({ user: r.user_id, vm }))));
    const listDef: CaseDef = {
      id: 'list_vms',
      label: '/api/vms (20 items)',
      method: 'GET',
      baseline: 'raw',
      expect: 200,
      targets: users.map((u) => ({ path: '/api/vms', token: u.token })),
    };
    const referenced: ReferencedRead[] = [
      {
        def: listDef,
        raw: {
          id: 'raw_list',
          label: '/vms/{user} (raw list: node:http + pg)',
          method: 'GET',
          baseline: null,
          expect: 200,
          targets: users.map((u) => ({ path: `/vms/${u.id}` })),
        },
      },
      {
        def: {
          id: 'get_vm',
          label: '/api/vms/{id}',
          method: 'GET',
          baseline: 'raw',
          expect: 200,
          targets: vmPairs.map((p) => ({ path: `/api/vms/${p.vm}`, token: tokenOf.get(p.user)! })),
        },
        raw: {
          id: 'raw_get',
          label: '/vms/{user}/{id} (raw get: node:http + pg)',
          method: 'GET',
          baseline: null,
          expect: 200,
          targets: vmPairs.map((p) => ({ path: `/vms/${p.user}/${p.vm}` })),
        },
      },
    ];
    if (referenced.some((r) => wanted(r.def.id)))
      report.cases.push(
        ...(await referenceReads(
          referenced.filter((r) => wanted(r.def.id)),
          base,
          apiSvc,
          dbUrl,
          users[0]!.id,
        )),
      );

    const reads: CaseDef[] = [
      {
        id: 'quota_check',
        label: '/api/vms/quota-check',
        method: 'POST',
        baseline: 'bare',
        expect: 200,
        targets: users.map((u) => ({ path: '/api/vms/quota-check', token: u.token, body: quotaBody })),
      },
      {
        id: 'list_events',
        label: '/api/events?limit=50',
        method: 'GET',
        baseline: 'bare',
        expect: 200,
        targets: users.map((u) => ({ path: '/api/events?limit=50', token: u.token })),
      },
    ];

    // Framework ceiling: a bare NestJS app, up during the read cases, each of which alternates with it.
    const readCases = reads.filter((def) => wanted(def.id));
    if (readCases.length || wanted('bare')) {
      const barePort = ports.bare;
      const bare = startNode('bare', BARE, { PORT: String(barePort), NODE_ENV: 'production' });
      try {
        await waitForHttp(`http://127.0.0.1:${barePort}/api/ping`, 30_000, bare);
        const pingDef: CaseDef = {
          id: 'bare',
          label: '/api/ping (bare NestJS, constant JSON)',
          method: 'GET',
          baseline: 'bare',
          expect: 200,
          targets: [{ path: '/api/ping' }],
        };
        const barePing = wanted('bare') ? httpSlices(`http://127.0.0.1:${barePort}`, pingDef) : null;
        const bareSlices: Slice[] = [];
        const bareCpu0 = cpuMs(bare.proc.pid);
        let bareRequests = 0;
        const countedBare: SliceRunner | null = barePing
          ? async (seconds, offset) => {
              const slice = await barePing(seconds, offset);
              bareRequests += slice.targetsUsed;
              return slice;
            }
          : null;
        const readResults: CaseResult[] = [];
        for (const def of readCases) {
          const items = await probe(base, def, def.targets[0]!);
          const run = await paired(def, httpSlices(base, def), apiSvc, countedBare);
          bareSlices.push(...run.baselineSlices);
          readResults.push(toCaseResult(def, run, items));
        }
        if (barePing && !readCases.length) {
          // Only the baseline asked for: measured alone.
          report.cases.push({ ...toCaseResult(pingDef, await paired(pingDef, barePing, bare, null)), baseline: null });
        } else if (barePing) {
          const bareCpu1 = cpuMs(bare.proc.pid);
          const cpu = bareCpu0 !== null && bareCpu1 !== null && bareRequests > 0 ? (bareCpu1 - bareCpu0) / bareRequests : null;
          report.cases.push(baselineResult('bare', `GET ${pingDef.label}`, bareSlices, cpu));
        }
        report.cases.push(...readResults);
      } finally {
        await bare.stop();
      }
    }

    // Database ceiling: pgbench running the SQL of a create, alternating with each write case.
    const pgbenchRunner = wanted('pgbench') && (wanted('create_vm') || wanted('vm_action')) ? await pgbenchSlices(dbUrl, cfg.users) : null;
    const pgbenchSlicesRun: Slice[] = [];
    const writes: CaseResult[] = [];
    if (wanted('create_vm')) {
      /** `prefix` keeps the names of one stretch of creates apart from every other's. */
      const createDefOf = (prefix: string): CaseDef => ({
        id: 'create_vm',
        label: '/api/vms (create)',
        method: 'POST',
        baseline: 'pgbench',

        expect: 202,
        targets: users.map((u) => ({
          path: '/api/vms',
          token: u.token,
          body: JSON.stringify({ name: `${prefix}-{{n}}`, os_type: 'ubuntu-22.04', ...SPEC }),
        })),
      });
      const createDef = createDefOf(`c${stamp}`);
      await probe(base, createDef, createDef.targets[0]!);
      const run = await paired(createDef, httpSlices(base, createDef), apiSvc, pgbenchRunner);
      pgbenchSlicesRun.push(...run.baselineSlices);
      const result = toCaseResult(createDef, run);
      if (cfg.abRefs.length) result.abWrite = await abWrite((arm) => createDefOf(`c${stamp}-ab${arm}`), base, apiSvc, dbUrl);
      writes.push(result);
    }

    if (wanted('vm_action')) {
      // Destroy is allowed from every live state and can happen once per VM: each request gets its own VM.
      // Top the pool up with running VMs inserted by SQL (rows like the worker leaves them) so the
      // case never runs out; the action path reads the row under a lock, whoever created it.
      const [{ n } = { n: 0 }] = await sql<{ n: number }>(
        dbUrl,
        `SELECT count(*)::int AS n FROM vms WHERE user_id = ANY($1::uuid[]) AND status NOT IN ('destroyed', 'destroying')`,
        [users.map((u) => u.id)],
      );
      if (n < cfg.actionPool) {
        await sql(
          dbUrl,
          `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, ip_address, ssh_port, uptime_seconds,
                            last_started_at, cost, host, metadata, status_changed_at)
           SELECT gen_random_uuid(), ($2::uuid[])[1 + i % cardinality($2::uuid[])], 'a-' || i, 'ubuntu-22.04', 1024, 20, 2, 'running',
                  '10.1.' || (i / 250 % 250) || '.' || (i % 250 + 2), 2200 + i % 800, 0, now(), 34, 'bench-host', '{}', now()
             FROM generate_series(1, $1::int) i`,
          [cfg.actionPool - n, users.map((u) => u.id)],
        );
        await sql(dbUrl, 'VACUUM ANALYZE vms');
      }
      const live = await sql<{ user_id: string; ids: string[] }>(
        dbUrl,
        `SELECT user_id, array_agg(id ORDER BY created_at) AS ids FROM vms
          WHERE user_id = ANY($1::uuid[]) AND status NOT IN ('destroyed', 'destroying') GROUP BY user_id`,
        [users.map((u) => u.id)],
      );
      const targets = interleave(
        live.map((r) =>
          r.ids.map((id) => ({ path: `/api/vms/${id}/action`, token: tokenOf.get(r.user_id)!, body: '{"action":"destroy"}' })),
        ),
      );
      const def: CaseDef = {
        id: 'vm_action',
        label: '/api/vms/{id}/action (destroy)',
        method: 'POST',
        baseline: 'pgbench',
        expect: 202,
        targets,
      };
      await probe(base, def, targets.pop()!);
      const run = await paired(def, httpSlices(base, def), apiSvc, pgbenchRunner);
      pgbenchSlicesRun.push(...run.baselineSlices);
      writes.push(toCaseResult(def, run));
    }
    if (pgbenchSlicesRun.length)
      report.cases.push(baselineResult('pgbench_create', 'pgbench: VM create transaction', pgbenchSlicesRun, null));
    report.cases.push(...writes);
    const peaks = report.cases.filter((c) => c.baseline !== null && c.peakRssMb !== null).map((c) => c.peakRssMb!);
    report.rss.peakUnderLoadMb = peaks.length ? Math.max(...peaks) : null;
    await apiSvc.stop();
    apiSvc = undefined;

    if (cfg.nodeArgs.length && wanted('rss_node_defaults') && wanted('list_vms')) {
      // The same read load on an API with Node's own heap sizing, to show what the flags change.
      apiSvc = await startApi('api-node-defaults', dbUrl, ports.api, false, []);
      const def: CaseDef = { ...listDef, id: 'list_vms_node_defaults' };
      const { load, peakRss } = await runCase(base, apiSvc, def);
      report.rss.nodeDefaults = { peakUnderLoadMb: peakRss, case: `${def.method} ${def.label}`, rps: load.rps, p99: load.latency.p99 };
      await apiSvc.stop();
      apiSvc = undefined;
    }

    if (wanted('growth')) {
      report.growth = await growthPhase(serverUrl, stamp);
    }
  } finally {
    await apiSvc?.stop().catch(() => undefined);
    killChildren();
    if (!cfg.keepDb) await dropDatabase(serverUrl, dbName).catch(() => undefined);
    if (embedded) {
      await embedded.stop().catch(() => undefined);
      if (!cfg.keepDb) rmSync(embeddedDir!, { recursive: true, force: true });
    }
  }
  report.totalSeconds = (performance.now() - started) / 1000;
  const { text, targets } = formatReport(report);
  report.targets = targets;
  process.stdout.write(text);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(cfg.out, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${cfg.out} (${report.totalSeconds.toFixed(0)} s in all)`);
}

process.on('SIGINT', () => {
  killChildren();
  process.exit(130);
});

main().catch((err: Error) => {
  killChildren();
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
