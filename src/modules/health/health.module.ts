import { Module } from '@nestjs/common';
import { VmsModule } from '../vms/vms.module';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';

@Module({
  imports: [VmsModule],
  controllers: [HealthController],
  providers: [HealthService],
})
export class HealthModule {}
