import { Column, Entity, Index, ManyToOne, JoinColumn, PrimaryColumn } from 'typeorm';
import { User } from './user.entity';

/**
 * A token ended by logout before its expiry, kept until then (pruned on later logouts). Read only as
 * part of a user's identity (UsersService.findActiveIdentity), so checking it costs nothing per request.
 */
@Entity('revoked_tokens')
export class RevokedToken {
  /** The token's `jti` claim. */
  @PrimaryColumn({ type: 'varchar', length: 64, primaryKeyConstraintName: 'PK_revoked_tokens_jti' })
  jti: string;

  @Index('revoked_tokens_user_idx')
  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'FK_revoked_tokens_user' })
  user?: User;

  @Index('revoked_tokens_expires_idx')
  @Column({ name: 'expires_at', type: 'timestamptz', precision: 3 })
  expiresAt: Date;
}
