import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminEventStreamController } from './admin-event-stream.controller';
import { Event } from './entities/event.entity';
import { EventStreamService } from './event-stream.service';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

@Module({
  imports: [TypeOrmModule.forFeature([Event])],
  controllers: [EventsController, AdminEventStreamController],
  providers: [EventsService, EventStreamService],
  exports: [EventsService, EventStreamService],
})
export class EventsModule {}
