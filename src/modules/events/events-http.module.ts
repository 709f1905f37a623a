import { Module } from '@nestjs/common';
import { AdminEventStreamController } from './admin-event-stream.controller';
import { EventsController } from './events.controller';
import { EventsModule } from './events.module';

/** Events's routes on top of its service module (ApiModule only; the worker imports EventsModule). */
@Module({ imports: [EventsModule], controllers: [EventsController, AdminEventStreamController] })
export class EventsHttpModule {}
