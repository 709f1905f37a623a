import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { WebhookAttempt } from './entities/webhook-attempt.entity';
import { WebhookDelivery } from './entities/webhook-delivery.entity';
import { WebhookEndpoint } from './entities/webhook-endpoint.entity';
import { WebhooksRepository } from './webhooks.repository';
import { WebhooksService } from './webhooks.service';
import { WebhooksWorker } from './webhooks.worker';

/** Endpoints and deliveries; the worker sends them where WORKER=true (API with WORKER, and WorkerModule). */
@Module({
  imports: [TypeOrmModule.forFeature([WebhookEndpoint, WebhookDelivery, WebhookAttempt]), EventsModule],
  providers: [WebhooksRepository, WebhooksService, WebhooksWorker],
  exports: [WebhooksService],
})
export class WebhooksModule {}
