import { Logger } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ProviderError,
  ProviderState,
  UserDataOutcome,
  VmConnection,
  VmProvider,
  VmStats,
  VmTarget,
  VmUpResult,
} from './vm-provider.interface';

export interface SimulatorOptions {
  delayMs: number;
  failureRate: number;
  /** Where the machines live: one JSON file per machine, shared by every process on this host. */
  stateDir: string;
}

/** One simulated machine, as its file holds it. */
export interface SimulatedMachine {
  state: ProviderState;
  ip: string;
  port: number;
  bootedAt: number;
  /** The public keys it was last brought up with: what a real guest would have in authorized_keys. */
  sshPublicKeys?: string[];
  /** The size its definition has (set at its first up and by resize): what a guest would see at boot. */
  size?: { ramMb: number; cpuCores: number; diskGb: number; osType: string };
  /**
   * Its disk's contents, as a generation: a new one at every (re)install, and every write a test makes
   * through `writeDisk`; a snapshot keeps the generation it saw and a restore brings it back.
   */
  disk?: string;
  snapshots?: Record<string, { disk: string; state: ProviderState }>;
}

/** A machine's address, stable for its VM id in every process (no counter to share). */
function addressOf(vmId: string): { ip: string; port: number } {
  const h = createHash('sha256').update(vmId).digest();
  return { ip: `10.${h.readUInt8(0) % 250}.${h.readUInt8(1)}.${(h.readUInt8(2) % 250) + 2}`, port: 2200 + (h.readUInt16BE(3) % 800) };
}

/** A running machine's simulated figures: a slow sine over time plus noise, bounded by its size. */
function simulatedStats(vm: VmTarget, m: SimulatedMachine): VmStats {
  const t = (Date.now() - m.bootedAt) / 60_000;
  const wave = (Math.sin(t + vm.id.charCodeAt(0)) + 1) / 2;
  const cpu = Math.min(100, Math.max(0, 15 + 50 * wave + 10 * Math.random()));
  const size = m.size ?? vm;
  return {
    cpu_percent: Math.round(cpu * 10) / 10,
    memory_used_mb: Math.round(size.ramMb * (0.25 + 0.5 * wave)),
    memory_total_mb: size.ramMb,
    disk_used_gb: Math.round(size.diskGb * 0.15 * 100) / 100 + Math.round(t) / 1000,
    disk_size_gb: size.diskGb,
    disk_allocated_gb: Math.round(size.diskGb * 0.2 * 100) / 100,
    load_1m: Math.round((cpu / 100) * size.cpuCores * 100) / 100,
  };
}

/**
 * The simulator runs no script; its outcome is read from the script, so tests and demos choose it:
 * the exit code from a `# simulate-exit: N` line (0 without one), the output from its
 * `# simulate-output: text` lines (the last 20).
 */
