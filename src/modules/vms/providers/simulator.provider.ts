import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderError, ProviderState, VmConnection, VmProvider, VmStats, VmTarget } from './vm-provider.interface';

export interface SimulatorOptions {
  delayMs: number;
  failureRate: number;
}

/**
 * The provider contract without a hypervisor: machines live in memory, operations take `delayMs`
 * and fail with probability `failureRate`. For demos and tests. `forceState` lets a test make the
 * "hypervisor" disagree with the database.
 */
export class SimulatorProvider implements VmProvider {
  readonly name = 'simulator' as const;
  private readonly logger = new Logger(SimulatorProvider.name);
  private readonly machines = new Map<string, { state: ProviderState; ip: string; port: number; bootedAt: number; sshPublicKeys?: string[] }>();

  constructor(readonly options: SimulatorOptions) {}

  private async work(op: string, vm: VmTarget): Promise<void> {
    if (this.options.delayMs > 0) await sleep(this.options.delayMs);
    if (Math.random() < this.options.failureRate) {
      throw new ProviderError(`simulated ${op} failure`, `==> ${vm.name}: simulated failure during ${op}`);
    }
    this.logger.debug(`${op} ${vm.id}`);
  }

  private machine(vm: VmTarget) {
    let m = this.machines.get(vm.id);
    if (!m) {
      const n = this.machines.size + 2;
      m = { state: 'not_created', ip: `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`, port: 2200 + (n % 800), bootedAt: 0 };
      this.machines.set(vm.id, m);
    }
    return m;
  }

  async up(vm: VmTarget): Promise<VmConnection> {
    await this.work('up', vm);
    const m = this.machine(vm);
    // What a real guest would get in the login user's authorized_keys; tests read it back.
    m.sshPublicKeys = [...vm.sshPublicKeys];
    m.state = 'running';
    m.bootedAt = Date.now();
    return { ip_address: m.ip, ssh_port: m.port };
  }

  async halt(vm: VmTarget): Promise<void> {
    await this.work('halt', vm);
    this.machine(vm).state = 'stopped';
  }

  async reload(vm: VmTarget): Promise<VmConnection> {
    await this.work('reload', vm);
    const m = this.machine(vm);
    m.state = 'running';
    m.bootedAt = Date.now();
    return { ip_address: m.ip, ssh_port: m.port };
  }

  async destroy(vm: VmTarget): Promise<void> {
    await this.work('destroy', vm);
    this.machines.delete(vm.id);
  }

  async status(vm: VmTarget): Promise<ProviderState> {
    return this.machines.get(vm.id)?.state ?? 'not_created';
  }

  async connection(vm: VmTarget): Promise<VmConnection> {
    const m = this.machines.get(vm.id);
    return m?.state === 'running' ? { ip_address: m.ip, ssh_port: m.port } : { ip_address: null, ssh_port: null };
  }

  async stats(vm: VmTarget): Promise<VmStats> {
    const m = this.machines.get(vm.id);
    if (m?.state !== 'running') throw new ProviderError(`VM ${vm.id} is not running`);
    // Plausible, varying values: a slow sine over time plus noise, bounded by the VM's size.
    const t = (Date.now() - m.bootedAt) / 60_000;
    const wave = (Math.sin(t + vm.id.charCodeAt(0)) + 1) / 2;
    const cpu = Math.min(100, Math.max(0, 15 + 50 * wave + 10 * Math.random()));
    return {
      cpu_percent: Math.round(cpu * 10) / 10,
      memory_used_mb: Math.round(vm.ramMb * (0.25 + 0.5 * wave)),
      disk_used_gb: Math.round(vm.diskGb * 0.15 * 100) / 100 + Math.round(t) / 1000,
      load_1m: Math.round((cpu / 100) * vm.cpuCores * 100) / 100,
    };
  }

  /** Test hook: the public keys the machine was last brought up with (undefined: never up). */
  sshPublicKeysOf(vmId: string): string[] | undefined {
    return this.machines.get(vmId)?.sshPublicKeys;
  }

  /** Test hook: make the simulated hypervisor report another state. */
  forceState(vmId: string, state: ProviderState): void {
    const m = this.machines.get(vmId);
    if (m) m.state = state;
    else this.machines.set(vmId, { state, ip: '10.0.0.250', port: 2999, bootedAt: Date.now() });
  }
}
