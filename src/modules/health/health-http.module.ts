import { Module } from '@nestjs/common';
import { HostsModule } from '../hosts/hosts.module';
import { VmsModule } from '../vms/vms.module';
import { ApiIndexController } from './api-index.controller';
import { AdminHealthController, HealthController } from './health.controller';
import { HealthService } from './health.service';

@Module({
  imports: [VmsModule, HostsModule],
  controllers: [ApiIndexController, HealthController, AdminHealthController],
  providers: [HealthService],
})
export class HealthHttpModule {}
