import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { HostHeartbeatService } from './host-heartbeat.service';
import { HostPlacementService } from './host-placement.service';
import { HostsRepository } from './hosts.repository';
import { HostsService } from './hosts.service';

@Module({
  imports: [EventsModule],
  providers: [HostsRepository, HostsService, HostHeartbeatService, HostPlacementService],
  exports: [HostsService, HostHeartbeatService, HostPlacementService],
})
export class HostsModule {}
