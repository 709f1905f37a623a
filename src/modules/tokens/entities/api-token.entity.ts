import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '../../users/entities/user.entity';

/**
 * A personal access token: its scopes and lifetime, and the SHA-256 of its secret (the secret itself
 * is shown once, at creation, and stored nowhere). Revoking deletes the row. A trigger NOTIFYs the
 * user's id on every insert, delete and change of scopes or expiry (migration ApiTokens), so each API
 * process drops its cached identity of the user and re-checks their open event streams.
 */
@Entity('api_tokens')
@Index('api_tokens_user_created_idx', ['userId', 'createdAt', 'id'])
export class ApiToken {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'PK_api_tokens_id' })
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'FK_api_tokens_user' })
  user?: User;

  @Column({ type: 'varchar', length: 64 })
  name: string;

  /** SHA-256 of the secret, hex. */
  @Index('api_tokens_hash_key', { unique: true })
  @Column({ name: 'token_hash', type: 'char', length: 64, select: false })
  tokenHash: string;

  @Column({ type: 'varchar', length: 32, array: true })
  scopes: string[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  /** Null: never expires. */
  @Column({ name: 'expires_at', type: 'timestamptz', precision: 3, nullable: true })
  expiresAt: Date | null;

  /** Written at most once a minute per token (TokensService.touch). */
  @Column({ name: 'last_used_at', type: 'timestamptz', precision: 3, nullable: true })
  lastUsedAt: Date | null;
}
