/** Processes, HTTP and database helpers for bench/run.ts. */
import { ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { LoadJob, LoadResult } from './load';

export const ROOT = join(__dirname, '..', '..', '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
export const LOG_DIR = join(RESULTS_DIR, 'logs');

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw} is not a non-negative number`);
  return n;
}

export function envList(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (!raw) return fallback;
  return raw.split(',').map((s) => {
    const n = Number(s.trim().replace(/_/g, ''));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${raw}: ${s} is not a positive whole number`);
    return n;
  });
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---------------------------------------------------------------- processes

export interface Service {
  name: string;
  proc: ChildProcess;
  /** Resolves when a line of its output matches. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();

/** Stops every child this process started (by pid), for the error path. */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
}

/** Starts `node <script>` with its output in bench/results/logs/<name>.log. */
export function startNode(name: string, script: string, env: Record<string, string>, nodeArgs: string[] = []): Service {
  mkdirSync(LOG_DIR, { recursive: true });
  const out = createWriteStream(join(LOG_DIR, `${name}.log`));
  const proc = spawn(process.execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const waiters: { pattern: RegExp; resolve: (t: number) => void }[] = [];
  let tail = '';
  const onData = (chunk: Buffer) => {
    out.write(chunk);
    tail = (tail + chunk.toString()).slice(-4000);
    for (const w of [...waiters]) {
      if (w.pattern.test(tail)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(performance.now());
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.once('exit', () => {
    children.delete(proc);
    out.end();
  });
  return {
    name,
    proc,
    waitForLine: (pattern, timeoutMs) =>
      new Promise<number>((resolve, reject) => {
        if (pattern.test(tail)) return resolve(performance.now());
        const timer = setTimeout(
          () => reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms; log tail:\n${tail}`)),
          timeoutMs,
        );
        const done = (t: number) => {
          clearTimeout(timer);
          resolve(t);
        };
        waiters.push({ pattern, resolve: done });
        proc.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}) before a line matching ${pattern}; log tail:\n${tail}`));
        });
      }),
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const patience = new AbortController();
      const killed = await Promise.race([
        exited.then(() => false),
        sleep(40_000, undefined, { signal: patience.signal }).then(
          () => true,
          () => false,
        ),
      ]);
      patience.abort();
      if (killed) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Resident set size of a process in MB (Linux /proc). */
export function rssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** User + system CPU time a process has used so far, in ms (Linux /proc). */
export function cpuMs(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], fields[12]: utime, stime in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every 200 ms until stopped; returns the peak. */
export function sampleRss(pid: number | undefined): () => number | null {
  let peak: number | null = rssMb(pid);
  const timer = setInterval(() => {
    const v = rssMb(pid);
    if (v !== null && (peak === null || v > peak)) peak = v;
  }, 200);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** `count` distinct TCP ports nothing listens on right now (so concurrent bench runs do not collide). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export async function waitForHttp(url: string, timeoutMs: number, service?: Service): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service && service.proc.exitCode !== null)
      throw new Error(`${service.name} exited with code ${service.proc.exitCode} (see bench/results/logs/${service.name}.log)`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Runs one autocannon job in a forked process (never in this one, never in the service's). */
export function runLoad(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, 'load.js'), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(child);
    let settled = false;
    child.once('message', (msg: { ok: boolean; result?: LoadResult; error?: string }) => {
      settled = true;
      if (msg.ok) resolve(msg.result!);
      else reject(new Error(`load generator failed: ${msg.error}`));
    });
    child.once('exit', (code) => {
      children.delete(child);
      if (!settled) reject(new Error(`load generator exited with code ${code}`));
    });
    child.send(job);
  });
}

// ---------------------------------------------------------------- HTTP

export interface ApiAnswer<T = any> {
  status: number;
  body: T;
}

export async function api<T = any>(base: string, method: string, path: string, token?: string, body?: unknown): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed as T };
}

