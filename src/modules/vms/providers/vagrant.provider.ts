import { Logger } from '@nestjs/common';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OsCatalog } from '../os-catalog';
import { mapLimit } from '../../../common/map-limit';
import { humanizeOutput, machineState, parseMachineReadable, parseSshConfig } from './vagrant-output';
import { type CpuReading, type DomainStats, domainCpuTimeNs, domainState, domainStats, parseDomStats } from './virsh-output';
import type { OperationTimeouts } from '../vm-jobs';
import {
  libvirtDomainName,
  parseUserDataResult,
  renderVagrantfile,
  USER_DATA_FILE,
  VM_ID_RE,
  type VagrantBackend,
  type VagrantHostSettings,
} from './vagrantfile';
import { ProviderError, ProviderState, VmConnection, VmProvider, VmStats, VmTarget, VmUpResult } from './vm-provider.interface';

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
  /** The virsh executable (libvirt: resize changes the domain's definition and grows its volume). Default `virsh`. */
  virshBin?: string;
}

interface RunResult {
  stdout: string;
  stderr: string;
}

const MAX_BUFFER = 16 * 1024 * 1024;
const OUTPUT_TAIL = 4000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Snapshots are named after their id: a uuid, nothing for vagrant to misread. */
function snapshotName(snapshotId: string): string {
  if (!UUID_RE.test(snapshotId)) throw new ProviderError(`invalid snapshot id ${JSON.stringify(snapshotId)}`);
  return snapshotId;
}

/** `virsh dominfo`: the defined vCPU count and maximum memory (KiB), null when absent. */
export function parseDomInfo(text: string): { cpus: number | null; maxMemoryKib: number | null } {
  const cpus = /^CPU\(s\):\s+(\d+)/m.exec(text);
  const mem = /^Max memory:\s+(\d+) KiB/m.exec(text);
  return { cpus: cpus ? Number(cpus[1]) : null, maxMemoryKib: mem ? Number(mem[1]) : null };
}

/** `virsh domblklist --details`: the source of the first file-backed disk device. */
export function parseDomBlkList(text: string): string | null {
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 4 && cols[0] === 'file' && cols[1] === 'disk' && cols[3] !== '-') return cols.slice(3).join(' ');
  }
  return null;
}

/** `vagrant snapshot list --machine-readable`: the snapshot names (ours are uuids) the machine holds. */
export function parseSnapshotList(stdout: string): string[] {
  return parseMachineReadable(stdout)
    .filter((r) => r.type === 'ui')
    .flatMap((r) => r.data.slice(1).join(',').split('\n'))
    .map((line) => line.trim())
    .filter((line) => UUID_RE.test(line));
}
const STOPPED_STATES = new Set(['poweroff', 'shutoff', 'saved', 'aborted', 'stopped', 'paused']);

/** Text for the event feed: stderr then stdout (machine-readable records made readable), last 4000 chars. */
function outputTail(stdout: string, stderr: string): string {
  const text = [stderr.trim(), humanizeOutput(stdout).trim()].filter(Boolean).join('\n');
  return text.length > OUTPUT_TAIL ? text.slice(-OUTPUT_TAIL).trimStart() : text;
}

// --- process-group termination ------------------------------------------------------------------------

/** Whether any process of the group `pgid` is still alive (signal 0 tests without sending). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every vagrant command runs detached, as the leader of its own process group: SIGTERM the group
 * (vagrant, its ruby children, ssh, virsh...), wait up to graceMs for it to empty, SIGKILL what is left.
 */
async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pgid, signal);
    } catch {
      // already gone
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (groupAlive(pgid)) signalGroup('SIGKILL');
}

// ------------------------------------------------------------------------------------------------------

/**
 * Runs VMs through the `vagrant` binary: one working directory per VM with a generated Vagrantfile,
 * `spawn` (never a shell) in a process group of its own, a timeout per command (and the worker's
 * deadline, through its AbortSignal) that kills the whole group, and
 * `--machine-readable` parsing. Mutating operations on one VM are serialized in this process.
 */
export class VagrantProvider implements VmProvider {
  readonly name = 'vagrant' as const;
  private readonly logger = new Logger(VagrantProvider.name);
  private readonly workdir: string;
  private readonly killGraceMs: number;
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Each running domain's CPU time at the previous sampling pass (by domain name). */
  private cpuReadings = new Map<string, CpuReading>();

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

