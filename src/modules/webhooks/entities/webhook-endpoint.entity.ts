import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { User } from '../../users/entities/user.entity';

export const WEBHOOK_SCOPES = ['own', 'all'] as const;
/** `own`: the owner's events (their feed); `all`: every event (the admin feed; admins only). */
export type WebhookScope = (typeof WEBHOOK_SCOPES)[number];

/** Where a user's events are POSTed, signed with the endpoint's secret (Standard Webhooks). */
@Entity('webhook_endpoints')
@Index('webhook_endpoints_user_created_idx', ['userId', 'createdAt', 'id'])
export class WebhookEndpoint {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  @Column({ type: 'text' })
  url: string;

  /** Event actions (`vm.create`), prefixes (`vm.*`) or `*`; see event-patterns.ts. */
  @Column({ type: 'varchar', length: 64, array: true })
  events: string[];

  @Column({ type: 'varchar', length: 8, default: 'own' })
  scope: WebhookScope;

  @Column({ type: 'varchar', length: 200, nullable: true })
  description: string | null;

  /**
   * `whsec_<base64>`: kept as is because every delivery is signed with it (HMAC needs the key itself);
   * shown once at creation, never returned, logged or put in an event afterwards.
   */
  @Column({ type: 'varchar', length: 100, select: false })
  secret: string;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /**
   * Since when events have been waiting undelivered: the oldest failing delivery's event, or the last
   * success if later. Null while deliveries succeed. Failing longer than the retry window disables the endpoint.
   */
  @Column({ name: 'failing_since', type: 'timestamptz', precision: 3, nullable: true })
  failingSince: Date | null;

  @Column({ name: 'last_delivered_at', type: 'timestamptz', precision: 3, nullable: true })
  lastDeliveredAt: Date | null;

  @Column({ name: 'disabled_at', type: 'timestamptz', precision: 3, nullable: true })
  disabledAt: Date | null;

  @Column({ name: 'disabled_reason', type: 'text', nullable: true })
  disabledReason: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
