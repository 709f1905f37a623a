import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, freePort } from '../support/processes';

const DEADLINE_MS = 120_000;
/** `npm start` on an unchanged tree: nothing is built, so it is healthy within seconds (embedded PostgreSQL included). */
const WARM_START_MS = 30_000;

interface Started {
  child: ChildProcess;
  output: string[];
  /** Milliseconds from spawning `npm start` to the first 200 from /api/health. */
  healthyAfterMs: number;
}

/** `npm start` as a newcomer runs it: no DATABASE_URL (embedded PostgreSQL under DATA_DIR). */
async function npmStart(dataDir: string, port: number, pgPort: number): Promise<Started> {
  const t0 = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(pgPort) };
  delete env.DATABASE_URL;
  env.VM_PROVIDER = 'simulator';
  // Other services may be running on this machine: no fixed metrics port.
  env.METRICS_PORT = '0';
  // Its own process group, so that npm, its shell and node stop together.
  const child = spawn('npm', ['start'], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const output: string[] = [];
  child.stdout.on('data', (b: Buffer) => output.push(b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => output.push(b.toString('utf8')));
  const deadline = Date.now() + DEADLINE_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output.join('')}`);
    const status = await fetch(`http://127.0.0.1:${port}/api/health`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return { child, output, healthyAfterMs: Date.now() - t0 };
    await new Promise((r) => setTimeout(r, 100));
  }
  void stop(child);
  throw new Error(`npm start: /api/health never answered 200 within ${DEADLINE_MS} ms:\n${output.join('')}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(-child.pid!, 'SIGTERM');
  await exited;
}

describe('npm start on an unchanged tree', () => {
  let dataDir: string;

  beforeAll(async () => {
    ensureBuilt();
    dataDir = await mkdtemp(join(tmpdir(), 'vmapi-npm-start-'));
  });

  afterAll(async () => {
    // The embedded PostgreSQL may still be removing its files as the group stops.
    await rm(dataDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 });
  });

  it('builds nothing and is healthy within seconds, the second time too', async () => {
    const port = await freePort();
    const pgPort = await freePort();
    const first = await npmStart(dataDir, port, pgPort);
    await stop(first.child);
    const second = await npmStart(dataDir, port, pgPort);
    await stop(second.child);
    const text = second.output.join('');
    console.log(`npm start: first healthy after ${first.healthyAfterMs} ms, second after ${second.healthyAfterMs} ms`);
    // The build step (prestart) found both parts current and compiled nothing.
    expect(text).toContain('build: api is up to date');
    expect(text).toContain('build: web is up to date');
    expect(second.healthyAfterMs).toBeLessThan(WARM_START_MS);
  });
});
