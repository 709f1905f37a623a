import { Module } from '@nestjs/common';
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
 * metrics for operators (GET /metrics, Prometheus text format).
 */
@Module({
  imports: [TypeOrmModule.forFeature([Metric]), VmsModule, CreditsModule, EventsModule, HostsModule],
  controllers: [MetricsController, ServiceMetricsController],
  providers: [MetricsService, MetricsJobs, ServiceMetrics, HttpMetricsHook],
  exports: [MetricsService, ServiceMetrics],
})
export class MetricsModule {}
