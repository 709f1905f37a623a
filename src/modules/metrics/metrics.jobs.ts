import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../../config/env.validation';
import { hostQueue } from '../../queue/host';
import { HostsService } from '../hosts/hosts.service';
import { PeriodicService } from '../../queue/periodic.service';
import { toVmTarget } from '../vms/entities/vm.entity';
import { VM_PROVIDER, type VmProvider, type VmStats } from '../vms/providers/vm-provider.interface';
import { VmsService } from '../vms/vms.service';
import type { MetricPartition } from './metric-partitions';
import { KNOWN_METRICS, type KnownMetric } from './metric-rules';
import type { MetricRow } from './metrics.repository';
import { MetricsService } from './metrics.service';

/** Each host samples its own VMs (a Vagrant machine is reachable only from its host). */
export const METRICS_COLLECT_TASK = 'metrics-collect';
export const METRICS_PRUNE_TASK = 'metrics-prune';

/**
 * The scheduled metric jobs: sampling every running VM of this host through one `VmProvider.sample()`, and
 * dropping the partitions past the retention (making the next ones ahead). pg-boss schedules make one run per interval (per host for sampling)
 * however many workers there are; tests and operators call `collect()` / `prune()` directly.
 */
@Injectable()
export class MetricsJobs implements OnApplicationBootstrap {
  private readonly logger = new Logger(MetricsJobs.name);

  constructor(
    private readonly metrics: MetricsService,
    private readonly vms: VmsService,
    private readonly periodic: PeriodicService,
    private readonly config: ConfigService<Env, true>,
    @Inject(VM_PROVIDER) private readonly provider: VmProvider,
    private readonly hosts: HostsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Today's and the next partitions before the first sample (an insert would make a missing one too).
    await this.metrics.ensurePartitions().catch((err: unknown) => {
      this.logger.warn(`Metric partitions not made: ${(err as Error).message}`);
    });
    this.periodic.every(hostQueue(METRICS_COLLECT_TASK, this.hosts.name), this.config.get('METRICS_COLLECT_MINUTES', { infer: true }), () =>
      this.collect(),
    );
    this.periodic.every(METRICS_PRUNE_TASK, this.config.get('METRICS_PRUNE_MINUTES', { infer: true }), () => this.prune());
  }

  /**
   * One sample of each running VM on this host: ONE provider read of the host per pass (`sample`),
   * stored together; a VM the provider has no figures for is counted as failed.
   */
  async collect(): Promise<{ sampled: number; failed: number }> {
    const vms = await this.vms.listRunningOnHost(this.hosts.name);
    if (!vms.length) return { sampled: 0, failed: 0 };
    let samples: Map<string, VmStats>;
    try {
      samples = await this.provider.sample(vms.map(toVmTarget));
    } catch (err) {
      this.logger.warn(`No stats for this host's ${vms.length} running VMs: ${(err as Error).message}`);
      return { sampled: 0, failed: vms.length };
    }
    const at = new Date();
    const rows: MetricRow[] = [];
    for (const vm of vms) {
      const stats = samples.get(vm.id);
      if (!stats) continue;
      for (const name of Object.keys(KNOWN_METRICS) as KnownMetric[]) {
        const value = stats[name];
        if (value !== undefined && Number.isFinite(value))
          rows.push({ vmId: vm.id, name, value, unit: KNOWN_METRICS[name].unit, recordedAt: at });
      }
    }
    await this.metrics.insertSamples(rows);
    const sampled = vms.filter((vm) => samples.has(vm.id)).length;
    this.logger.debug(`Sampled ${sampled} of ${vms.length} running VMs on ${this.hosts.name}`);
    return { sampled, failed: vms.length - sampled };
  }

  /** Retention by whole partitions (MetricsService.prune), logged. */
  async prune(): Promise<{ created: string[]; dropped: MetricPartition[] }> {
    const result = await this.metrics.prune();
    const days = this.config.get('METRICS_RETENTION_DAYS', { infer: true });
    for (const p of result.dropped) {
      this.logger.log(
        `Dropped metric partition ${p.name} [${p.from.toISOString()}, ${p.to.toISOString()}), ~${p.estimatedRows ?? '?'} points, past the ${days}-day retention`,
      );
    }
    if (result.created.length) this.logger.log(`Made metric partitions ${result.created.join(', ')}`);
    return result;
  }
}
