import { Module } from '@nestjs/common';
import { VmsModule } from '../vms/vms.module';
import { ApiIndexController } from './api-index.controller';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';

@Module({
  imports: [VmsModule],
  controllers: [ApiIndexController, HealthController],
  providers: [HealthService],
})
export class HealthHttpModule {}