export function simulateUserData(script: string): UserDataOutcome {
  const exit = /^# simulate-exit: (\d{1,3})\s*$/m.exec(script);
  const output = [...script.matchAll(/^# simulate-output: (.*)$/gm)].map((m) => m[1]).slice(-20);
  return { exitCode: exit ? Math.min(Number(exit[1]), 255) : 0, outputTail: output.join('\n') };
}

/**
 * The provider contract without a hypervisor: operations take `delayMs` and fail with probability
 * `failureRate`. Machines are files under `stateDir` (written atomically: a temporary file renamed
 * over the old one), so every process on the host (API, workers, a restarted worker) sees the same
 * machines, as with a real hypervisor. For demos and tests. `forceState` lets a test make the
 * "hypervisor" disagree with the database.
 */
export class SimulatorProvider implements VmProvider {
  readonly name = 'simulator' as const;
  private readonly logger = new Logger(SimulatorProvider.name);

  constructor(readonly options: SimulatorOptions) {
    mkdirSync(options.stateDir, { recursive: true });
  }

  private file(vmId: string): string {
    // VM ids are uuids; anything else must not escape the directory.
    return join(this.options.stateDir, `${vmId.replace(/[^A-Za-z0-9-]/g, '_')}.json`);
  }

  /** The machine's record, or null when it does not exist. */
  async read(vmId: string): Promise<SimulatedMachine | null> {
    try {
      return JSON.parse(await readFile(this.file(vmId), 'utf8')) as SimulatedMachine;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  private async write(vmId: string, machine: SimulatedMachine): Promise<void> {
    const tmp = `${this.file(vmId)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(machine));
    await rename(tmp, this.file(vmId));
  }

  private async work(op: string, vm: VmTarget, signal?: AbortSignal): Promise<void> {
    if (this.options.delayMs > 0) {
      try {
        await sleep(this.options.delayMs, undefined, { signal });
      } catch {
        throw new ProviderError(`simulated ${op} stopped: the worker is shutting down`);
      }
    }
    if (Math.random() < this.options.failureRate) {
      throw new ProviderError(`simulated ${op} failure`, `==> ${vm.name}: simulated failure during ${op}`);
    }
    this.logger.debug(`${op} ${vm.id}`);
  }

  /** Boots the machine (`fresh`: a new one, disk and snapshots wiped, as a rebuild leaves it). */
  private async boot(vm: VmTarget, sshPublicKeys?: string[], fresh = false): Promise<VmConnection> {
    const { ip, port } = addressOf(vm.id);
    const previous = fresh ? null : await this.read(vm.id);
    await this.write(vm.id, {
      ...previous,
      state: 'running',
      ip,
      port,
      bootedAt: Date.now(),
      sshPublicKeys: sshPublicKeys ?? previous?.sshPublicKeys,
      size: previous?.size ?? { ramMb: vm.ramMb, cpuCores: vm.cpuCores, diskGb: vm.diskGb, osType: vm.osType },
      disk: previous?.disk ?? `${vm.osType}:${randomBytes(4).toString('hex')}`,
    });
    return { ip_address: ip, ssh_port: port };
  }

  /** A first boot's report: the user data's simulated outcome when the target carries a script. */
  private withUserData(vm: VmTarget, connection: VmConnection): VmUpResult {
    return vm.userData !== undefined && vm.userData !== null ? { ...connection, userData: simulateUserData(vm.userData) } : connection;
  }

  async up(vm: VmTarget, signal?: AbortSignal): Promise<VmUpResult> {
    await this.work('up', vm, signal);
    return this.withUserData(vm, await this.boot(vm, [...vm.sshPublicKeys]));
  }

  /** The machine's record, or a ProviderError when it does not exist (day-2 operations need one). */
  private async existing(vm: VmTarget, op: string): Promise<SimulatedMachine> {
    const m = await this.read(vm.id);
    if (!m) throw new ProviderError(`simulated ${op}: machine ${vm.id} does not exist`);
    return m;
  }

  async resize(vm: VmTarget, signal?: AbortSignal): Promise<void> {
    await this.work('resize', vm, signal);
    const m = await this.existing(vm, 'resize');
    if (m.state === 'running') throw new ProviderError(`simulated resize: machine ${vm.id} is running`);
    if (m.size && vm.diskGb < m.size.diskGb) throw new ProviderError(`simulated resize: disk cannot shrink from ${m.size.diskGb} GB`);
    await this.write(vm.id, {
      ...m,
      size: { ramMb: vm.ramMb, cpuCores: vm.cpuCores, diskGb: vm.diskGb, osType: m.size?.osType ?? vm.osType },
    });
  }

  async rebuild(vm: VmTarget, signal?: AbortSignal): Promise<VmUpResult> {
    await this.work('rebuild', vm, signal);
    // A new machine of the VM's definition (the OS may be another): fresh disk, no snapshots, the keys and user data again.
    return this.withUserData(vm, await this.boot(vm, [...vm.sshPublicKeys], true));
  }

  async createSnapshot(vm: VmTarget, snapshotId: string, signal?: AbortSignal): Promise<void> {
    await this.work('snapshot', vm, signal);
    const m = await this.existing(vm, 'snapshot');
    await this.write(vm.id, { ...m, snapshots: { ...m.snapshots, [snapshotId]: { disk: m.disk ?? '', state: m.state } } });
  }

  async deleteSnapshot(vm: VmTarget, snapshotId: string, signal?: AbortSignal): Promise<void> {
    await this.work('snapshot delete', vm, signal);
    const m = await this.read(vm.id);
    if (!m?.snapshots?.[snapshotId]) return;
    const rest = Object.fromEntries(Object.entries(m.snapshots).filter(([id]) => id !== snapshotId));
    await this.write(vm.id, { ...m, snapshots: rest });
  }

  async restoreSnapshot(
    vm: VmTarget,
    snapshotId: string,
    then: 'running' | 'stopped',
    signal?: AbortSignal,
  ): Promise<VmConnection | undefined> {
    await this.work('restore', vm, signal);
    const m = await this.existing(vm, 'restore');
    const snap = m.snapshots?.[snapshotId];
    if (!snap) throw new ProviderError(`simulated restore: machine ${vm.id} has no snapshot ${snapshotId}`);
    await this.write(vm.id, { ...m, disk: snap.disk, state: then === 'running' ? 'running' : 'stopped' });
    if (then === 'stopped') return undefined;
    return this.boot(vm);
  }

  /** Test hook: a write to the machine's disk (a new generation), as a guest writing a file. */
  async writeDisk(vmId: string, label: string): Promise<string> {
    const m = await this.read(vmId);
    if (!m) throw new Error(`no machine ${vmId}`);
    const disk = `${m.disk ?? ''}+${label}`;
    await this.write(vmId, { ...m, disk });
    return disk;
  }

  async halt(vm: VmTarget, signal?: AbortSignal): Promise<void> {
    await this.work('halt', vm, signal);
    const { ip, port } = addressOf(vm.id);
    await this.write(vm.id, { ...((await this.read(vm.id)) ?? { ip, port, bootedAt: 0 }), state: 'stopped' });
  }

  async reload(vm: VmTarget, signal?: AbortSignal): Promise<VmConnection> {
    await this.work('reload', vm, signal);
    return this.boot(vm);
  }

  async destroy(vm: VmTarget, signal?: AbortSignal): Promise<void> {
    await this.work('destroy', vm, signal);
    await rm(this.file(vm.id), { force: true });
  }

  async status(vm: VmTarget): Promise<ProviderState> {
    return (await this.read(vm.id))?.state ?? 'not_created';
  }

  async connection(vm: VmTarget): Promise<VmConnection> {
    const m = await this.read(vm.id);
    return m?.state === 'running' ? { ip_address: m.ip, ssh_port: m.port } : { ip_address: null, ssh_port: null };
  }

  async states(vms: readonly VmTarget[]): Promise<Map<string, ProviderState>> {
    const machines = await Promise.all(vms.map(async (vm) => [vm.id, (await this.read(vm.id))?.state ?? 'not_created'] as const));
    return new Map(machines);
  }

  /** Plausible, varying figures of each running machine: a slow sine over time plus noise, bounded by its size. */
  async sample(vms: readonly VmTarget[]): Promise<Map<string, VmStats>> {
    const out = new Map<string, VmStats>();
    await Promise.all(
      vms.map(async (vm) => {
        const m = await this.read(vm.id);
        if (m?.state === 'running') out.set(vm.id, simulatedStats(vm, m));
      }),
    );
    return out;
  }

  /** Test hook: the public keys the machine was last brought up with (undefined: never up). */
  async sshPublicKeysOf(vmId: string): Promise<string[] | undefined> {
    return (await this.read(vmId))?.sshPublicKeys;
  }

  /** Test hook: make the simulated hypervisor report another state. */
  async forceState(vmId: string, state: ProviderState): Promise<void> {
    const m = await this.read(vmId);
    await this.write(vmId, m ? { ...m, state } : { state, ip: '10.0.0.250', port: 2999, bootedAt: Date.now() });
  }
}
