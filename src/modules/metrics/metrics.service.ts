import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../../config/env.validation';
import type { AuthUser } from '../../common/auth';
import { VmsService } from '../vms/vms.service';
import { MetricBatchDto, MetricIngestResponseDto, MetricSeriesQueryDto, MetricSeriesResponseDto } from './dto/metric.dto';
import { expiredPartitions, MetricPartition, timesAhead } from './metric-partitions';
import { checkPoint, chooseStep } from './metric-rules';
import { MetricRow, MetricsRepository } from './metrics.repository';
import { METRIC_ERRORS } from './metrics.errors';

const DEFAULT_RANGE_MS = 24 * 3600 * 1000;

@Injectable()
export class MetricsService {
  constructor(
    private readonly repo: MetricsRepository,
    private readonly vms: VmsService,
    private readonly config: ConfigService<Env, true>,
  ) {}

  /**
   * Stores an agent's batch for a VM its caller owns (or any, for an admin). All or nothing: one bad
   * point rejects the batch with every problem listed, so an agent can fix and resend it whole.
   */
  async ingest(caller: AuthUser, vmId: string, batch: MetricBatchDto): Promise<MetricIngestResponseDto> {
    const vm = await this.vms.getFor(caller, vmId);
    if (vm.status === 'destroyed') {
      throw METRIC_ERRORS.error('metrics.vm_destroyed', 'The VM is destroyed; it takes no more metrics');
    }
    const rules = {
      now: Date.now(),
      maxFutureSeconds: this.config.get('METRICS_MAX_FUTURE_SECONDS', { infer: true }),
      retentionDays: this.config.get('METRICS_RETENTION_DAYS', { infer: true }),
    };
    const rows: MetricRow[] = [];
    const errors: { field: string; messages: string[] }[] = [];
    batch.points.forEach((p, i) => {
      const checked = checkPoint(p, rules);
      if ('point' in checked) rows.push({ vmId, ...checked.point });
      else for (const problem of checked.problems) errors.push({ field: `points.${i}.${problem.field}`, messages: [problem.message] });
    });
    if (errors.length) {
      throw METRIC_ERRORS.error(
        'metrics.invalid_points',
        errors
          .map((e) => `${e.field}: ${e.messages.join('; ')}`)
          .slice(0, 10)
          .join('; '),
        {
          errors,
        },
      );
    }
    await this.repo.insert(rows, this.partitionHours());
    return { accepted: rows.length };
  }

  /** A series for a VM the caller owns (or any, for an admin), at most MAX_SERIES_POINTS buckets. */
  async series(caller: AuthUser, vmId: string, query: MetricSeriesQueryDto): Promise<MetricSeriesResponseDto> {
    await this.vms.getFor(caller, vmId);
    const to = query.to ? new Date(query.to) : new Date();
    const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_RANGE_MS);
    if (!(from.getTime() < to.getTime())) {
      throw METRIC_ERRORS.error('metrics.invalid_range', '`from` must be before `to`');
    }
    const step = chooseStep((to.getTime() - from.getTime()) / 1000, query.step);
    const [points, unit] = await Promise.all([
      this.repo.series({ vmId, name: query.name, from, to, step }),
      this.repo.latestUnit({ vmId, name: query.name, from, to }),
    ]);
    return { vm_id: vmId, name: query.name, unit, from, to, step, points };
  }

  /** Samples from the collector, trusted (they come from the provider). */
  insertSamples(rows: MetricRow[]): Promise<void> {
    return this.repo.insert(rows, this.partitionHours());
  }

  /** Makes the partitions from now's to PARTITIONS_AHEAD_HOURS ahead that are missing; their names. */
  ensurePartitions(now = new Date()): Promise<string[]> {
    return this.repo.createPartitions(timesAhead(now, this.partitionHours()), this.partitionHours());
  }

  /**
   * Retention: drops every partition whose points are all older than METRICS_RETENTION_DAYS (so a
   * point is kept at least that long and at most one partition width longer), after making the
   * partitions ahead. Returns what it made and dropped.
   */
  async prune(now = new Date()): Promise<{ created: string[]; dropped: MetricPartition[] }> {
    const created = await this.ensurePartitions(now);
    const cutoff = new Date(now.getTime() - this.config.get('METRICS_RETENTION_DAYS', { infer: true }) * 86_400_000);
    const dropped: MetricPartition[] = [];
    for (const partition of expiredPartitions(await this.repo.partitions(), cutoff)) {
      if (await this.repo.dropPartition(partition.name)) dropped.push(partition);
    }
    return { created, dropped };
  }

  private partitionHours(): number {
    return this.config.get('METRICS_PARTITION_HOURS', { infer: true });
  }
}
