import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { PeriodicRun } from './entities/periodic-run.entity';
import { PeriodicRunsRepository } from './periodic-runs.repository';
import { PeriodicService } from './periodic.service';
import { QueueService } from './queue.service';

/** The job queue (pg-boss) and periodic work (claimed runs), for every module. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([PeriodicRun])],
  providers: [QueueService, PeriodicRunsRepository, PeriodicService],
  exports: [QueueService, PeriodicService],
})
export class QueueModule {}
