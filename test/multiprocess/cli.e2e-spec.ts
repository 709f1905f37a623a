import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCliBuilt } from '../support/build';
import { eventually, newUser, type TestUser } from '../support/factories';
import { sshKeygen } from '../support/ssh-keygen';
import { listen } from '../support/sse';
import { createTestApp, TEST_HOST, TestContext } from '../support/test-app';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * vmctl as a user runs it: its built bin (cli/dist/vmctl.js) in a child process with its own config file,
 * against the API served by this process (so the child is spawned, never run synchronously).
 */
describe('vmctl driven as a subprocess (e2e)', () => {
  let ctx: TestContext;
  let baseUrl: string;
  let bin: string;
  let dir: string;
  let user: TestUser;
  let admin: TestUser;
  let config: string;

  const start = (args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH, HOME: dir, VMCTL_CONFIG: config, ...opts.env },
      stdio: 'pipe',
    });
    const out: Run = { code: null, signal: null, stdout: '', stderr: '' };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000); // a hung vmctl fails its test, never the run
    const done = new Promise<Run>((resolve) =>
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve(Object.assign(out, { code, signal }));
      }),
    );
    return { child, out, done };
  };
  const vmctl = (args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string }) => start(args, opts).done;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape it parsed
  const json = <T = Record<string, unknown>>(run: Run): T => {
    if (run.code !== 0) throw new Error(`vmctl exited ${run.code}: ${run.stderr}`);
    return JSON.parse(run.stdout) as T;
  };

  beforeAll(async () => {
    bin = ensureCliBuilt();
    ctx = await createTestApp({ env: { INITIAL_CREDITS: 100, EVENT_STREAMS_PER_USER: 20 } });
    baseUrl = await listen(ctx);
    dir = await mkdtemp(join(tmpdir(), 'vmctl-'));
    config = join(dir, 'config', 'vmctl.json');
    user = await newUser(ctx, { credits: 500 });
    admin = await newUser(ctx, { role: 'admin' });
  });
  afterAll(async () => {
    await ctx.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('auth init stores contexts in a file only its owner can read; auth use switches; a refused token is exit 3', async () => {
    const init = await vmctl(['auth', 'init', '--url', baseUrl, '--name', 'me', '--token-stdin'], { input: `${user.token}\n` });
    expect(init.stderr).toContain('saved in');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(user.username);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'config'))).isDirectory()).toBe(true);

    // A second context, by logging in (the password from stdin, never an argument).
    const login = await vmctl(
      ['auth', 'init', '--url', baseUrl, '--name', 'ops', '--email', admin.email, '--password-stdin', '-o', 'json'],
      { input: admin.password },
    );
    expect(json(login)).toMatchObject({ context: 'ops', user: { username: admin.username, role: 'admin' } });
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(config, 'utf8')) as {
      current: string;
      contexts: Record<string, { url: string; token: string }>;
    };
    expect(stored.current).toBe('ops');
    expect(Object.keys(stored.contexts).sort()).toEqual(['me', 'ops']);

    expect((await vmctl(['auth', 'use', 'me'])).code).toBe(0);
    expect(json(await vmctl(['auth', 'list', '-o', 'json']))).toEqual([
      { name: 'me', url: baseUrl, current: true },
      { name: 'ops', url: baseUrl, current: false },
    ]);
    expect(json(await vmctl(['auth', 'whoami', '-o', 'json']))).toMatchObject({ username: user.username });
    expect(json(await vmctl(['--context', 'ops', 'auth', 'whoami', '-o', 'json']))).toMatchObject({ username: admin.username });

    const refused = await vmctl(['auth', 'init', '--url', baseUrl, '--name', 'bad', '--token', 'not-a-token']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/auth\.token_invalid/);
    const noContext = await vmctl(['vm', 'list'], { env: { VMCTL_CONFIG: join(dir, 'missing.json') } });
    expect(noContext.code).toBe(3);
    expect((await vmctl(['vm', 'list', '--bogus'])).code).toBe(2);
  });

  it('vm create --wait shows progress on stderr and prints the running VM; the create carried an Idempotency-Key', async () => {
    const created = await vmctl([
      'vm',
      'create',
      'cli-web',
      '--ram',
      '1024',
      '--cpus',
      '2',
      '--disk',
      '20',
      '--metadata',
      'team=cli',
      '--wait',
      '-o',
      'json',
    ]);
    const vm = json<{ id: string; name: string; status: string; ssh_command: string; metadata: object }>(created);
    expect(vm).toMatchObject({ name: 'cli-web', status: 'running', metadata: { team: 'cli' } });
    expect(vm.ssh_command).toMatch(/^ssh /);
    expect(created.stderr).toMatch(/cli-web: running \(\d+s\)/);
    const [keys] = await ctx.db.query('SELECT count(*)::int AS n FROM idempotency_keys WHERE user_id = $1', [user.id]);
    expect(keys.n).toBe(1);

    const list = json<{ name: string; status: string }[]>(await vmctl(['vm', 'list', '-o', 'json']));
    expect(list.map((v) => [v.name, v.status])).toEqual([['cli-web', 'running']]);
    const table = await vmctl(['vm', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+STATUS\s+OS/);
    expect(table.stdout).toMatch(/cli-web\s+running\s+ubuntu-24\.04/);

    const got = await vmctl(['vm', 'get', 'cli-web']);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/status\s+running/);
    expect(json(await vmctl(['vm', 'get', vm.id, '-o', 'json']))).toMatchObject({ id: vm.id });
  });

  it('exit codes: 4 not found, 5 conflict, 6 insufficient credits, 2 invalid input', async () => {
    const missing = await vmctl(['vm', 'get', 'no-such-vm']);
    expect(missing.code).toBe(4);
    const missingId = await vmctl(['vm', 'get', '00000000-0000-4000-8000-000000000000', '-o', 'json']);
    expect(missingId.code).toBe(4);
    expect(JSON.parse(missingId.stderr)).toMatchObject({ exit_code: 4, details: { code: 'vm.not_found' } });

    const conflict = await vmctl(['vm', 'action', 'cli-web', 'start']);
    expect(conflict.code).toBe(5);
    expect(conflict.stderr).toContain('vm.invalid_transition');
    expect((await vmctl(['vm', 'create', 'cli-web'])).code).toBe(5); // name taken

    const poor = await vmctl(['vm', 'create', 'huge', '--ram', '65536', '--cpus', '32', '--disk', '2048']);
    expect(poor.code).toBe(6);
    expect(poor.stderr).toContain('credits.insufficient');

    expect((await vmctl(['vm', 'create', 'Bad_Name'])).code).toBe(2);
    expect((await vmctl(['vm', 'action', 'cli-web', 'explode'])).code).toBe(2);
  });

  it("vm action --wait, vm ssh runs the VM's ssh command, ssh-key add, credits", async () => {
    const stopped = await vmctl(['vm', 'action', 'cli-web', 'stop', '--wait', '-o', 'json']);
    expect(json(stopped)).toMatchObject({ status: 'stopped' });
    expect(stopped.stderr).toMatch(/cli-web: stopped/);
    const noAddress = await vmctl(['vm', 'ssh', 'cli-web']);
    expect(noAddress.code).toBe(5);
    expect(json(await vmctl(['vm', 'action', 'cli-web', 'start', '--wait', '-o', 'json']))).toMatchObject({ status: 'running' });

    // VMCTL_SSH stands in for ssh: echo prints the arguments vmctl ran it with.
    const ssh = await vmctl(['vm', 'ssh', 'cli-web', '--', 'uptime'], { env: { VMCTL_SSH: 'echo' } });
    expect(ssh.code).toBe(0);
    const { ssh_command } = json<{ ssh_command: string }>(await vmctl(['vm', 'get', 'cli-web', '-o', 'json']));
    expect(ssh_command).toMatch(/^ssh -p \d+ \w+@[\d.]+$/);
    expect(ssh.stdout.trim()).toBe(`${ssh_command.slice('ssh '.length)} uptime`);

    const keyFile = join(dir, 'id_ed25519.pub');
    const key = sshKeygen('ed25519');
    await writeFile(keyFile, `${key.publicKey}\n`);
    const added = json(await vmctl(['ssh-key', 'add', keyFile, '-o', 'json']));
    expect(added).toMatchObject({ name: 'id_ed25519', fingerprint: key.fingerprint });
    expect((await vmctl(['ssh-key', 'add', keyFile])).code).toBe(5); // already added
    const withKey = json(await vmctl(['vm', 'create', 'cli-keyed', '--ssh-key', 'id_ed25519', '-o', 'json']));
    expect(withKey).toMatchObject({ ssh_keys: [{ name: 'id_ed25519' }] });

    const credits = json<{ balance: number; transactions: { kind: string }[] }>(await vmctl(['credits', '-o', 'json']));
    const [row] = await ctx.db.query('SELECT credits FROM users WHERE id = $1', [user.id]);
    expect(credits.balance).toBe(row.credits);
    expect(credits.transactions[0]).toMatchObject({ kind: 'vm_create' });

    const deleted = await vmctl(['vm', 'delete', 'cli-keyed', '--wait', '-o', 'json']);
    expect(json(deleted)).toMatchObject({ status: 'destroyed' });
  });

  it('events tail prints the stream: --limit ends it, SIGINT ends it with exit 0', async () => {
    // The stream sends new events; --after replays from an event on (the oldest here), so --limit 2 is reached at once.
    const [oldest] = await ctx.db.query('SELECT id FROM events WHERE user_id = $1 ORDER BY created_at, id LIMIT 1', [user.id]);
    const limited = await vmctl(['events', 'tail', '--after', String(oldest.id), '--limit', '2', '-o', 'json']);
    expect(limited.code).toBe(0);
    const lines = limited.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; user_id: string });
    expect(lines).toHaveLength(2);
    expect(lines.every((e) => e.user_id === user.id)).toBe(true);

    // Live: tail after the latest event (so nothing is missed before it connects), act, see it arrive, then Ctrl-C.
    const [latest] = await ctx.db.query('SELECT id FROM events WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', [user.id]);
    const tail = start(['events', 'tail', '--after', String(latest.id)]);
    expect((await vmctl(['vm', 'action', 'cli-web', 'restart'])).code).toBe(0);
    await eventually(() => Promise.resolve(/vm\.restarted/.test(tail.out.stdout)), 20_000, 'the restart event on the tail');
    tail.child.kill('SIGINT');
    const ended = await tail.done;
    expect(ended.code).toBe(0);
    expect(ended.stdout).toMatch(/info\s+vm\.restarted\s/);
  });

  it('vm resize (stopped only, price difference debited), snapshot create/list/restore/delete, rebuild', async () => {
    const running = await vmctl(['vm', 'resize', 'cli-web', '--ram', '2048']);
    expect(running.code).toBe(5);
    expect(running.stderr).toContain('vm.invalid_transition');
    expect((await vmctl(['vm', 'resize', 'cli-web'])).code).toBe(2);
    expect(json(await vmctl(['vm', 'action', 'cli-web', 'stop', '--wait', '-o', 'json']))).toMatchObject({ status: 'stopped' });

    const balance = async () => (await ctx.db.query('SELECT credits FROM users WHERE id = $1', [user.id]))[0].credits as number;
    const before = await balance();
    const resized = await vmctl(['vm', 'resize', 'cli-web', '--ram', '2048', '--cpus', '3', '--disk', '30', '--wait', '-o', 'json']);
    // 1024 MB, 2 cores, 20 GB cost 34; 2048 MB, 3 cores, 30 GB cost 56: 22 more.
    expect(json(resized)).toMatchObject({ status: 'stopped', ram_mb: 2048, cpu_cores: 3, disk_gb: 30, cost: 56 });
    expect(resized.stderr).toMatch(/cli-web: resizing \(\d+s\)/);
    expect(await balance()).toBe(before - 22);
    const [ledger] = await ctx.db.query(
      'SELECT kind, amount FROM credit_transactions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1',
      [user.id],
    );
    expect(ledger).toEqual({ kind: 'vm_resize', amount: -22 });
    const shrink = await vmctl(['vm', 'resize', 'cli-web', '--disk', '20', '-o', 'json']);
    expect(shrink.code).toBe(5);
    expect(JSON.parse(shrink.stderr)).toMatchObject({ details: { code: 'vm.disk_shrink', disk_gb: 30 } });

    const taken = await vmctl(['vm', 'snapshot', 'create', 'cli-web', 'clean', '--wait', '-o', 'json']);
    expect(json(taken)).toMatchObject({ name: 'clean', status: 'available', size_gb: 30 });
    expect(taken.stderr).toMatch(/cli-web\/clean: available \(\d+s\)/);
    const [charged] = await ctx.db.query('SELECT kind FROM credit_transactions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1', [
      user.id,
    ]);
    expect(charged.kind).toBe('snapshot_create');
    expect((await vmctl(['vm', 'snapshot', 'create', 'cli-web', 'clean'])).code).toBe(5); // name taken
    expect(json<{ name: string; status: string }[]>(await vmctl(['vm', 'snapshot', 'list', 'cli-web', '-o', 'json']))).toEqual([
      expect.objectContaining({ name: 'clean', status: 'available' }),
    ]);
    const table = await vmctl(['vm', 'snapshot', 'list', 'cli-web']);
    expect(table.stdout).toMatch(/^NAME\s+STATUS\s+SIZE\s+CREATED\s+ID\n/);
    expect(table.stdout).toMatch(/clean\s+available\s+30G\s/);

    // A stopped VM comes back stopped.
    const restored = await vmctl(['vm', 'snapshot', 'restore', 'cli-web', 'clean', '--wait', '-o', 'json']);
    expect(json(restored)).toMatchObject({ status: 'stopped' });
    expect(restored.stderr).toMatch(/cli-web: restoring/);
    expect((await vmctl(['vm', 'snapshot', 'restore', 'cli-web', 'no-such-snapshot'])).code).toBe(4);

    const deleted = await vmctl(['vm', 'snapshot', 'delete', 'cli-web', 'clean', '--wait']);
    expect(deleted.code).toBe(0);
    expect(deleted.stderr).toContain('cli-web/clean: deleted');
    expect(json(await vmctl(['vm', 'snapshot', 'list', 'cli-web', '-o', 'json']))).toEqual([]);

    const { id } = json<{ id: string }>(await vmctl(['vm', 'get', 'cli-web', '-o', 'json']));
    const rebuilt = await vmctl(['vm', 'rebuild', 'cli-web', '--wait', '-o', 'json']);
    expect(json(rebuilt)).toMatchObject({ id, name: 'cli-web', status: 'running', ram_mb: 2048, cpu_cores: 3, disk_gb: 30 });
    expect(rebuilt.stderr).toMatch(/cli-web: running \(\d+s\)/);
    expect((await vmctl(['vm', 'rebuild', 'cli-web', '--os', 'no-such-os'])).code).not.toBe(0);
  });

  it('token create shows the secret once; the token works as a context within its scopes; list never shows it; revoke ends it', async () => {
    const created = await vmctl([
      'token',
      'create',
      'ci',
      '--scope',
      'vms:read',
      '--scope',
      'events:read',
      '--expires-in-days',
      '7',
      '-o',
      'json',
    ]);
    const token = json<{ id: string; name: string; scopes: string[]; expires_at: string; token: string }>(created);
    expect(token).toMatchObject({ name: 'ci', scopes: ['vms:read', 'events:read'] });
    expect(token.token).toMatch(/^vmp_/);
    expect(Date.parse(token.expires_at) - Date.now()).toBeGreaterThan(6 * 86400_000);
    const listed = json<Record<string, unknown>[]>(await vmctl(['token', 'list', '-o', 'json']));
    expect(listed).toEqual([expect.objectContaining({ id: token.id, name: 'ci', last_used_at: null })]);
    expect(listed[0]).not.toHaveProperty('token');
    const table = await vmctl(['token', 'list']);
    expect(table.stdout).toMatch(/^NAME\s+SCOPES\s+CREATED\s+EXPIRES\s+LAST USED\s+ID\n/);
    expect(table.stdout).toMatch(/ci\s+vms:read,events:read\s/);
    expect(table.stdout).not.toContain(token.token);

    // The secret as a context without a file: what its scopes allow, and no more (403 is exit 3).
    const asToken = { env: { VMCTL_URL: baseUrl, VMCTL_TOKEN: token.token, VMCTL_CONFIG: join(dir, 'none.json') } };
    expect(json<{ name: string }[]>(await vmctl(['vm', 'list', '-o', 'json'], asToken)).map((v) => v.name)).toContain('cli-web');
    const refused = await vmctl(['ssh-key', 'list'], asToken);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('auth.insufficient_scope');
    expect(json<{ last_used_at: string | null }[]>(await vmctl(['token', 'list', '-o', 'json']))[0]!.last_used_at).not.toBeNull();

    expect((await vmctl(['token', 'create', 'bad', '--scope', 'no:such-scope'])).code).toBe(2);
    expect((await vmctl(['token', 'revoke', 'no-such-token'])).code).toBe(4);
    const revoked = await vmctl(['token', 'revoke', 'ci']);
    expect(revoked.code).toBe(0);
    expect(revoked.stderr).toContain(`revoked ci (${token.id})`);
    expect(json(await vmctl(['token', 'list', '-o', 'json']))).toEqual([]);
    expect((await vmctl(['vm', 'list'], asToken)).code).toBe(3);
  });

  it('admin hosts list, drain and undrain; a user is refused (exit 3); admin credits adjust', async () => {
    const hosts = json<{ name: string; schedulable: boolean }[]>(await vmctl(['--context', 'ops', 'admin', 'hosts', 'list', '-o', 'json']));
    expect(hosts.map((h) => h.name)).toContain(TEST_HOST);
    const drained = json<{ name: string; schedulable: boolean; schedulable_reason: string }[]>(
      await vmctl(['--context', 'ops', 'admin', 'hosts', 'drain', TEST_HOST, '--reason', 'cli test', '-o', 'json']),
    );
    expect(drained).toEqual([expect.objectContaining({ name: TEST_HOST, schedulable: false, schedulable_reason: 'cli test' })]);
    const table = await vmctl(['--context', 'ops', 'admin', 'hosts', 'list']);
    expect(table.stdout).toMatch(new RegExp(`${TEST_HOST}\\s+online\\s+drained`));
    const undrained = json<{ schedulable: boolean }[]>(
      await vmctl(['--context', 'ops', 'admin', 'hosts', 'undrain', TEST_HOST, '-o', 'json']),
    );
    expect(undrained[0]!.schedulable).toBe(true);

    expect((await vmctl(['admin', 'hosts', 'drain', TEST_HOST])).code).toBe(3);
    expect((await vmctl(['--context', 'ops', 'admin', 'hosts', 'drain', 'no-such-host'])).code).toBe(4);

    const [before] = await ctx.db.query('SELECT credits FROM users WHERE id = $1', [user.id]);
    const adjusted = json(
      await vmctl(['--context', 'ops', 'admin', 'credits', 'adjust', user.username, '-5', '--reason', 'cli test', '-o', 'json']),
    );
    expect(adjusted).toMatchObject({ amount: -5, balance_after: before.credits - 5, kind: 'admin_adjustment' });
  });

  it('completion bash completes commands and subcommands from the command tree', async () => {
    const script = await vmctl(['completion', 'bash']);
    expect(script.code).toBe(0);
    const file = join(dir, 'vmctl.bash');
    await writeFile(file, script.stdout);
    const complete = async (...words: string[]) => {
      const shell = spawn('bash', [
        '-c',
        `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _vmctl; echo "\${COMPREPLY[*]}"`,
      ]);
      let out = '';
      shell.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      await new Promise((r) => shell.on('close', r));
      return out.trim().split(/\s+/);
    };
    expect(await complete('vmctl', 'v')).toEqual(['vm']);
    expect(await complete('vmctl', 'vm', 'cr')).toEqual(['create']);
    expect(await complete('vmctl', '-o', 'json', 'admin', 'hosts', 'd')).toEqual(['drain']);
    expect(await complete('vmctl', 'vm', 'create', 'x', '--w')).toEqual(['--wait', '--wait-timeout']);
    expect(await complete('vmctl', '-o', 'j')).toEqual(['json']);
    const zsh = await vmctl(['completion', 'zsh']);
    expect(zsh.stdout).toContain('bashcompinit');
    expect((await vmctl(['completion', 'fish'])).code).toBe(2);
  });
});
