import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource, EntityManager } from 'typeorm';
import { Page, PageQueryDto } from '../../common/pagination';
import type { Env } from '../../config/env.validation';
import type { AuthUser } from '../../common/auth';
import { EventsService } from '../events/events.service';
import { HOST_ERRORS } from './hosts.errors';
import { HostsRepository, HostState, HostStatus } from './hosts.repository';

export { CAPACITY_RETRY_AFTER_SECONDS } from './host-placement.service';
export type { HostState, HostStatus };

/**
 * Hypervisor hosts as the rest of the platform reads them: availability for VM actions, the admin
 * view and draining, long outages. Registration and heartbeats are HostHeartbeatService's,
 * placement HostPlacementService's.
 */
@Injectable()
export class HostsService {
  /** This process's HOST_NAME: the host its workers serve. */
  readonly name: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly hosts: HostsRepository,
    private readonly events: EventsService,
    private readonly config: ConfigService<Env, true>,
  ) {
    this.name = config.get('HOST_NAME', { infer: true });
  }

  /** Whether a host is online now; `unknown`: no host of that name has registered (a VM from before hosts). */
  async availability(m: EntityManager, name: string): Promise<HostStatus | 'unknown'> {
    const online = await this.hosts.online(m, name);
    return online === undefined ? 'unknown' : online ? 'online' : 'offline';
  }

  /** Names of the hosts that are online now. */
  onlineNames(): Promise<string[]> {
    return this.hosts.onlineNames();
  }

  /** Every host (the Prometheus gauges). */
  all(): Promise<HostState[]> {
    return this.hosts.all();
  }

  /** Hosts by name. */
  list(page: PageQueryDto): Promise<Page<HostState>> {
    return this.hosts.list(page);
  }

  async get(name: string, m?: EntityManager): Promise<HostState> {
    const host = await this.hosts.get(name, m);
    if (!host) throw HOST_ERRORS.error('host.not_found', `No host named ${JSON.stringify(name)}`);
    return host;
  }

  /** Drains (false) or returns (true) a host, with an admin event naming the admin and the reason. */
  async setSchedulable(admin: AuthUser, name: string, schedulable: boolean, reason?: string): Promise<HostState> {
    return this.dataSource.transaction(async (m) => {
      const before = await this.hosts.setSchedulable(m, name, schedulable, reason ?? null);
      if (!before) throw HOST_ERRORS.error('host.not_found', `No host named ${JSON.stringify(name)}`);
      await this.events.record(m, {
        action: 'admin.host_updated',
        message: `Admin ${admin.username} ${schedulable ? 'returned host ' + name + ' to service' : 'drained host ' + name}`,
        details: { host: name, schedulable, was_schedulable: before.was, reason: reason ?? null },
        actorId: admin.id,
      });
      return this.get(name, m);
    });
  }

  /**
   * Hosts offline longer than HOST_OFFLINE_WARN_SECONDS whose outage has not been reported yet,
   * each claimed (in the caller's transaction) so that one process reports it once per outage.
   */
  claimLongOffline(m: EntityManager): Promise<{ name: string; lastSeenAt: Date }[]> {
    return this.hosts.claimLongOffline(m, this.config.get('HOST_OFFLINE_WARN_SECONDS', { infer: true }));
  }
}
