import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';
import type { Env } from '../../config/env.validation';
import { hostQueue } from '../../queue/host';
import { PeriodicService } from '../../queue/periodic.service';
import { EventsService } from '../events/events.service';
import type { RecordEventInput } from '../events/events.types';
import { HostsService } from '../hosts/hosts.service';
import { toVmTarget, type Vm } from './entities/vm.entity';
import { ProviderState, VM_PROVIDER, VmConnection, VmProvider } from './providers/vm-provider.interface';
import { TRANSITIONAL_STATUSES, VmStatus } from './vm-state';
import { FAILED_SET, STARTED_SET, STOPPED_SET, VmTransitionsService } from './vm-transitions.service';
import { VmsRepository } from './vms.repository';

export const VM_RECONCILE_TASK = 'vm-reconcile';
/** Not per host: it watches for hosts that stopped answering, so it must run on the others. */
export const HOST_WATCH_TASK = 'host-watch';

export interface Drift {
  vmId: string;
  from: VmStatus;
  to: VmStatus;
  providerState: ProviderState;
}

export interface ReconcileReport {
  /** VMs on this host whose provider state was compared. */
  checked: number;
  corrected: Drift[];
  /** VMs moved to `failed` for being stuck in a transitional status. */
  stuck: string[];
}

/**
 * Keeps the database honest about the machines, every RECONCILE_MINUTES (PeriodicService: one run
 * per interval however many processes; or `reconcile()`, everything at once, called directly):
 * - per host, on the host: compares the provider's view of this host's running and stopped VMs with
 *   their status, and corrects drift with a `system.status_drift` event (warning; critical when the
 *   machine is gone);
 * - once across the fleet (database only): fails VMs stuck in a transitional status past
 *   RECONCILE_STUCK_SECONDS with no worker holding them, with a critical `vm.stuck_failed` event (a
 *   job that still runs later finds it stale), never a VM whose host is offline: its job waits for
 *   the host, which is not being stuck; and reports hosts offline for longer than
 *   HOST_OFFLINE_WARN_SECONDS: a `system.host_offline` warning for admins and a `vm.host_offline`
 *   warning on each VM there (its owner sees it, without the host's name), once per outage.
 * Every change is one conditional UPDATE plus its event in one transaction, and applies only if the
 * status has not changed since it was read and no worker holds the VM's lease, so it never races
 * an operation.
 */
@Injectable()
export class VmReconciler implements OnApplicationBootstrap {
  private readonly logger = new Logger(VmReconciler.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly vms: VmsRepository,
    private readonly transitions: VmTransitionsService,
    private readonly events: EventsService,
    private readonly periodic: PeriodicService,
    private readonly config: ConfigService<Env, true>,
    @Inject(VM_PROVIDER) private readonly provider: VmProvider,
    private readonly hosts: HostsService,
  ) {}

  onApplicationBootstrap(): void {
    const minutes = this.config.get('RECONCILE_MINUTES', { infer: true });
    // Per host: provider state is only visible from the VM's own host (its Vagrant workdir).
    this.periodic.every(hostQueue(VM_RECONCILE_TASK, this.hosts.name), minutes, () => this.correctDrift());
    // Fleet-wide, database only: one run per interval, not one per host.
    this.periodic.every(HOST_WATCH_TASK, minutes, async () => {
      await this.failStuck();
      await this.reportOfflineHosts();
    });
  }

  /** Warning events for hosts offline longer than HOST_OFFLINE_WARN_SECONDS (each outage once); returns their names. */
  async reportOfflineHosts(): Promise<string[]> {
    return this.dataSource.transaction(async (m) => {
      const hosts = await this.hosts.claimLongOffline(m);
      for (const host of hosts) {
        const since = host.lastSeenAt.toISOString();
        const vms = await this.vms.liveOnHost(m, host.name);
        const events: RecordEventInput[] = [
          {
            action: 'system.host_offline',
            message: `Host ${host.name} has sent no heartbeat since ${since}; ${vms.length} VMs wait for it`,
            details: { host: host.name, last_seen_at: since, vm_count: vms.length },
          },
          // The owner learns that the machine is unreachable, not where it is.
          ...vms.map((vm): RecordEventInput => ({
            action: 'vm.host_offline',
            message: `The hypervisor host of VM ${vm.name} has been unreachable since ${since}; the VM stays ${vm.status} and its pending actions run when the host is back`,
            details: { host: host.name, status: vm.status, unreachable_since: since },
            userId: vm.user_id,
            vmId: vm.id,
          })),
        ];
        await this.events.recordAll(m, events);
        this.logger.warn(`Host ${host.name} offline since ${since} (${vms.length} VMs reported)`);
      }
      return hosts.map((h) => h.name);
    });
  }

