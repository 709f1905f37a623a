import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { UserRole } from '../../../common/auth';

@Entity('users')
@Check('users_credits_non_negative', '"credits" >= 0')
@Check('users_credits_max', '"credits" <= 1000000000')
@Index('users_email_lower_key', { synchronize: false })
@Index('users_email_trgm_idx', { synchronize: false })
@Index('users_username_trgm_idx', { synchronize: false })
@Index('users_created_idx', ['createdAt', 'id'])
export class User {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 32, unique: true })
  username: string;

  /** Stored as given; uniqueness is on lower(email) (index users_email_lower_key). */
  @Column({ type: 'varchar', length: 254 })
  email: string;

  @Column({ name: 'password_hash', type: 'varchar', length: 255, select: false })
  passwordHash: string;

  @Column({ type: 'varchar', length: 16, default: 'user' })
  role: UserRole;

  @Column({ type: 'integer', default: 0 })
  credits: number;

  @Column({ name: 'is_active', type: 'boolean', default: true })
  isActive: boolean;

  /** Per-user overrides of the QUOTA_* defaults (null = the default). */
  @Column({ name: 'quota_max_vms', type: 'integer', nullable: true })
  quotaMaxVms: number | null;

  @Column({ name: 'quota_max_cpu_cores', type: 'integer', nullable: true })
  quotaMaxCpuCores: number | null;

  @Column({ name: 'quota_max_ram_mb', type: 'integer', nullable: true })
  quotaMaxRamMb: number | null;

  /**
   * In every token (`ver`): tokens of an older version no longer grant access. Raised by a password
   * change, an admin "sign out everywhere", and by a trigger whenever password_hash changes.
   */
  @Column({ name: 'token_version', type: 'integer', default: 0, select: false })
  tokenVersion: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
