import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CreditsModule } from '../credits/credits.module';
import { EventsModule } from '../events/events.module';
import { HostsModule } from '../hosts/hosts.module';
import { VmsModule } from '../vms/vms.module';
import { Metric } from './entities/metric.entity';
import { MetricsJobs } from './metrics.jobs';
import { MetricsRepository } from './metrics.repository';
import { MetricsService } from './metrics.service';
import { ServiceMetrics } from './service-metrics.service';

/**
 * VM metrics (agent ingestion, downsampled series, the collector and retention jobs) and service
 * metrics for operators (GET /metrics, Prometheus text format, on the METRICS_PORT listener, which
 * every process has, the worker too). Routes: MetricsHttpModule.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Metric]), VmsModule, CreditsModule, EventsModule, HostsModule],
  providers: [MetricsRepository, MetricsService, MetricsJobs, ServiceMetrics],
  exports: [MetricsService, ServiceMetrics],
})
export class MetricsModule {}
