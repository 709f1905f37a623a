import { DynamicModule, Module } from '@nestjs/common';
import type { Env } from '../../config/env.validation';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CreditsModule } from '../credits/credits.module';
import { EventsModule } from '../events/events.module';
import { HostsModule } from '../hosts/hosts.module';
import { VmsModule } from '../vms/vms.module';
import { Metric } from './entities/metric.entity';
import { HttpMetricsHook } from './http-metrics.hook';
import { MetricsController } from './metrics.controller';
import { MetricsJobs } from './metrics.jobs';
import { MetricsService } from './metrics.service';
import { ServiceMetricsController } from './service-metrics.controller';
import { ServiceMetrics } from './service-metrics.service';

/**
 * VM metrics (agent ingestion, downsampled series, the collector and retention jobs) and service
 * metrics for operators (GET /metrics, Prometheus text format, on the METRICS_PORT listener).
 */
@Module({
  imports: [TypeOrmModule.forFeature([Metric]), VmsModule, CreditsModule, EventsModule, HostsModule],
  controllers: [MetricsController],
  providers: [MetricsService, MetricsJobs, ServiceMetrics, HttpMetricsHook],
  exports: [MetricsService, ServiceMetrics],
})
export class MetricsModule {
  /** With METRICS_ON_API=admin, GET /metrics on the API port too, for admins only. */
  static forRoot(env: Pick<Env, 'METRICS_ENABLED' | 'METRICS_ON_API'>): DynamicModule {
    return { module: MetricsModule, controllers: env.METRICS_ENABLED && env.METRICS_ON_API === 'admin' ? [ServiceMetricsController] : [] };
  }
}
