import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export const EVENT_TYPES = ['vm', 'system', 'admin', 'auth'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const EVENT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type EventSeverity = (typeof EVENT_SEVERITIES)[number];

@Entity('events')
@Index('events_user_created_idx', ['userId', 'createdAt', 'id'])
@Index('events_vm_created_idx', ['vmId', 'createdAt', 'id'])
@Index('events_created_idx', ['createdAt', 'id'])
export class Event {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 16 })
  type: EventType;

  /** Dotted name from the typed map in events.types.ts, e.g. `vm.create`. */
  @Column({ type: 'varchar', length: 64 })
  action: string;

  @Column({ type: 'varchar', length: 16, default: 'info' })
  severity: EventSeverity;

  @Column({ type: 'text' })
  message: string;

  /** `any` values so TypeORM's partial types (insert) accept it, as for Vm.metadata. */
  @Column({ type: 'jsonb' })
  details: Record<string, any>;

  @Column({ name: 'user_id', type: 'uuid', nullable: true })
  userId: string | null;

  @Column({ name: 'vm_id', type: 'uuid', nullable: true })
  vmId: string | null;

  @Column({ name: 'actor_id', type: 'uuid', nullable: true })
  actorId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
