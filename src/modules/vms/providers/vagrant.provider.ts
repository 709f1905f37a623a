import { Logger } from '@nestjs/common';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { access, mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OsCatalog } from '../os-catalog';
import { humanizeOutput, machineState, parseMachineReadable, parseSshConfig, parseStatsLine, STATS_COMMAND } from './vagrant-output';
import type { OperationTimeouts } from '../vm-jobs';
import { renderVagrantfile, type VagrantBackend, type VagrantHostSettings } from './vagrantfile';
import { ProviderError, ProviderState, VmConnection, VmProvider, VmStats, VmTarget } from './vm-provider.interface';

export interface VagrantProviderOptions {
  /** The vagrant executable (a name looked up on PATH, or a path). */
  bin: string;
  /** Parent of the per-VM working directories `<workdir>/<vm id>/`. */
  workdir: string;
  provider: VagrantBackend;
  catalog: OsCatalog;
  timeouts: OperationTimeouts;
  /** After a timeout: ms between SIGTERM and SIGKILL. Default 5000. */
  killGraceMs?: number;
  /** Extra environment for the vagrant process (e.g. LIBVIRT_DEFAULT_URI); ours wins on conflicts. */
  env?: NodeJS.ProcessEnv;
  /** Driver, CPU, connection URI and boot timeout, rendered into every Vagrantfile. */
  host?: VagrantHostSettings;
}

interface RunResult {
  stdout: string;
  stderr: string;
}

const MAX_BUFFER = 16 * 1024 * 1024;
const OUTPUT_TAIL = 4000;
/** VM ids become directory names: no separators, no dots, nothing to escape. */
const VM_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const STOPPED_STATES = new Set(['poweroff', 'shutoff', 'saved', 'aborted', 'stopped', 'paused']);

/** Text for the event feed: stderr then stdout (machine-readable records made readable), last 4000 chars. */
function outputTail(stdout: string, stderr: string): string {
  const text = [stderr.trim(), humanizeOutput(stdout).trim()].filter(Boolean).join('\n');
  return text.length > OUTPUT_TAIL ? text.slice(-OUTPUT_TAIL).trimStart() : text;
}

// --- process-tree termination (Linux /proc; elsewhere only the direct child is signalled) -----------

interface ProcInfo {
  ppid: number;
  state: string;
  start: string;
}

function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    //  cutime cstime priority nice threads itrealvalue starttime ..." — comm may contain spaces/parens.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], ppid: Number(rest[1]), start: rest[19] };
  } catch {
    return null;
  }
}

/** The root and all its descendants, as pid -> start time (to avoid signalling a recycled pid). */
function processTree(root: number): Map<number, string | null> {
  const tree = new Map<number, string | null>([[root, procInfo(root)?.start ?? null]]);
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return tree;
  }
  const children = new Map<number, Array<[number, string]>>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const info = procInfo(Number(entry));
    if (!info) continue;
    const list = children.get(info.ppid) ?? [];
    list.push([Number(entry), info.start]);
    children.set(info.ppid, list);
  }
  const queue = [root];
  while (queue.length) {
    for (const [pid, start] of children.get(queue.shift() as number) ?? []) {
      if (tree.has(pid)) continue;
      tree.set(pid, start);
      queue.push(pid);
    }
  }
  return tree;
}

/** Still the same, still running (a zombie counts as gone). */
function alive(pid: number, start: string | null): boolean {
  const info = procInfo(pid);
  if (info) return info.state !== 'Z' && (start === null || info.start === start);
  try {
    process.kill(pid, 0);
    return start === null;
  } catch {
    return false;
  }
}

