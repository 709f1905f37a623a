import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Event } from './entities/event.entity';
import { EventStreamService } from './event-stream.service';
import { EventsRepository } from './events.repository';
import { EventsService } from './events.service';

@Module({
  imports: [TypeOrmModule.forFeature([Event])],
  providers: [EventsRepository, EventsService, EventStreamService],
  exports: [EventsRepository, EventsService, EventStreamService],
})
export class EventsModule {}
