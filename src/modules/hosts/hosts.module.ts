import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { HostsService } from './hosts.service';

@Module({
  imports: [EventsModule],
  providers: [HostsService],
  exports: [HostsService],
})
export class HostsModule {}