  /**
   * `vagrant up`. With user data, the script goes into USER_DATA_FILE (0600) beside the Vagrantfile for
   * the provisioner to upload, its outcome is read from up's output, and the file is removed after.
   * A machine that existed already runs no provisioner: its `userData` outcome is then null.
   */
  async up(vm: VmTarget, signal?: AbortSignal): Promise<VmUpResult> {
    return this.exclusive(vm, () => this.upIn(vm, signal));
  }

  /** `vagrant up` of the VM's machine (in `exclusive`), with its user data when the target carries it. */
  private async upIn(vm: VmTarget, signal?: AbortSignal): Promise<VmUpResult> {
    const dir = await this.writeVagrantfile(vm);
    const hasUserData = vm.userData !== undefined && vm.userData !== null;
    const userDataPath = path.join(dir, USER_DATA_FILE);
    if (hasUserData) await this.writePrivate(userDataPath, vm.userData!);
    try {
      const { stdout } = await this.run(
        'up',
        dir,
        ['up', `--provider=${this.options.provider}`, '--machine-readable'],
        this.options.timeouts.up,
        signal,
      );
      const connection = await this.connectionIn(dir);
      return hasUserData ? { ...connection, userData: parseUserDataResult(stdout) } : connection;
    } finally {
      if (hasUserData) {
        // Every later vagrant command (ssh, halt, reload) loads the Vagrantfile, and Vagrant refuses one whose
        // file provisioner names a missing source: the script ran once, so the machine's file drops it.
        await this.writeVagrantfile({ ...vm, userData: undefined });
        await rm(userDataPath, { force: true });
      }
    }
  }

  /** Writes a file only its owner can read (the user's script), replacing any earlier one. */
  private async writePrivate(file: string, content: string): Promise<void> {
    await rm(file, { force: true });
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile(content, 'utf8');
    } finally {
      await fh.close();
    }
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

  /**
   * A stopped machine's new size. The Vagrantfile is rewritten (vagrant-libvirt applies memory and
   * cpus to an existing domain at every up; VirtualBox likewise), and for libvirt the domain's
   * definition is changed now (`virsh setmaxmem/setmem/setvcpus --config`) and its volume grown
   * (`virsh vol-resize`): the box's grow-root service grows `/` to it at the next boot.
   */
  async resize(vm: VmTarget, signal?: AbortSignal): Promise<void> {
    await this.exclusive(vm, async () => {
      const existing = await this.existingDir(vm);
      if (!existing) throw new ProviderError(`VM ${vm.id} is not created: nothing to resize`);
      if ((await this.stateIn(existing)) === 'running') throw new ProviderError(`VM ${vm.id} is running: resize needs it stopped`);
      const dir = await this.writeVagrantfile(vm);
      if (this.options.provider !== 'libvirt') return;
      const domain = await this.domainOf(dir);
      const t = this.options.timeouts.query;
      const info = parseDomInfo((await this.virsh('dominfo', [domain], t, signal)).stdout);
      const kib = String(vm.ramMb * 1024);
      const cpus = String(vm.cpuCores);
      // Grow the ceilings before the values, shrink the values before the ceilings.
      const memory: [string, string[]][] = [
        ['setmaxmem', [domain, kib, '--config']],
        ['setmem', [domain, kib, '--config']],
      ];
      const vcpus: [string, string[]][] = [
        ['setvcpus', [domain, cpus, '--config', '--maximum']],
        ['setvcpus', [domain, cpus, '--config']],
      ];
      for (const [cmd, args] of info.maxMemoryKib !== null && vm.ramMb * 1024 < info.maxMemoryKib ? memory.reverse() : memory) {
        await this.virsh(cmd, args, t, signal);
      }
      for (const [cmd, args] of info.cpus !== null && vm.cpuCores < info.cpus ? vcpus.reverse() : vcpus) {
        await this.virsh(cmd, args, t, signal);
      }
      const disk = await this.rootVolume(domain, signal);
      const capacity = await this.volumeBytes(disk, signal);
      if (capacity !== null && capacity >= vm.diskGb * 1024 ** 3) return; // a disk only grows
      await this.virsh('vol-resize', [disk, `${vm.diskGb}G`], t, signal);
    });
  }

