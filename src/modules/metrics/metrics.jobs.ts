import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { mapLimit } from '../../common/map-limit';
import type { Env } from '../../config/env.validation';
import { hostQueue } from '../../queue/host';
import { HostsService } from '../hosts/hosts.service';
import { QueueService } from '../../queue/queue.service';
import { toVmTarget, type Vm } from '../vms/entities/vm.entity';
import { VM_PROVIDER, type VmProvider, type VmStats } from '../vms/providers/vm-provider.interface';
import { VmsService } from '../vms/vms.service';
import { KNOWN_METRICS, type KnownMetric } from './metric-rules';
import type { MetricRow } from './metrics.repository';
import { MetricsService } from './metrics.service';

/** Each host samples its own VMs (a Vagrant machine is reachable only from its host). */
export const METRICS_COLLECT_QUEUE = 'metrics-collect';
export const METRICS_PRUNE_QUEUE = 'metrics-prune';

/** Provider calls in flight at once while sampling (vagrant ssh is a process each). */
const SAMPLE_CONCURRENCY = 8;

/**
 * The scheduled metric jobs: sampling every running VM through `VmProvider.stats()`, and deleting
 * points past the retention. pg-boss schedules make one run per interval (per host for sampling)
 * however many workers there are; tests and operators call `collect()` / `prune()` directly.
 */
@Injectable()
export class MetricsJobs implements OnApplicationBootstrap {
  private readonly logger = new Logger(MetricsJobs.name);

  constructor(
    private readonly metrics: MetricsService,
    private readonly vms: VmsService,
    private readonly queue: QueueService,
    private readonly config: ConfigService<Env, true>,
    @Inject(VM_PROVIDER) private readonly provider: VmProvider,
    private readonly hosts: HostsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.periodic(
      hostQueue(METRICS_COLLECT_QUEUE, this.hosts.name),
      this.config.get('METRICS_COLLECT_MINUTES', { infer: true }),
      () => this.collect(),
    );
    await this.queue.periodic(METRICS_PRUNE_QUEUE, this.config.get('METRICS_PRUNE_MINUTES', { infer: true }), () => this.prune());
  }

  /** One sample of each running VM on this host; a VM whose stats fail is skipped (and logged). */
  async collect(): Promise<{ sampled: number; failed: number }> {
    const vms = await this.vms.listRunningOnHost(this.hosts.name);
    const samples = await mapLimit(vms, SAMPLE_CONCURRENCY, async (vm): Promise<{ vm: Vm; at: Date; stats: VmStats } | null> => {
      try {
        const stats = await this.provider.stats(toVmTarget(vm));
        return { vm, at: new Date(), stats };
      } catch (err) {
        this.logger.warn(`No stats for VM ${vm.id}: ${(err as Error).message}`);
        return null;
      }
    });
    const rows: MetricRow[] = [];
    for (const s of samples) {
      if (!s) continue;
      for (const name of Object.keys(KNOWN_METRICS) as KnownMetric[]) {
        const value = s.stats[name];
        if (Number.isFinite(value)) rows.push({ vmId: s.vm.id, name, value, unit: KNOWN_METRICS[name].unit, recordedAt: s.at });
      }
    }
    await this.metrics.insertSamples(rows);
    const sampled = samples.filter(Boolean).length;
    this.logger.debug(`Sampled ${sampled} of ${vms.length} running VMs on ${this.hosts.name}`);
    return { sampled, failed: vms.length - sampled };
  }

  async prune(): Promise<number> {
    const deleted = await this.metrics.prune();
    if (deleted)
      this.logger.log(
        `Deleted ${deleted} metric points past the ${this.config.get('METRICS_RETENTION_DAYS', { infer: true })}-day retention`,
      );
    return deleted;
  }
}
