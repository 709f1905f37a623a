import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Event } from './entities/event.entity';
import { EventStreamService } from './event-stream.service';
import { EventsService } from './events.service';

@Module({
  imports: [TypeOrmModule.forFeature([Event])],
  providers: [EventsService, EventStreamService],
  exports: [EventsService, EventStreamService],
})
export class EventsModule {}
