import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/database/embedded-postgres';
export { ensureBuilt } from './build';

/**
 * Real processes for the tests that are about processes (outages, signals, boot races): the
 * compiled service (`node dist/src/main.js`, `node dist/src/worker.js`) and a PostgreSQL server the
 * test owns and may stop.
 */

const ROOT = process.cwd();

// The test's own PostgreSQL logs every connection it cuts: keep this file's output to warnings.
Logger.overrideLogger(['warn', 'error', 'fatal']);

/** A TCP port on 127.0.0.1 that nothing listens on right now (random, away from common ones). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const free = await new Promise<boolean>((done) => {
      const server = createServer();
      server.once('error', () => done(false));
      server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
    });
    if (free) return port;
  }
}

export interface TestPostgres {
  /** URL of the `vmapi` database on it. */
  url: string;
  port: number;
  /** Fast shutdown: every connection is cut and new ones are refused. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

/** A PostgreSQL server of the test's own (embedded, in a temporary folder, on a random port). */
export async function startTestPostgres(): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'vmapi-pg-'));
  const port = await freePort();
  let server: EmbeddedDatabase | null = await startEmbeddedPostgres(dir, port);
  const url = server.url;
  return {
    url,
    port,
    stop: async () => {
      await server?.stop();
      server = null;
    },
    start: async () => {
      server ??= await startEmbeddedPostgres(dir, port);
    },
    destroy: async () => {
      await server?.stop().catch(() => undefined);
      server = null;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Every line it printed (stdout and stderr), in order. */
  lines: string[];
  /** For an API process: http://127.0.0.1:<port>. */
  url: string;
  /** Resolves when it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** Resolves with the first line (already printed or to come) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGKILL if still running; for cleanup. A process that had died prints its last lines. */
  kill(): Promise<void>;
}

/** Settings every test process gets unless the test says otherwise. */
const BASE_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  VM_PROVIDER: 'simulator',
  SIMULATOR_DELAY_MS: '0',
  JWT_SECRET: 'test-secret-that-is-at-least-32-characters',
  LOG_FORMAT: 'text',
  METRICS_PORT: '0',
  // Tests drive a process with up to hundreds of connections from 127.0.0.1; the cap has its own test.
  MAX_CONNECTIONS_PER_IP: '0',
  // Cheap password hashing, accepted only with NODE_ENV=test (test-app.ts CHEAP_PASSWORD_HASHING).
  PASSWORD_HASH_MEMORY_KIB: '1024',
  PASSWORD_HASH_TIME_COST: '1',
  // Room for every VM a test creates, whatever this machine has.
  HOST_CPU_CORES: '1000',
  HOST_RAM_MB: '1000000',
  HOST_DISK_GB: '100000',
};

/**
 * Starts `node dist/src/main.js` (`api`) or `node dist/src/worker.js` (`worker`) with `env` over the
 * base settings. An API listens on a free port of 127.0.0.1.
 */
