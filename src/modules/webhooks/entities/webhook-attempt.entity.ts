import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { WebhookDelivery } from './webhook-delivery.entity';

/** One HTTP attempt of a delivery: what the receiver answered, or why there was no answer. */
@Entity('webhook_attempts')
@Index('webhook_attempts_delivery_attempt_key', ['deliveryId', 'attempt'], { unique: true })
export class WebhookAttempt {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'delivery_id', type: 'uuid' })
  deliveryId: string;

  @ManyToOne(() => WebhookDelivery, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'delivery_id' })
  delivery?: WebhookDelivery;

  /** 1 for the first attempt. */
  @Column({ type: 'integer' })
  attempt: number;

  /** The receiver's HTTP status; null when there was none (refused address, timeout, connection error). */
  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode: number | null;

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs: number;

  /** Why the attempt failed; null when it succeeded. */
  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** When the next attempt is due; null when there is none (delivered, or given up). */
  @Column({ name: 'next_attempt_at', type: 'timestamptz', precision: 3, nullable: true })
  nextAttemptAt: Date | null;

  @CreateDateColumn({ name: 'attempted_at', type: 'timestamptz', precision: 3 })
  attemptedAt: Date;
}
