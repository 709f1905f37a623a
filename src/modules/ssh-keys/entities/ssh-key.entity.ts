import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { User } from '../../users/entities/user.entity';
import type { SshKeyType } from '../ssh-key-parser';

/** A user's SSH public key, installed in the guests of the VMs it is chosen for (see Vm.sshKeys). */
@Entity('ssh_keys')
@Index('ssh_keys_user_name_key', ['userId', 'name'], { unique: true })
@Index('ssh_keys_user_fingerprint_key', ['userId', 'fingerprint'], { unique: true })
@Index('ssh_keys_user_created_idx', ['userId', 'createdAt', 'id'])
export class SshKey {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  @Column({ type: 'varchar', length: 64 })
  name: string;

  /** OpenSSH type name, e.g. `ssh-ed25519`. */
  @Column({ type: 'varchar', length: 32 })
  type: SshKeyType;

  @Column({ type: 'integer' })
  bits: number;

  /** `SHA256:...` as `ssh-keygen -lf` prints it; one key per user. */
  @Column({ type: 'varchar', length: 64 })
  fingerprint: string;

  /** The normalized one-line public key (type, base64, optional comment). */
  @Column({ name: 'public_key', type: 'text' })
  publicKey: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
