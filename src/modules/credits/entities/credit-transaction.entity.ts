import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { User } from '../../users/entities/user.entity';

export const CREDIT_KINDS = ['signup_grant', 'vm_create', 'admin_adjustment', 'refund', 'vm_resize', 'snapshot_create'] as const;
export type CreditKind = (typeof CREDIT_KINDS)[number];
/** What a user buys: short of credits, these answer 402 credits.insufficient, naming what was bought. */
export const PURCHASES: Partial<Record<CreditKind, string>> = {
  vm_create: 'This VM',
  vm_resize: 'This resize',
  snapshot_create: 'This snapshot',
};

/** Append-only ledger: a user's balance equals the sum of their rows' amounts. */
@Entity('credit_transactions')
@Index('credit_transactions_user_created_idx', ['userId', 'createdAt', 'id'])
export class CreditTransaction {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  /** Signed: negative for debits. */
  @Column({ type: 'integer' })
  amount: number;

  @Column({ name: 'balance_after', type: 'integer' })
  balanceAfter: number;

  @Column({ type: 'varchar', length: 32 })
  kind: CreditKind;

  @Column({ type: 'varchar', length: 500, nullable: true })
  reason: string | null;

  @Column({ name: 'vm_id', type: 'uuid', nullable: true })
  vmId: string | null;

  @Column({ name: 'actor_id', type: 'uuid', nullable: true })
  actorId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
