import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VmsModule } from '../vms/vms.module';
import { Metric } from './entities/metric.entity';
import { MetricsController } from './metrics.controller';
import { MetricsJobs } from './metrics.jobs';
import { MetricsService } from './metrics.service';

/** VM metrics: agent ingestion, downsampled series, the collector and retention jobs. */
@Module({
  imports: [TypeOrmModule.forFeature([Metric]), VmsModule],
  controllers: [MetricsController],
  providers: [MetricsService, MetricsJobs],
  exports: [MetricsService],
})
export class MetricsModule {}
