/**
 * Create throughput of this tree against the same service at another commit (AB_BASE_REF: before
 * hosts existed, or the previous build of a create-path change), in one run: both APIs up side by
 * side on their own databases, POST /api/vms load alternating between them slice by slice (order
 * flipped each round), so machine noise hits both.
 *
 *   npm run build && npx tsc -p bench/tsconfig.json && AB_BASE_REF=<commit> node dist/bench/bench/placement-ab.js
 *
 * DATABASE_URL: a server for the two scratch databases; unset: an embedded PostgreSQL. Knobs:
 * AB_ROUNDS (6), AB_SLICE_SECONDS (5), AB_CONNECTIONS (16), AB_USERS (16), AB_WARMUP (2).
 * Both APIs run WORKER=false (the request path only); each gets one host registered by SQL if its schema has hosts.
 */
import { mkdtempSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/database/embedded-postgres';
import {
  api,
  benchServiceEnv,
  buildRef,
  cpuMs,
  createDatabase,
  dropDatabase,
  envNumber,
  freePorts,
  killChildren,
  log,
  pool,
  registerBenchHost,
  ROOT,
  runLoad,
  Service,
  sql,
  startNode,
  waitForHttp,
} from './support';

const cfg = {
  base: process.env.AB_BASE_REF ?? '',
  rounds: envNumber('AB_ROUNDS', 6),
  slice: envNumber('AB_SLICE_SECONDS', 5),
  warmup: envNumber('AB_WARMUP', 2),
  connections: envNumber('AB_CONNECTIONS', 16),
  users: envNumber('AB_USERS', 16),
};
const SPEC = { os_type: 'ubuntu-22.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 };

async function users(base: string, prefix: string): Promise<string[]> {
  return pool(
    Array.from({ length: cfg.users }, (_, i) => i),
    4,
    async (i) => {
      const email = `${prefix}${i}@example.com`;
      const reg = await api(base, 'POST', '/api/auth/register', undefined, {
        username: `${prefix}${i}`,
        email,
        password: 'bench-password-1',
      });
      if (reg.status !== 202) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
      const login = await api(base, 'POST', '/api/auth/login', undefined, { email, password: 'bench-password-1' });
      return login.body.access_token as string;
    },
  );
}

async function main(): Promise<void> {
  if (!cfg.base) throw new Error('AB_BASE_REF: the commit to compare with (e.g. main, or the parent of the change)');
  const baseMain = await buildRef(cfg.base);
  let embedded: EmbeddedDatabase | undefined;
  let server = process.env.DATABASE_URL;
  if (!server) {
    const dir = mkdtempSync(join(tmpdir(), 'vmapi-ab-'));
    await chmod(dir, 0o755);
    embedded = await startEmbeddedPostgres(dir, 56000 + Math.floor(Math.random() * 4000));
    server = embedded.url;
  }
  const stamp = Date.now().toString(36);
  const names = { hosts: `vmapi_ab_${stamp}_hosts`, base: `vmapi_ab_${stamp}_base` };
  const [portHosts, portBase] = await freePorts(2);
  const services: Service[] = [];
  try {
    const urls = { hosts: await createDatabase(server, names.hosts), base: await createDatabase(server, names.base) };
    const start = async (name: string, script: string, url: string, port: number) => {
      const svc = startNode(name, script, benchServiceEnv(url, port));
      services.push(svc);
      await waitForHttp(`http://127.0.0.1:${port}/api/health`, 60_000, svc);
      return `http://127.0.0.1:${port}`;
    };
    const arms = [
      {
        id: 'this tree',
        base: await start('ab-hosts', join(ROOT, 'dist', 'src', 'main.js'), urls.hosts, portHosts!),
        requests: 0,
        seconds: 0,
        errors: 0,
        cpu: 0,
        p50: [] as number[],
      },
      {
        id: `base (${cfg.base})`,
        base: await start('ab-base', baseMain, urls.base, portBase!),
        requests: 0,
        seconds: 0,
        errors: 0,
        cpu: 0,
        p50: [] as number[],
      },
    ];
    await registerBenchHost(urls.hosts);
    const [{ hosts } = { hosts: false }] = await sql<{ hosts: boolean }>(urls.base, `SELECT to_regclass('hosts') IS NOT NULL AS hosts`);
    if (hosts) await registerBenchHost(urls.base);
    const targets = await Promise.all(
      arms.map(async (arm, a) =>
        (await users(arm.base, `ab${a}u`)).map((token) => ({
          path: '/api/vms',
          token,
          body: JSON.stringify({ name: `ab-{{n}}`, ...SPEC }),
        })),
      ),
    );
    const offsets = [0, 0];
    for (let round = 0; round < cfg.rounds; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const a of order) {
        const arm = arms[a];
        const cpu0 = cpuMs(services[a]!.proc.pid);
        const r = await runLoad({
          url: arm!.base,
          method: 'POST',
          connections: cfg.connections,
          durationSeconds: cfg.slice,
          warmupSeconds: round === 0 ? cfg.warmup : 0,
          targets: targets[a]!,
          offset: offsets[a],
        });
        offsets[a]! += r.targetsUsed;
        // CPU time of the API process over the slice: far steadier than req/s on a shared machine.
        arm!.cpu += (cpuMs(services[a]!.proc.pid) ?? NaN) - (cpu0 ?? NaN);
        arm!.requests += r.requests;
        arm!.seconds += r.durationSeconds;
        arm!.errors += r.errors;
        arm!.p50.push(r.latency.p50);
        log(
          `round ${round + 1} ${arm!.id}: ${r.rps.toFixed(0)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, errors ${r.errors}`,
        );
      }
    }
    const rps = arms.map((arm) => arm.requests / arm.seconds);
    for (const [i, arm] of arms.entries()) {
      log(
        `${arm.id}: ${rps[i]!.toFixed(1)} creates/s over ${arm.seconds.toFixed(0)} s, ${(arm.cpu / arm.requests).toFixed(2)} ms API CPU per create, ${arm.errors} errors`,
      );
    }
    log(`ratio this tree / base: ${(rps[0]! / rps[1]!).toFixed(3)}`);
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await dropDatabase(server, names.hosts).catch(() => undefined);
    await dropDatabase(server, names.base).catch(() => undefined);
    await embedded?.stop();
  }
}

main().catch((err: Error) => {
  killChildren();
  log(`placement A/B failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