  /**
   * Wipes the machine (`vagrant destroy`, its snapshots with it) and brings the VM's definition up
   * again as a new machine: its keys, and its user data when the target carries it, as at a first boot.
   */
  async rebuild(vm: VmTarget, signal?: AbortSignal): Promise<VmUpResult> {
    return this.exclusive(vm, async () => {
      const existing = await this.existingDir(vm);
      if (existing) await this.run('destroy', existing, ['destroy', '-f', '--machine-readable'], this.options.timeouts.destroy, signal);
      return this.upIn(vm, signal);
    });
  }

  /** `vagrant snapshot save <id>`: vagrant-libvirt keeps it as an internal qcow2 snapshot of the domain. */
  async createSnapshot(vm: VmTarget, snapshotId: string, signal?: AbortSignal): Promise<void> {
    await this.exclusive(vm, async () => {
      const dir = await this.existingDir(vm);
      if (!dir) throw new ProviderError(`VM ${vm.id} is not created: nothing to snapshot`);
      const args = ['snapshot', 'save', snapshotName(snapshotId), '--machine-readable'];
      await this.run('snapshot save', dir, args, this.snapshotTimeout(), signal);
    });
  }

  /** `vagrant snapshot delete <id>`; a snapshot the machine does not hold is already deleted. */
  async deleteSnapshot(vm: VmTarget, snapshotId: string, signal?: AbortSignal): Promise<void> {
    await this.exclusive(vm, async () => {
      const dir = await this.existingDir(vm);
      if (!dir || !(await this.snapshotsIn(dir)).includes(snapshotName(snapshotId))) return;
      const args = ['snapshot', 'delete', snapshotName(snapshotId), '--machine-readable'];
      await this.run('snapshot delete', dir, args, this.snapshotTimeout(), signal);
    });
  }

