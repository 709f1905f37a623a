import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';
import type { Env } from '../../config/env.validation';
import type { AuthUser } from '../../common/auth';
import { VmsService } from '../vms/vms.service';
import { MetricBatchDto, MetricIngestResponseDto, MetricSeriesQueryDto, MetricSeriesResponseDto } from './dto/metric.dto';
import { checkPoint, chooseStep } from './metric-rules';
import { insertMetricRows, MetricRow, querySeries } from './metrics.queries';
import { METRIC_ERRORS } from './metrics.errors';

/** Rows deleted per statement by the retention job: short transactions, no long lock on the table. */
const PRUNE_BATCH = 10_000;
const DEFAULT_RANGE_MS = 24 * 3600 * 1000;

@Injectable()
export class MetricsService {
  constructor(
    private readonly dataSource: DataSource,
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
    await insertMetricRows(this.dataSource, rows);
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
    const [points, unitRows] = await Promise.all([
      querySeries(this.dataSource, { vmId, name: query.name, from, to, step }),
      this.dataSource.query(
        `SELECT unit FROM metrics WHERE vm_id = $1 AND name = $2 AND recorded_at >= $3 AND recorded_at < $4
          ORDER BY recorded_at DESC LIMIT 1`,
        [vmId, query.name, from, to],
      ) as Promise<{ unit: string | null }[]>,
    ]);
    return { vm_id: vmId, name: query.name, unit: unitRows[0]?.unit ?? null, from, to, step, points };
  }

  /** Samples from the collector, trusted (they come from the provider). */
  insertSamples(rows: MetricRow[]): Promise<void> {
    return insertMetricRows(this.dataSource, rows);
  }

  /** Deletes points older than the retention, in batches; returns how many. */
  async prune(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.config.get('METRICS_RETENTION_DAYS', { infer: true }) * 86_400_000);
    let total = 0;
    for (;;) {
      const [, deleted] = (await this.dataSource.query(
        `DELETE FROM metrics WHERE id IN (SELECT id FROM metrics WHERE recorded_at < $1 LIMIT ${PRUNE_BATCH})`,
        [cutoff],
      )) as [unknown, number];
      total += deleted;
      if (deleted < PRUNE_BATCH) return total;
    }
  }
}
