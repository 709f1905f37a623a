import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { fencedBlocks } from '../support/markdown';
import { ensureBuilt, ready, startService, type ServiceProcess } from '../support/processes';
import { createTestDatabase, type TestDatabase } from '../support/test-app';

/**
 * The README as a newcomer follows it: its `bash` blocks (Try it, SSH keys, admin quick start), then
 * those of docs/ (API tokens), in order, in one bash shell, against the built service started with the README's admin settings on a
 * fresh database, with HOME in a temporary folder (no ~/.ssh: the block's ssh-keygen makes the key).
 * Run twice, to show that re-running is safe. Every curl answer must be a success, or a refusal whose
 * problem `code` the block itself names. Blocks fenced `bash skip` are not run here (see docs/testing.md).
 */
interface Answer {
  status: number;
  code?: string;
  block: number;
}

const README = 'README.md';

/** Replaces `curl` in the blocks: the real curl, plus a log line (status, block, body) per answer. */
const PRELUDE = [
  'set -eo pipefail',
  'curl() {',
  '  local out status',
  '  out=$(command curl -sS -w \'\\n%{http_code}\' "$@") || return $?',
  "  status=${out##*$'\\n'}",
  "  out=${out%$'\\n'*}",
  '  printf \'%s\' "$out"',
  '  printf \'%s\\t%s\\t%s\\n\' "$status" "$DOCS_BLOCK" "$(printf \'%s\' "$out" | tr \'\\n\\t\' \'  \')" >> "$DOCS_CURL_LOG"',
  '}',
].join('\n');

describe('README blocks against the started service (multiprocess)', () => {
  let db: TestDatabase;
  let api: ServiceProcess;
  let home: string;
  let blocks: { code: string; line: number }[];
  let readme: string;
  let admin: { email: string; password: string };

  beforeAll(async () => {
    ensureBuilt();
    readme = await readFile(README, 'utf8');
    // The README's blocks, then those of docs/ (which continue in the README's shell: its $TOKEN and json).
    const docs = (await readdir('docs')).filter((f) => f.endsWith('.md')).sort();
    blocks = [readme, ...(await Promise.all(docs.map((f) => readFile(join('docs', f), 'utf8'))))].flatMap((text) =>
      fencedBlocks(text).filter((b) => b.info === 'bash'),
    );
    // The admin start the README shows (a `bash skip` block): the test starts the service the same way.
    const start = fencedBlocks(readme).find((b) => b.info === 'bash skip' && /ADMIN_EMAIL=\S+ ADMIN_PASSWORD=/.test(b.code));
    const m = /ADMIN_EMAIL=(\S+) ADMIN_PASSWORD='([^']+)' npm start/.exec(start?.code ?? '');
    if (!m) throw new Error("README: no `ADMIN_EMAIL=... ADMIN_PASSWORD='...' npm start` block");
    admin = { email: m[1]!, password: m[2]! };
    home = await mkdtemp(join(tmpdir(), 'readme-home-'));
    db = await createTestDatabase({ empty: true });
    // As `npm start` runs it, but on a test database and a free port: production password hashing and rate
    // limits (NODE_ENV=development), the simulator's 2 s per operation, this machine's cores and memory.
    api = await startService('readme-api', 'api', {
      DATABASE_URL: db.url,
      NODE_ENV: 'development',
      PASSWORD_HASH_MEMORY_KIB: 65536,
      PASSWORD_HASH_TIME_COST: 3,
      SIMULATOR_DELAY_MS: 2000,
      HOST_CPU_CORES: cpus().length,
      HOST_RAM_MB: Math.floor(totalmem() / 1024 / 1024),
      MAX_CONNECTIONS_PER_IP: 64,
      ADMIN_EMAIL: admin.email,
      ADMIN_PASSWORD: admin.password,
    });
    await ready(api, 'api', 120_000);
  }, 180_000);

  afterAll(async () => {
    await api.kill();
    await db.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  /** Runs every `bash` block of the README in one bash process; resolves with its outcome and the answers seen. */
  async function runReadme(run: number): Promise<{ exit: number | null; output: string; answers: Answer[] }> {
    const log = join(home, `curl-${run}.log`);
    const port = new URL(api.url).port;
    const script = [PRELUDE, ...blocks.map((b, i) => `DOCS_BLOCK=${i}\n${b.code.replaceAll('localhost:3000', `localhost:${port}`)}`)].join(
      '\n',
    );
    const child = spawn('bash', ['-c', script], {
      env: { PATH: process.env.PATH, HOME: home, DOCS_CURL_LOG: log, LANG: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // A hung block fails the test instead of the run.
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    const exit = await new Promise<number | null>((resolve) =>
      child.on('close', (code) => {
        resolve(code);
      }),
    );
    clearTimeout(timer);
    const answers = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => {
        const [status, block, body] = line.split('\t') as [string, string, string];
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { code?: string }).code;
        } catch {
          code = undefined;
        }
        return { status: Number(status), code, block: Number(block) };
      });
    return { exit, output, answers };
  }

  /** Answers that are neither a success nor a refusal the block names in its text. */
  const unexplained = (answers: Answer[]) =>
    answers.filter((a) => !(a.status >= 200 && a.status < 300) && !(a.code && blocks[a.block]!.code.includes(a.code)));

  async function balanceOf(email: string): Promise<number> {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ credits: number }>('SELECT credits FROM users WHERE email = $1', [email]);
      return rows[0]!.credits;
    } finally {
      await client.end();
    }
  }

  it('runs Try it, SSH keys, the admin quick start and the API tokens example twice, every answer as documented', async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const run of [1, 2]) {
      const { exit, output, answers } = await runReadme(run);
      if (exit !== 0 || unexplained(answers).length > 0) console.log(`README run ${run} output:\n${output}`);
      expect({ run, exit }).toEqual({ run, exit: 0 });
      expect(unexplained(answers)).toEqual([]);
      expect(output).not.toMatch(/undefined|null\n/);
      // The refusals each run meets, all named by their block: a drained host refuses a create; a re-run
      // finds the username and the key there already.
      const refusals = answers.filter((a) => a.status >= 300).map((a) => `${a.status} ${a.code}`);
      expect(refusals).toEqual(
        run === 1
          ? ['503 capacity.unavailable', '403 auth.insufficient_scope']
          : ['409 user.username_taken', '409 ssh_key.already_added', '503 capacity.unavailable', '403 auth.insufficient_scope'],
      );
      expect(output).toMatch(/ssh -p \d+ vmuser@[\d.]+/);
      // The credit budget the README states: a run spends 34 and the admin quick start gives them back.
      expect(await balanceOf('ada@example.com')).toBe(100);
    }
    // The host is back in service.
    const client = new Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ schedulable: boolean }>('SELECT schedulable FROM hosts');
    await client.end();
    expect(rows.map((r) => r.schedulable)).toEqual([true]);
  }, 360_000);
});