export async function startService(
  name: string,
  kind: 'api' | 'worker',
  env: Record<string, string | number | boolean>,
  options: { fileLimit?: number } = {},
): Promise<ServiceProcess> {
  const port = kind === 'api' ? await freePort() : 0;
  const childEnv: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...BASE_ENV };
  for (const [k, v] of Object.entries(env)) childEnv[k] = String(v);
  if (kind === 'api') childEnv.PORT = String(port);
  const script = join(ROOT, kind === 'api' ? 'dist/src/main.js' : 'dist/src/worker.js');
  // A lower open-file limit (util-linux prlimit), as a small container or a crowded host has.
  const [command, args] = options.fileLimit
    ? ['prlimit', [`--nofile=${options.fileLimit}:${options.fileLimit}`, process.execPath, script]]
    : [process.execPath, [script]];
  const child = spawn(command, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve(line: string): void }[] = [];
  const onData = (buffer: { rest: string }) => (chunk: Buffer) => {
    const text = buffer.rest + chunk.toString('utf8');
    const parts = text.split('\n');
    buffer.rest = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData({ rest: '' }));
  child.stderr!.on('data', onData({ rest: '' }));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let running = true;
  void exited.then(() => (running = false));
  return {
    name,
    child,
    lines,
    url: `http://127.0.0.1:${port}`,
    exited,
    alive: () => running,
    waitForLine: (pattern, timeoutMs = 60_000) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`)),
          timeoutMs,
        );
        waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}, signal ${signal}) before printing ${pattern}:\n${lines.slice(-30).join('\n')}`));
        });
      });
    },
    kill: async () => {
      if (!running && (child.exitCode !== 0 || child.signalCode)) {
        console.log(
          `${name} had exited (code ${child.exitCode}, signal ${child.signalCode}); its last lines:\n${lines.slice(-40).join('\n')}`,
        );
      }
      if (running) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Resolves when the process is ready: an API answers its health check, a worker says it runs. */
export async function ready(service: ServiceProcess, kind: 'api' | 'worker', timeoutMs = 60_000): Promise<void> {
  await service.waitForLine(kind === 'api' ? /VM Platform API listening/ : /Worker process running/, timeoutMs);
}

/**
 * An API process that runs a worker too (WORKER=true) and a separate worker process, both ready, on
 * `env`: the set-up of the outage tests. Each is added to `services` as it starts (for cleanup).
 */
export async function startApiAndWorker(
  env: Record<string, string | number | boolean>,
  services: ServiceProcess[],
): Promise<{ apiProcess: ServiceProcess; worker: ServiceProcess }> {
  const apiProcess = await startService('api', 'api', { ...env, WORKER: true });
  services.push(apiProcess);
  await ready(apiProcess, 'api');
  const worker = await startService('worker', 'worker', env);
  services.push(worker);
  await ready(worker, 'worker');
  return { apiProcess, worker };
}

/** A JSON request to an API process (fetch; no keep-alive surprises across restarts). */
export async function api(
  service: ServiceProcess | string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: any }> {
  const base = typeof service === 'string' ? service : service.url;
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

/** Registers and logs in a user through an API process; returns the bearer token and id. */
export async function registerUser(service: ServiceProcess, tag: string): Promise<{ id: string; token: string }> {
  const email = `${tag}@example.test`;
  const password = `pw-${tag}-secret`;
  const reg = await api(service, 'POST', '/api/auth/register', { username: tag, email, password });
  if (reg.status !== 202) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
  const login = await api(service, 'POST', '/api/auth/login', { email, password });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
  const me = await api(service, 'GET', '/api/users/me', undefined, login.body.access_token);
  if (me.status !== 200) throw new Error(`me: ${me.status} ${JSON.stringify(me.body)}`);
  return { id: me.body.id, token: login.body.access_token };
}

/** One connection per request (no pooling, no cap): for many requests in flight at once. */
const unpooled = new Agent({ keepAlive: false, maxSockets: Infinity });

/** GET over node:http on its own connection; resolves with the status, or rejects on a connection error. */
export function getOnOwnConnection(service: ServiceProcess, path: string, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${service.url}${path}`, { agent: unpooled, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A connection to `service` opened now, whose GET is written only when `send()` is called: a request
 * sent on an established connection that the server may not have read yet. Resolves with the status.
 */
export async function openIdleConnection(service: ServiceProcess, path: string, token?: string): Promise<{ send(): Promise<number> }> {
  const url = new URL(service.url);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return {
    send: () =>
      new Promise((resolve, reject) => {
        let head = '';
        socket.on('data', (chunk) => {
          head += chunk.toString('latin1');
          const status = /^HTTP\/1\.1 (\d{3})/.exec(head);
          if (status) {
            resolve(Number(status[1]));
            socket.destroy();
          }
        });
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('connection closed without an answer')));
        const auth = token ? `authorization: Bearer ${token}\r\n` : '';
        socket.write(`GET ${path} HTTP/1.1\r\nhost: ${url.host}\r\n${auth}connection: close\r\n\r\n`);
      }),
  };
}