  /** Both passes at once: the fleet's stuck VMs, then this host's drift. */
  async reconcile(): Promise<ReconcileReport> {
    const stuck = await this.failStuck();
    const { checked, corrected } = await this.correctDrift();
    return { checked, corrected, stuck };
  }

  /**
   * Database only, over every host's VMs (the fleet-wide run); the conditional UPDATE makes one
   * writer win. VMs of offline (or never registered) hosts are left alone: reportOfflineHosts speaks for them.
   */
  async failStuck(): Promise<string[]> {
    const deadline = this.config.get('RECONCILE_STUCK_SECONDS', { infer: true });
    const online = await this.hosts.onlineNames();
    const candidates = await this.vms.stuck(TRANSITIONAL_STATUSES, deadline, online);
    const failed: string[] = [];
    for (const vm of candidates) {
      const stuckSeconds = Math.floor((Date.now() - vm.statusChangedAt.getTime()) / 1000);
      const guard = { statusChangedAt: vm.statusChangedAt, unleased: true };
      const done = await this.transitions.apply({ id: vm.id, from: vm.status, to: 'failed', set: FAILED_SET, guard }, () => ({
        action: 'vm.stuck_failed',
        message: `VM ${vm.name} was ${vm.status} for ${stuckSeconds} s with no worker on it (deadline ${deadline} s); marked failed`,
        details: { from: vm.status, to: 'failed', stuck_seconds: stuckSeconds, deadline_seconds: deadline },
        userId: vm.userId,
        vmId: vm.id,
      }));
      if (done) failed.push(vm.id);
    }
    if (failed.length) this.logger.warn(`Reconciled: ${failed.length} stuck VMs failed`);
    return failed;
  }

  /**
   * Running and stopped VMs on this host against what the provider reports: ONE provider read of
   * the host per pass (`states`), then the drifted VMs corrected one by one.
   */
  async correctDrift(): Promise<{ checked: number; corrected: Drift[] }> {
    const vms = await this.vms.byHost(this.hosts.name, ['running', 'stopped']);
    if (!vms.length) return { checked: 0, corrected: [] };
    let states: Map<string, ProviderState>;
    try {
      states = await this.provider.states(vms.map(toVmTarget));
    } catch (err) {
      this.logger.warn(`Could not read the state of this host's ${vms.length} VMs: ${(err as Error).message}`);
      return { checked: 0, corrected: [] };
    }
    const corrected: Drift[] = [];
    for (const vm of vms) {
      const drift = await this.correct(vm, states.get(vm.id) ?? 'unknown');
      if (drift) corrected.push(drift);
    }
    if (corrected.length) this.logger.warn(`Reconciled: ${corrected.length} drifted of ${vms.length} checked on ${this.hosts.name}`);
    return { checked: vms.length, corrected };
  }

  private async correct(vm: Vm, state: ProviderState): Promise<Drift | null> {
    let to: VmStatus;
    let set: string;
    let params: unknown[] = [];
    if (state === 'unknown' || state === vm.status) return null;
    if (state === 'not_created') {
      // The machine is gone (its disk with it): nothing to start again, only to destroy. Its
      // resources are free on the host (released), so they no longer count for placement.
      to = 'failed';
      set = `${FAILED_SET}, ip_address = NULL, ssh_port = NULL, released_at = now()`;
    } else if (state === 'stopped') {
      to = 'stopped';
      set = STOPPED_SET;
    } else {
      to = 'running';
      let connection: VmConnection = { ip_address: null, ssh_port: null };
      try {
        connection = await this.provider.connection(toVmTarget(vm));
      } catch (err) {
        this.logger.warn(`VM ${vm.id} runs but its connection is unreadable: ${(err as Error).message}`);
      }
      set = STARTED_SET;
      params = [connection.ip_address, connection.ssh_port, this.hosts.name];
    }
    const guard = { statusChangedAt: vm.statusChangedAt, unleased: true };
    const applied = await this.transitions.apply({ id: vm.id, from: vm.status, to, set, params, guard }, () => ({
      action: 'system.status_drift',
      severity: to === 'failed' ? 'critical' : 'warning',
      message:
        state === 'not_created'
          ? `VM ${vm.name} was ${vm.status} but its machine no longer exists; marked failed`
          : `VM ${vm.name} was ${vm.status} in the database but ${state} on its host; corrected`,
      details: { from: vm.status, to, provider_state: state, host: this.hosts.name },
      userId: vm.userId,
      vmId: vm.id,
    }));
    return applied ? { vmId: vm.id, from: vm.status, to, providerState: state } : null;
  }
}