function signalAll(tree: Map<number, string | null>, signal: NodeJS.Signals): void {
  for (const [pid, start] of tree) {
    if (!alive(pid, start)) continue;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM the child and its descendants, wait up to graceMs for them to go, SIGKILL what is left. */
async function terminateTree(root: number, graceMs: number): Promise<void> {
  const tracked = processTree(root);
  signalAll(tracked, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  for (;;) {
    // Anything the child started meanwhile joins the list (orphans keep their first-seen entry).
    if (alive(root, tracked.get(root) ?? null)) for (const [pid, start] of processTree(root)) if (!tracked.has(pid)) tracked.set(pid, start);
    for (const [pid, start] of tracked) if (!alive(pid, start)) tracked.delete(pid);
    if (tracked.size === 0) return;
    if (Date.now() >= deadline) break;
    await sleep(50);
  }
  signalAll(tracked, 'SIGKILL');
}

// ------------------------------------------------------------------------------------------------------

/**
 * Runs VMs through the `vagrant` binary: one working directory per VM with a generated Vagrantfile,
 * `execFile` (never a shell), a timeout per command that kills the whole process tree, and
 * `--machine-readable` parsing. Mutating operations on one VM are serialized in this process.
 */
export class VagrantProvider implements VmProvider {
  readonly name = 'vagrant' as const;
  private readonly logger = new Logger(VagrantProvider.name);
  private readonly workdir: string;
  private readonly killGraceMs: number;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly options: VagrantProviderOptions) {
    if (!options.bin) throw new Error('VagrantProvider: bin is required');
    if (options.provider !== 'libvirt' && options.provider !== 'virtualbox') {
      throw new Error(`VagrantProvider: provider must be libvirt or virtualbox, got ${JSON.stringify(options.provider)}`);
    }
    for (const [op, seconds] of Object.entries(options.timeouts)) {
      if (typeof seconds !== 'number' || !(seconds > 0) || !Number.isFinite(seconds)) {
        throw new Error(`VagrantProvider: timeouts.${op} must be a positive number of seconds`);
      }
    }
    this.workdir = path.resolve(options.workdir);
    this.killGraceMs = options.killGraceMs ?? 5000;
  }

  async up(vm: VmTarget, signal?: AbortSignal): Promise<VmConnection> {
    return this.exclusive(vm, async () => {
      const dir = await this.writeVagrantfile(vm);
      await this.run('up', dir, ['up', `--provider=${this.options.provider}`, '--machine-readable'], this.options.timeouts.up, signal);
      return this.connectionIn(dir);
    });
  }

  async halt(vm: VmTarget, signal?: AbortSignal): Promise<void> {
    await this.exclusive(vm, async () => {
      const dir = await this.existingDir(vm);
      if (!dir) return; // never created: nothing is running
      try {
        await this.run('halt', dir, ['halt', '--machine-readable'], this.options.timeouts.halt, signal);
      } catch (err) {
        // vagrant-libvirt may fail a halt after the guest went down (e.g. it lost the guest's IP while
        // waiting and reports "not yet ready for SSH"): what counts is the state the machine is in.
        if (!(err instanceof ProviderError) || (await this.stateIn(dir).catch(() => null)) !== 'stopped') throw err;
        this.logger.warn(`vagrant halt of VM ${vm.id} failed (${err.message}) but the machine is stopped`);
      }
    });
  }

  async reload(vm: VmTarget, signal?: AbortSignal): Promise<VmConnection> {
    return this.exclusive(vm, async () => {
      const dir = await this.writeVagrantfile(vm);
      await this.run('reload', dir, ['reload', '--machine-readable'], this.options.timeouts.reload, signal);
      return this.connectionIn(dir);
    });
  }

  async destroy(vm: VmTarget, signal?: AbortSignal): Promise<void> {
    await this.exclusive(vm, async () => {
      const dir = this.vmDir(vm);
      if (!(await exists(dir))) return;
      if (await exists(path.join(dir, 'Vagrantfile'))) {
        await this.run('destroy', dir, ['destroy', '-f', '--machine-readable'], this.options.timeouts.destroy, signal);
      }
      await rm(dir, { recursive: true, force: true });
    });
  }

  async status(vm: VmTarget): Promise<ProviderState> {
    const dir = await this.existingDir(vm);
    if (!dir) return 'not_created';
    return this.stateIn(dir);
  }

  async connection(vm: VmTarget): Promise<VmConnection> {
    const dir = await this.existingDir(vm);
    if (!dir) return { ip_address: null, ssh_port: null };
    return this.connectionIn(dir);
  }

  async stats(vm: VmTarget): Promise<VmStats> {
    const dir = await this.existingDir(vm);
    if (!dir) throw new ProviderError(`VM ${vm.id} is not created`);
    const { stdout, stderr } = await this.run('ssh', dir, ['ssh', '--no-tty', '-c', STATS_COMMAND], this.options.timeouts.query);
    const stats = parseStatsLine(stdout);
    if (!stats) throw new ProviderError('vagrant ssh: could not parse the stats line', outputTail(stdout, stderr));
    return stats;
  }

  // --- helpers --------------------------------------------------------------------------------------

  private vmDir(vm: VmTarget): string {
    if (typeof vm.id !== 'string' || !VM_ID_RE.test(vm.id)) {
      throw new ProviderError(`invalid VM id ${JSON.stringify(vm.id)}`);
    }
    return path.join(this.workdir, vm.id);
  }

  /** The VM's directory if it holds a Vagrantfile, else null (never created, or already destroyed). */
  private async existingDir(vm: VmTarget): Promise<string | null> {
    const dir = this.vmDir(vm);
    return (await exists(path.join(dir, 'Vagrantfile'))) ? dir : null;
  }

  /** Renders the VM's Vagrantfile and replaces the old one atomically (temp file + rename). */
  private async writeVagrantfile(vm: VmTarget): Promise<string> {
    const dir = this.vmDir(vm);
    const box = Object.hasOwn(this.options.catalog, vm.osType) ? this.options.catalog[vm.osType] : undefined;
    if (!box) throw new ProviderError(`unknown os_type ${JSON.stringify(vm.osType)}: not in the OS catalog`);
    let content: string;
    try {
      content = renderVagrantfile(vm, { box, provider: this.options.provider, host: this.options.host });
    } catch (err) {
      throw new ProviderError((err as Error).message);
    }
    await mkdir(dir, { recursive: true, mode: 0o750 });
    const target = path.join(dir, 'Vagrantfile');
    const tmp = path.join(dir, `.Vagrantfile.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(content, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return dir;
  }

  private async stateIn(dir: string): Promise<ProviderState> {
    const { stdout } = await this.run('status', dir, ['status', '--machine-readable'], this.options.timeouts.query);
    const state = machineState(parseMachineReadable(stdout));
    if (state === 'running') return 'running';
    if (state === 'not_created') return 'not_created';
    if (state !== null && STOPPED_STATES.has(state)) return 'stopped';
    return 'unknown';
  }

  private async connectionIn(dir: string): Promise<VmConnection> {
    const { stdout, stderr } = await this.run('ssh-config', dir, ['ssh-config'], this.options.timeouts.query);
    const hosts = parseSshConfig(stdout);
    const host = hosts.find((h) => h.host === 'default') ?? hosts[0];
    if (!host?.hostName) throw new ProviderError('vagrant ssh-config: no HostName in the output', outputTail(stdout, stderr));
    return { ip_address: host.hostName, ssh_port: host.port ?? 22 };
  }

  /** Runs mutating operations of one VM one after the other (vagrant would refuse a concurrent one). */
  private async exclusive<T>(vm: VmTarget, fn: () => Promise<T>): Promise<T> {
    const key = vm.id;
    const previous = this.locks.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(fn);
    const settled = current.catch(() => undefined);
    this.locks.set(key, settled);
    try {
      return await current;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.options.env };
    // These would point vagrant somewhere other than the VM's own directory.
    delete env.VAGRANT_CWD;
    delete env.VAGRANT_VAGRANTFILE;
    env.VAGRANT_NO_COLOR = '1';
    env.VAGRANT_CHECKPOINT_DISABLE = '1';
    env.VAGRANT_DEFAULT_PROVIDER = this.options.provider;
    if (this.options.provider === 'virtualbox') {
      // config.vm.disk (the disk size) is ignored without this experimental flag.
      const features = (env.VAGRANT_EXPERIMENTAL ?? '').split(',').map((f) => f.trim()).filter(Boolean);
      if (!features.includes('disks') && !features.includes('1')) features.push('disks');
      env.VAGRANT_EXPERIMENTAL = features.join(',');
    }
    return env;
  }

  /**
   * Runs `vagrant <args>` in `cwd`; rejects with ProviderError on a non-zero exit, the timeout or
   * `signal` (both stop the whole process tree first).
   */
  private run(op: string, cwd: string, args: string[], timeoutSeconds: number, signal?: AbortSignal): Promise<RunResult> {
    const started = Date.now();
    this.logger.debug(`${this.options.bin} ${args.join(' ')} (cwd ${cwd}, timeout ${timeoutSeconds}s)`);
    return new Promise<RunResult>((resolve, reject) => {
      let timedOut = false;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let partial: RunResult | null = null;
      let stopReason = '';
      const finish = (err: ProviderError | null, result?: RunResult) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          this.logger.debug(`${this.options.bin} ${op}: ${err.message} after ${Date.now() - started} ms`);
          reject(err);
        } else {
          this.logger.debug(`${this.options.bin} ${op}: ok after ${Date.now() - started} ms`);
          resolve(result as RunResult);
        }
      };
      const timeoutError = (stdout: string, stderr: string) =>
        new ProviderError(stopReason || `vagrant ${op} timed out after ${timeoutSeconds}s`, outputTail(stdout, stderr), !stopReason);

      const child = execFile(
        this.options.bin,
        args,
        { cwd, env: this.env(), maxBuffer: MAX_BUFFER, encoding: 'utf8', windowsHide: true },
        (error, stdout, stderr) => {
          if (timedOut) {
            // Reported once the whole tree is gone (see below), not as soon as the pipes close.
            partial = { stdout, stderr };
            return;
          }
          if (!error) return finish(null, { stdout, stderr });
          const code = (error as { code?: unknown }).code;
          const how =
            typeof code === 'number'
              ? `exit ${code}`
              : error.signal
                ? `signal ${error.signal}`
                : code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER'
                  ? 'output too large'
                  : String(code ?? error.message);
          const output = outputTail(stdout, stderr) || (typeof code === 'string' ? error.message : '');
          finish(new ProviderError(`vagrant ${op} failed (${how})`, output));
        },
      );
      child.stdin?.end(); // never wait for an answer to a prompt

      const stop = () => {
        if (timedOut) return;
        timedOut = true;
        const pid = child.pid;
        const killed = pid ? terminateTree(pid, this.killGraceMs) : Promise.resolve();
        void killed.then(async () => {
          // Give the pipes a moment to drain; something that escaped the tree may still hold them.
          const deadline = Date.now() + 1000;
          while (!partial && Date.now() < deadline) await sleep(20);
          if (!partial) {
            child.stdout?.destroy();
            child.stderr?.destroy();
          }
          finish(timeoutError(partial?.stdout ?? '', partial?.stderr ?? ''));
        });
      };
      const onAbort = () => {
        stopReason = `vagrant ${op} stopped: the worker is shutting down`;
        stop();
      };
      timer = setTimeout(stop, timeoutSeconds * 1000);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