/** Runs `fn` over the items with at most `limit` in flight; keeps the order of results. */
export async function pool<I, O>(items: I[], limit: number, fn: (item: I, index: number) => Promise<O>): Promise<O[]> {
  const out: O[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}

// ---------------------------------------------------------------- database

export function withDatabase(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function sql<T = any>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

export interface OwnPostgres {
  /** URL of its `vmapi` database (password included). */
  url: string;
  dataDir: string;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * A PostgreSQL of the benchmark's own: the product's embedded server (src/database/embedded-postgres.ts,
 * what `npm start` runs without DATABASE_URL) in a new temporary directory, restarted once with
 * `settings` written by ALTER SYSTEM (those that only a restart applies, such as
 * max_locks_per_transaction); everything else is PostgreSQL's default.
 */
export async function startOwnPostgres(settings: Record<string, string | number>): Promise<OwnPostgres> {
  // Loading the module registers embedded-postgres's exit hook, which on SIGINT stops the server and
  // ends the process before the caller has cleaned up: the caller's own SIGINT handler does it instead.
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { startEmbeddedPostgres } = await import('../src/database/embedded-postgres.js');
  for (const s of signals)
    for (const listener of process.listeners(s)) if (!before.get(s)!.has(listener)) process.removeListener(s, listener);

  const dataDir = mkdtempSync(join(tmpdir(), 'vmapi-bench-pg-'));
  const remove = () => {
    rmSync(dataDir, { recursive: true, force: true });
  };
  const [port] = await freePorts(1);
  let db: { url: string; stop(): Promise<void> } | undefined;
  try {
    db = await startEmbeddedPostgres(dataDir, port!);
    for (const [name, value] of Object.entries(settings)) await sql(db.url, `ALTER SYSTEM SET ${name} = '${String(value)}'`);
    await db.stop();
    db = undefined;
    db = await startEmbeddedPostgres(dataDir, port!);
  } catch (err) {
    await db?.stop().catch(() => undefined);
    remove();
    throw err;
  }
  const server = db;
  return {
    url: server.url,
    dataDir,
    stop: async () => {
      await server.stop().catch(() => undefined);
      remove();
    },
  };
}

export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  await sql(serverUrl, `CREATE DATABASE "${name}"`);
  return withDatabase(serverUrl, name);
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await sql(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/** A user and `count` running VMs, by SQL (for the metrics benchmarks, whose rows need VMs); their ids. */
export async function seedRunningVms(db: { query(text: string, params: unknown[]): Promise<unknown> }, count: number): Promise<string[]> {
  const userId = randomUUID();
  await db.query(
    `INSERT INTO users (id, username, email, password_hash, role, credits) VALUES ($1, 'bench', 'bench@example.test', 'x', 'user', 0)`,
    [userId],
  );
  const vmIds = Array.from({ length: count }, () => randomUUID());
  await db.query(
    `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, metadata, status_changed_at)
     SELECT id, $1, 'vm-' || ord, 'debian-12', 1024, 20, 2, 'running', 34, '{}', now()
       FROM unnest($2::uuid[]) WITH ORDINALITY AS v(id, ord)`,
    [userId, vmIds],
  );
  return vmIds;
}

/** Runs a command; resolves with its exit code and output. */
export function exec(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      children.delete(child);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

// ---------------------------------------------------------------- host

export const BENCH_HOST = 'bench-host';

/**
 * The API's host settings: one roomy host, registered by registerBenchHost (the queue case's workers
 * serve it). Its row gets no heartbeat while no worker runs, so it counts as online for a day.
 */
export const BENCH_HOST_ENV: Record<string, string> = {
  HOST_NAME: BENCH_HOST,
  HOST_CPU_CORES: '100000',
  HOST_RAM_MB: '1000000000',
  HOST_DISK_GB: '1000000000',
  HOST_OFFLINE_SECONDS: String(24 * 3600),
};

/**
 * How every bench runs the API: the request path only (no in-process worker), funded users, no
 * quotas or rate limits, one roomy host.
 */
export function benchServiceEnv(databaseUrl: string, port: number): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    VM_PROVIDER: 'simulator',
    JWT_SECRET: 'bench-only-secret-bench-only-secret-0123456789',
    // Funded users: every create in the run succeeds.
    INITIAL_CREDITS: '1000000000',
    // The HTTP cases measure the request path only; the queue case runs dedicated workers.
    WORKER: 'false',
    RATE_LIMIT_PER_MIN: '0',
    RATE_LIMIT_AUTH_PER_MIN: '0',
    // The seeded users own hundreds of VMs: no per-user resource quotas.
    QUOTA_MAX_VMS: '0',
    QUOTA_MAX_CPU_CORES: '0',
    QUOTA_MAX_RAM_MB: '0',
    // Many processes on one machine: no metrics listeners (one default port would clash). METRICS_ON_API
    // keeps the request metrics collected, so the measured request path stays what production runs.
    METRICS_PORT: '0',
    METRICS_ON_API: 'admin',
    // The load generator opens BENCH_CONNECTIONS from 127.0.0.1, possibly more than one address may.
    MAX_CONNECTIONS_PER_IP: '0',
    ...BENCH_HOST_ENV,
  };
}

/** What a worker's registration does (its operation queue, then its host row), for APIs that run no worker. */
export async function registerBenchHost(dbUrl: string): Promise<void> {
  await sql(dbUrl, `SELECT pgboss.create_queue($1, $2::json)`, [
    `vm-operation.${BENCH_HOST}`,
    JSON.stringify({ retryLimit: 3, retryDelay: 5, retryBackoff: true, deadLetter: 'vm-operation-dead' }),
  ]);
  await sql(
    dbUrl,
    `INSERT INTO hosts (name, cpu_cores, ram_mb, disk_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, version, last_seen_at)
     VALUES ($1, 100000, 1000000000, 1000000000, 1, 1, 1, 'bench', now())`,
    [BENCH_HOST],
  );
}

/** Where buildRef puts a commit's build (under the git-ignored .bench-ab). */
export function refDir(ref: string): string {
  return join(ROOT, '.bench-ab', ref.replace(/[^A-Za-z0-9_.-]/g, '_'));
}

/**
 * Builds another commit of the service (for A/B runs against this tree) with this tree's node_modules;
 * returns its dist/src/main.js. Plain tsc, no swagger plugin: the API serves the same, its OpenAPI
 * document lacks DTO properties.
 */
export async function buildRef(ref: string): Promise<string> {
  const dir = refDir(ref);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // A commit whose dependencies differ from this tree's gets its own node_modules (npm ci); others use this tree's.
  // BENCH_AB_OWN_DEPS=0: this tree's always (a commit whose dependencies are a subset of this tree's, no install).
  const ownDeps =
    process.env.BENCH_AB_OWN_DEPS !== '0' &&
    (await exec('git', ['-C', ROOT, 'diff', '--quiet', ref, '--', 'package-lock.json'])).code !== 0;
  const files = `src migrations package.json tsconfig.json tsconfig.build.json${ownDeps ? ' package-lock.json' : ''}`;
  const archive = await exec('sh', ['-c', `git -C '${ROOT}' archive '${ref}' ${files} | tar -x -C '${dir}'`]);
  if (archive.code !== 0) throw new Error(`git archive ${ref}: ${archive.stderr}`);
  if (ownDeps) {
    log(`installing ${ref}'s dependencies in ${dir} (its package-lock.json differs)`);
    const ci = await exec('npm', ['ci', '--prefix', dir, '--no-audit', '--no-fund']);
    if (ci.code !== 0) throw new Error(`npm ci for ${ref} failed: ${ci.stderr}`);
  }
  log(`building ${ref} in ${dir}`);
  const tsc = await exec(process.execPath, [
    join(ownDeps ? dir : ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    join(dir, 'tsconfig.build.json'),
  ]);
  if (tsc.code !== 0) throw new Error(`build of ${ref} failed: ${tsc.stdout}${tsc.stderr}`);
  return join(dir, 'dist', 'src', 'main.js');
}
