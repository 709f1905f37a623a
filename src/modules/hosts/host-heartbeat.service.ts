import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APP_VERSION } from '../../common/version';
import type { Env } from '../../config/env.validation';
import { hostCapacity } from './host-capacity';
import { HostsRepository } from './hosts.repository';

/** How often a heartbeat also sums what the host's VMs hold in RAM again (`hosts.allocated_ram_mb`). */
export const ALLOCATED_RECOUNT_MS = 60_000;

/** This process's host (HOST_NAME): its registration and heartbeat, in worker processes only. */
@Injectable()
export class HostHeartbeatService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(HostHeartbeatService.name);
  /** This process's HOST_NAME: the host it registers, if it is a worker. */
  readonly name: string;
  private heartbeat?: NodeJS.Timeout;
  private lastHeartbeatError = 0;

  constructor(
    private readonly hosts: HostsRepository,
    private readonly config: ConfigService<Env, true>,
  ) {
    this.name = config.get('HOST_NAME', { infer: true });
  }

  /**
   * Registers this host (capacity, ratios, version) and keeps it online with a heartbeat every
   * HOST_HEARTBEAT_SECONDS. Called by the worker once it consumes the host's queue, so a host that
   * placement can choose always has a consumer. An admin's drain survives re-registration.
   */
  async register(): Promise<void> {
    const capacity = hostCapacity({
      HOST_CPU_CORES: this.config.get('HOST_CPU_CORES', { infer: true }),
      HOST_RAM_MB: this.config.get('HOST_RAM_MB', { infer: true }),
      HOST_DISK_GB: this.config.get('HOST_DISK_GB', { infer: true }),
      VAGRANT_WORKDIR: this.config.get('VAGRANT_WORKDIR', { infer: true }),
    });
    const registration = {
      name: this.name,
      capacity,
      ratios: {
        cpu: this.config.get('HOST_CPU_ALLOCATION_RATIO', { infer: true }),
        ram: this.config.get('HOST_RAM_ALLOCATION_RATIO', { infer: true }),
        disk: this.config.get('HOST_DISK_ALLOCATION_RATIO', { infer: true }),
      },
      version: APP_VERSION,
    };
    // The upsert is the heartbeat too: a row deleted by hand comes back on the next beat. The RAM its
    // VMs hold (placement's shortlist order) is summed again at most once a minute, not on every beat.
    let recountedAt = 0;
    const beat = async () => {
      const recount = Date.now() - recountedAt >= ALLOCATED_RECOUNT_MS;
      await this.hosts.upsert(registration, recount);
      if (recount) recountedAt = Date.now();
    };
    await beat();
    const { ratios } = registration;
    this.logger.log(
      `Host ${this.name} registered: ${capacity.cpuCores} cores, ${capacity.ramMb} MB RAM, ${capacity.diskGb} GB disk ` +
        `(allocation ratios cpu ${ratios.cpu}, ram ${ratios.ram}, disk ${ratios.disk})`,
    );
    this.heartbeat = setInterval(
      () => {
        beat().catch((err: Error) => {
          // The database blinking must not stop the process; the host shows offline until a beat lands.
          if (Date.now() - this.lastHeartbeatError > 10_000) {
            this.lastHeartbeatError = Date.now();
            this.logger.warn(`Heartbeat of host ${this.name} failed: ${err.message}`);
          }
        });
      },
      this.config.get('HOST_HEARTBEAT_SECONDS', { infer: true }) * 1000,
    );
    this.heartbeat.unref();
  }

  beforeApplicationShutdown(): void {
    // Other processes may serve this host: stop beating, never mark it offline ourselves.
    clearInterval(this.heartbeat);
  }
}
