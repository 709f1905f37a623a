import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Env } from '../../config/env.validation';
import { CreditsModule } from '../credits/credits.module';
import { EventsModule } from '../events/events.module';
import { HostsModule } from '../hosts/hosts.module';
import { VmsModule } from '../vms/vms.module';
import { Metric } from './entities/metric.entity';
import { HttpMetricsMiddleware } from './http-metrics.middleware';
import { MetricsController } from './metrics.controller';
import { MetricsJobs } from './metrics.jobs';
import { MetricsService } from './metrics.service';
import { ServiceMetricsController } from './service-metrics.controller';
import { ServiceMetrics } from './service-metrics.service';

/**
 * VM metrics (agent ingestion, downsampled series, the collector and retention jobs) and service
 * metrics for operators (GET /metrics, Prometheus text format).
 */
@Module({
  imports: [TypeOrmModule.forFeature([Metric]), VmsModule, CreditsModule, EventsModule, HostsModule],
  controllers: [MetricsController, ServiceMetricsController],
  providers: [MetricsService, MetricsJobs, ServiceMetrics],
  exports: [MetricsService, ServiceMetrics],
})
export class MetricsModule implements NestModule {
  constructor(private readonly config: ConfigService<Env, true>) {}

  configure(consumer: MiddlewareConsumer): void {
    // Every request under the /api prefix (matched or not), and /metrics itself.
    if (this.config.get('METRICS_ENABLED', { infer: true })) consumer.apply(HttpMetricsMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
