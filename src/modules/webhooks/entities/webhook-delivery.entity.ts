import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Event } from '../../events/entities/event.entity';
import { WebhookEndpoint } from './webhook-endpoint.entity';

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * The outbox: one row per (event, endpoint), inserted by the events table's trigger in the
 * transaction that records the event (migration Webhooks1796000000000), then handed to the queue.
 */
@Entity('webhook_deliveries')
@Index('webhook_deliveries_endpoint_event_key', ['endpointId', 'eventId'], { unique: true })
@Index('webhook_deliveries_endpoint_created_idx', ['endpointId', 'createdAt', 'id'])
@Index('webhook_deliveries_event_idx', ['eventId'])
// Partial (status = 'pending' AND NOT queued): what the dispatcher has yet to enqueue.
@Index('webhook_deliveries_unqueued_idx', { synchronize: false })
export class WebhookDelivery {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'endpoint_id', type: 'uuid' })
  endpointId: string;

  @ManyToOne(() => WebhookEndpoint, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'endpoint_id' })
  endpoint?: WebhookEndpoint;

  @Column({ name: 'event_id', type: 'uuid' })
  eventId: string;

  @ManyToOne(() => Event, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'event_id' })
  event?: Event;

  /** The event's action, e.g. `vm.provisioned` (the payload's `type`). */
  @Column({ name: 'event_type', type: 'varchar', length: 64 })
  eventType: string;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: DeliveryStatus;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** Whether a job for the next attempt is in the queue (the dispatcher sends one for each row that has none). */
  @Column({ type: 'boolean', default: false })
  queued: boolean;

  /** Retries go on until this + WEBHOOKS_RETRY_WINDOW_SECONDS (a manual retry starts a new window). */
  @Column({ name: 'window_started_at', type: 'timestamptz', precision: 3, default: () => 'now()' })
  windowStartedAt: Date;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', precision: 3, nullable: true })
  nextAttemptAt: Date | null;

  @Column({ name: 'delivered_at', type: 'timestamptz', precision: 3, nullable: true })
  deliveredAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
