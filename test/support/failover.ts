import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from './processes';

/**
 * Test scaffolding for a database failover on this machine: a PostgreSQL 15 primary, a streaming
 * standby made from it with pg_basebackup -R, and a TCP proxy on 127.0.0.1 that the service's
 * DATABASE_URL points at and the test switches from one to the other. Not product code.
 */

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Runs a PostgreSQL binary as the `postgres` user when the test runs as root (postgres refuses root). */
async function pg(binary: string, args: string[]): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(BIN, binary), ...args]] : [join(BIN, binary), args];
  const { stdout } = await run(file, argv, { timeout: 120_000 });
  return stdout;
}

export interface Cluster {
  dir: string;
  port: number;
  /** A URL to this server directly (not through the proxy). */
  url(database?: string): string;
  start(): Promise<void>;
  /** `fast` cuts every session and shuts down cleanly; `immediate` is a crash-like stop. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Ends recovery on a standby; resolves once it accepts writes (pg_ctl promote -w). */
  promote(): Promise<void>;
}

function cluster(dir: string, port: number): Cluster {
  let running = false;
  return {
    dir,
    port,
    url: (database = 'vmapi') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start: async () => {
      await pg('pg_ctl', ['start', '-w', '-t', '60', '-D', dir, '-l', join(dir, 'server.log'), '-o', `-p ${port}`]);
      running = true;
    },
    stop: async (mode = 'fast') => {
      if (!running) return;
      running = false;
      await pg('pg_ctl', ['stop', '-w', '-t', '60', '-D', dir, '-m', mode]);
    },
    promote: async () => {
      await pg('pg_ctl', ['promote', '-w', '-t', '60', '-D', dir]);
    },
  };
}

export interface ReplicatedPostgres {
  primary: Cluster;
  standby: Cluster;
  /** Stops both servers and deletes their data. */
  destroy(): Promise<void>;
}

/**
 * A primary and a hot standby streaming from it with SYNCHRONOUS replication (synchronous_standby_names
 * = '*', synchronous_commit = on): a commit is acknowledged only once the standby has flushed it, so a
 * promotion loses nothing a client was told had happened. Both listen on 127.0.0.1 only, trust auth
 * (a throwaway test cluster), database `vmapi` created on the primary and replicated.
 */
export async function startReplicatedPostgres(): Promise<ReplicatedPostgres> {
  const root = await mkdtemp(join(tmpdir(), 'vmapi-failover-'));
  await chmod(root, 0o755);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(root, Number(stdout.trim()), Number(gid.trim()));
  }
  const primary = cluster(join(root, 'primary'), await freePort());
  const standby = cluster(join(root, 'standby'), await freePort());
  const destroy = async () => {
    for (const c of [primary, standby]) await c.stop('immediate').catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  };
  try {
    await pg('initdb', ['-D', primary.dir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    await writeFile(
      join(primary.dir, 'postgresql.auto.conf'),
      [
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = ''`,
        `max_connections = 100`,
        `wal_level = replica`,
        `max_wal_senders = 4`,
        `hot_standby = on`,
        `synchronous_commit = on`,
        `fsync = off`,
        `full_page_writes = off`,
        `shared_buffers = 32MB`,
        '',
      ].join('\n'),
      { flag: 'a' },
    );
    await writeFile(join(primary.dir, 'pg_hba.conf'), 'host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n');
    await primary.start();
    const admin = new Client({ connectionString: primary.url('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE vmapi');
    await admin.end();
    // The standby: a base backup with -R (standby.signal and primary_conninfo written for it).
    await pg('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(primary.port),
      '-U',
      'postgres',
      '-D',
      standby.dir,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
    ]);
    // Once promoted it has no standby of its own: waiting for one would hold every commit.
    await writeFile(join(standby.dir, 'postgresql.auto.conf'), `synchronous_standby_names = ''\n`, { flag: 'a' });
    await standby.start();
    // Synchronous from here on (set now: CREATE DATABASE above would have waited for a standby).
    await waitForStreaming(primary);
    const db = new Client({ connectionString: primary.url('postgres') });
    await db.connect();
    await db.query(`ALTER SYSTEM SET synchronous_standby_names = '*'`);
    await db.query('SELECT pg_reload_conf()');
    await db.end();
    await waitForStreaming(primary, 'sync');
    return { primary, standby, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/** Resolves once the primary has a synchronous standby streaming from it. */
async function waitForStreaming(primary: Cluster, syncState = 'async', timeoutMs = 30_000): Promise<void> {
  const db = new Client({ connectionString: primary.url('postgres') });
  await db.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = $1`, [
        syncState,
      ]);
      if (rows[0].n > 0) return;
      if (Date.now() > deadline) throw new Error('the standby did not start streaming synchronously');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await db.end();
  }
}

export interface SwitchingProxy {
  port: number;
  /** Where new connections go from now on. */
  target: number;
  switchTo(port: number): void;
  /** Cuts every connection open now (those to the old target, after a switch). */
  dropConnections(): number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1: each accepted connection is piped to 127.0.0.1:`target` as it is when
 * the connection arrives. The one address the service knows, as a VIP or a pgbouncer/HAProxy would be.
 */
export async function startProxy(target: number): Promise<SwitchingProxy> {
  const port = await freePort();
  const open = new Set<Socket>();
  const state = { target };
  const server: Server = createServer((client) => {
    const upstream = connect(state.target, '127.0.0.1');
    open.add(client);
    const cut = () => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    port,
    get target() {
      return state.target;
    },
    switchTo: (p) => {
      state.target = p;
    },
    dropConnections: () => {
      const n = open.size;
      for (const s of [...open]) s.destroy();
      return n;
    },
    close: async () => {
      for (const s of [...open]) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
