/**
 * What one POST /api/vms costs the database, statement by statement: the built API on a
 * test-owned embedded PostgreSQL with pg_stat_statements, N creates one after another, then every
 * statement's calls and execution time per create (BEGIN and COMMIT included: each is a round trip).
 *
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/bench/bench/create-profile.js
 *
 * PROFILE_MAIN: another build's dist/src/main.js (e.g. one placement-ab.ts built under .bench-ab/)
 * to profile instead of this tree's. PROFILE_CREATES: how many creates (200).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/database/embedded-postgres';
import {
  api,
  benchServiceEnv,
  createDatabase,
  envNumber,
  freePorts,
  killChildren,
  log,
  registerBenchHost,
  ROOT,
  Service,
  sql,
  startNode,
  waitForHttp,
} from './support';

const MAIN = process.env.PROFILE_MAIN ?? join(ROOT, 'dist', 'src', 'main.js');
const CREATES = envNumber('PROFILE_CREATES', 200);

async function main(): Promise<void> {
  Logger.overrideLogger(['warn', 'error', 'fatal']);
  const dir = mkdtempSync(join(tmpdir(), 'vmapi-profile-'));
  await chmod(dir, 0o755);
  const port = 56000 + Math.floor(Math.random() * 4000);
  let pg: EmbeddedDatabase | undefined = await startEmbeddedPostgres(dir, port);
  let svc: Service | undefined;
  try {
    // pg_stat_statements must be preloaded: set it, then restart the cluster.
    await sql(pg.url, `ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`);
    await pg.stop();
    pg = await startEmbeddedPostgres(dir, port);
    const dbUrl = await createDatabase(pg.url, 'vmapi_profile');
    const [apiPort] = await freePorts(1);
    svc = startNode('api-profile', MAIN, benchServiceEnv(dbUrl, apiPort!));
    const base = `http://127.0.0.1:${apiPort}`;
    await waitForHttp(`${base}/api/health`, 60_000, svc);
    await registerBenchHost(dbUrl);
    const email = 'profile@example.com';
    await api(base, 'POST', '/api/auth/register', undefined, { username: 'profile', email, password: 'profile-password-1' });
    const token = (await api(base, 'POST', '/api/auth/login', undefined, { email, password: 'profile-password-1' })).body
      .access_token as string;
    const spec = { os_type: 'ubuntu-22.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 };
    // Warm-up: the identity cache, prepared statements, pg-boss's queue cache.
    for (let i = 0; i < 20; i++) await api(base, 'POST', '/api/vms', token, { name: `warm-${i}`, ...spec });
    await sql(dbUrl, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await sql(dbUrl, 'SELECT pg_stat_statements_reset()');
    for (let i = 0; i < CREATES; i++) {
      const res = await api(base, 'POST', '/api/vms', token, { name: `p-${i}`, ...spec });
      if (res.status !== 202) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const rows = await sql<{ calls: string; ms: number; query: string }>(
      dbUrl,
      `SELECT calls, total_exec_time AS ms, query FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'
        ORDER BY total_exec_time DESC`,
    );
    // Foreign-key checks run inside other statements: not round trips of their own.
    const inner = (q: string) => q.startsWith('SELECT 1 FROM ONLY');
    let calls = 0;
    let ms = 0;
    process.stdout.write(`\n${MAIN}: ${CREATES} creates, one at a time\n\ncalls/create  exec ms/create  statement\n`);
    for (const r of rows) {
      const perCreate = Number(r.calls) / CREATES;
      if (perCreate < 0.05) continue;
      if (!inner(r.query)) calls += perCreate;
      ms += r.ms / CREATES;
      process.stdout.write(
        `${perCreate.toFixed(2).padStart(12)}  ${(r.ms / CREATES).toFixed(3).padStart(14)}  ${r.query.replace(/\s+/g, ' ').slice(0, 150)}\n`,
      );
    }
    process.stdout.write(
      `${calls.toFixed(2).padStart(12)}  ${ms.toFixed(3).padStart(14)}  in all (round trips: every statement but foreign-key checks)\n`,
    );
  } finally {
    await svc?.stop();
    killChildren();
    await pg?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    log('done');
  }
}

main().catch((err: Error) => {
  killChildren();
  log(`create profile failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