  /** Reverts to the snapshot (the machine is then as it was when taken), then brings it to `then`. */
  async restoreSnapshot(
    vm: VmTarget,
    snapshotId: string,
    then: 'running' | 'stopped',
    signal?: AbortSignal,
  ): Promise<VmConnection | undefined> {
    return this.exclusive(vm, async () => {
      const existing = await this.existingDir(vm);
      if (!existing) throw new ProviderError(`VM ${vm.id} is not created: nothing to restore`);
      const args = ['snapshot', 'restore', snapshotName(snapshotId), '--no-start', '--no-provision', '--machine-readable'];
      await this.run('snapshot restore', existing, args, this.snapshotTimeout(), signal);
      const state = await this.stateIn(existing);
      if (then === 'stopped') {
        if (state === 'running') await this.run('halt', existing, ['halt', '--machine-readable'], this.options.timeouts.halt, signal);
        return undefined;
      }
      const dir = await this.writeVagrantfile(vm);
      if (state !== 'running') {
        const up = ['up', `--provider=${this.options.provider}`, '--no-provision', '--machine-readable'];
        await this.run('up', dir, up, this.options.timeouts.up, signal);
      }
      return this.connectionIn(dir);
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

  /**
   * libvirt: one `virsh domstats --state` over every domain of the URI, each VM mapped by its domain
   * name (`<vm id>_default`, see libvirtDomainName); a VM without a domain is not created. VirtualBox
   * has no such host-wide read here: one `vagrant status` per VM.
   */
  async states(vms: readonly VmTarget[]): Promise<Map<string, ProviderState>> {
    if (this.options.provider !== 'libvirt') {
      return new Map(await mapLimit(vms, 4, async (vm) => [vm.id, await this.status(vm)] as const));
    }
    const domains = await this.domStats(['--state']);
    return new Map(
      vms.map((vm) => [vm.id, this.domainOfVm(domains, vm)] as const).map(([id, d]) => [id, d ? domainState(d) : 'not_created']),
    );
  }

  /**
   * libvirt: one `virsh domstats --list-running` (CPU time, balloon, disks, vCPUs) over every running
   * domain. CPU percent compares each domain's CPU time with this process's previous reading, so a
   * domain's first sample has none. Nothing enters the guest: no filesystem use or load (the box has no
   * guest agent). VirtualBox: no host-wide read, so no samples.
   */
  async sample(vms: readonly VmTarget[]): Promise<Map<string, VmStats>> {
    const out = new Map<string, VmStats>();
    if (this.options.provider !== 'libvirt') return out;
    const domains = await this.domStats(['--list-running', '--state', '--cpu-total', '--balloon', '--block', '--vcpu']);
    const atMs = performance.now();
    const readings = new Map<string, CpuReading>();
    for (const vm of vms) {
      const d = this.domainOfVm(domains, vm);
      if (!d || domainState(d) !== 'running') continue;
      const cpuTimeNs = domainCpuTimeNs(d);
      const now = cpuTimeNs === undefined ? undefined : { cpuTimeNs, atMs };
      if (now) readings.set(d.name, now);
      out.set(vm.id, domainStats(d, vm.cpuCores, this.cpuReadings.get(d.name), now));
    }
    // Only the domains sampled now: a VM gone or stopped starts again without a previous reading.
    this.cpuReadings = readings;
    return out;
  }

  // --- helpers --------------------------------------------------------------------------------------

  /** `virsh domstats <flags>` of every domain of the URI (one process), by domain name. */
  private async domStats(flags: string[]): Promise<Map<string, DomainStats>> {
    await mkdir(this.workdir, { recursive: true, mode: 0o750 }); // virsh runs there, before any VM exists too
    const { stdout } = await this.virsh('domstats', flags, this.options.timeouts.query);
    return new Map(parseDomStats(stdout).map((d) => [d.name, d]));
  }

  private domainOfVm(domains: Map<string, DomainStats>, vm: VmTarget): DomainStats | undefined {
    if (typeof vm.id !== 'string' || !VM_ID_RE.test(vm.id)) throw new ProviderError(`invalid VM id ${JSON.stringify(vm.id)}`);
    return domains.get(libvirtDomainName(vm.id));
  }

  private snapshotTimeout(): number {
    return this.options.timeouts.snapshot ?? this.options.timeouts.reload;
  }

  private async snapshotsIn(dir: string): Promise<string[]> {
    const { stdout } = await this.run('snapshot list', dir, ['snapshot', 'list', '--machine-readable'], this.options.timeouts.query);
    return parseSnapshotList(stdout);
  }

  /** The libvirt domain of the VM's machine: its uuid, as vagrant-libvirt records it. */
  private async domainOf(dir: string): Promise<string> {
    let id: string;
    try {
      id = (await readFile(path.join(dir, '.vagrant', 'machines', 'default', 'libvirt', 'id'), 'utf8')).trim();
    } catch {
      throw new ProviderError('the machine has no libvirt domain id (.vagrant/machines/default/libvirt/id)');
    }
    if (!UUID_RE.test(id)) throw new ProviderError(`unexpected libvirt domain id ${JSON.stringify(id)}`);
    return id;
  }

  /** The file of the domain's first disk (vda: the box's root volume). */
  private async rootVolume(domain: string, signal?: AbortSignal): Promise<string> {
    const { stdout } = await this.virsh('domblklist', [domain, '--details'], this.options.timeouts.query, signal);
    const disk = parseDomBlkList(stdout);
    if (!disk) throw new ProviderError(`virsh domblklist ${domain}: no disk`, stdout.slice(-OUTPUT_TAIL));
    return disk;
  }

  private async volumeBytes(volume: string, signal?: AbortSignal): Promise<number | null> {
    const { stdout } = await this.virsh('vol-info', [volume, '--bytes'], this.options.timeouts.query, signal);
    const m = /^Capacity:\s+(\d+)/m.exec(stdout);
    return m ? Number(m[1]) : null;
  }

  /** Runs `virsh [-c uri] <cmd> <args>` (spawn, no shell) with the same timeout and abort rules as vagrant. */
  private virsh(cmd: string, args: string[], timeoutSeconds: number, signal?: AbortSignal): Promise<RunResult> {
    const uri = this.options.host?.libvirtUri;
    const argv = [...(uri ? ['-c', uri] : []), cmd, ...args];
    return this.exec(this.options.virshBin ?? 'virsh', `virsh ${cmd}`, this.workdir, argv, timeoutSeconds, signal);
  }

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
      const features = (env.VAGRANT_EXPERIMENTAL ?? '')
        .split(',')
        .map((f) => f.trim())
        .filter(Boolean);
      if (!features.includes('disks') && !features.includes('1')) features.push('disks');
      env.VAGRANT_EXPERIMENTAL = features.join(',');
    }
    return env;
  }

  /**
   * Runs `vagrant <args>` in `cwd`; rejects with ProviderError on a non-zero exit, the command's
   * timeout or `signal` (the worker's deadline for the operation, or its shutdown): each of those
   * stops the command's whole process group first.
   */
  private run(op: string, cwd: string, args: string[], timeoutSeconds: number, signal?: AbortSignal): Promise<RunResult> {
    return this.exec(this.options.bin, `vagrant ${op}`, cwd, args, timeoutSeconds, signal);
  }

  /** Runs `bin <args>` in `cwd` as `run` describes; `op` names the command in errors and logs (e.g. `vagrant up`). */
  private exec(bin: string, op: string, cwd: string, args: string[], timeoutSeconds: number, signal?: AbortSignal): Promise<RunResult> {
    const started = Date.now();
    this.logger.debug(`${bin} ${args.join(' ')} (cwd ${cwd}, timeout ${timeoutSeconds}s)`);
    const deadline = AbortSignal.timeout(timeoutSeconds * 1000);
    const stopSignal = signal ? AbortSignal.any([deadline, signal]) : deadline;
    return new Promise<RunResult>((resolve, reject) => {
      let stopped = false;
      let settled = false;
      let partial: RunResult | null = null;
      const finish = (err: ProviderError | null, result?: RunResult) => {
        if (settled) return;
        settled = true;
        stopSignal.removeEventListener('abort', stop);
        if (err) {
          this.logger.debug(`${op}: ${err.message} after ${Date.now() - started} ms`);
          reject(err);
        } else {
          this.logger.debug(`${op}: ok after ${Date.now() - started} ms`);
          resolve(result as RunResult);
        }
      };
      /** Why the command was stopped: its own timeout, the operation's deadline, or shutdown. */
      const stopError = (stdout: string, stderr: string) => {
        const output = outputTail(stdout, stderr);
        if (deadline.aborted) return new ProviderError(`${op} timed out after ${timeoutSeconds}s`, output, true);
        if ((signal?.reason as Error | undefined)?.name === 'TimeoutError')
          return new ProviderError(`${op} stopped: the operation timed out`, output, true);
        return new ProviderError(`${op} stopped: the worker is shutting down`, output, false);
      };

      // detached: the leader of its own process group, so a stop reaches everything it started (stop()).
      // stdin ignored: never wait for an answer to a prompt.
      const child = spawn(bin, args, {
        cwd,
        env: this.env(),
        windowsHide: true,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let tooLarge = false;
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        overflow();
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        overflow();
      });
      const overflow = () => {
        if (tooLarge || stdout.length + stderr.length <= MAX_BUFFER) return;
        tooLarge = true;
        if (child.pid) void terminateGroup(child.pid, 0);
      };
      child.on('error', (err: NodeJS.ErrnoException) => {
        if (!stopped) finish(new ProviderError(`${op} failed (${err.code ?? err.message})`, err.message));
      });
      child.on('close', (code, signalName) => {
        if (stopped) {
          // Reported once the whole group is gone (see below), not as soon as the pipes close.
          partial = { stdout, stderr };
          return;
        }
        if (code === 0 && !tooLarge) return finish(null, { stdout, stderr });
        const how = tooLarge ? 'output too large' : code !== null ? `exit ${code}` : `signal ${signalName}`;
        finish(new ProviderError(`${op} failed (${how})`, outputTail(stdout, stderr)));
      });

      function stop(this: void): void {
        if (stopped || settled) return;
        stopped = true;
        const pid = child.pid;
        const killed = pid ? terminateGroup(pid, killGraceMs) : Promise.resolve();
        void killed.then(async () => {
          // Give the pipes a moment to drain; something that left the group may still hold them.
          const until = Date.now() + 1000;
          while (!partial && Date.now() < until) await sleep(20);
          if (!partial) {
            child.stdout?.destroy();
            child.stderr?.destroy();
          }
          finish(stopError(partial?.stdout ?? '', partial?.stderr ?? ''));
        });
      }
      const killGraceMs = this.killGraceMs;
      if (stopSignal.aborted) stop();
      else stopSignal.addEventListener('abort', stop, { once: true });
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
