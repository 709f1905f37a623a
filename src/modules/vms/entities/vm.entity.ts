import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { SshKeySnapshot } from '../../ssh-keys/ssh-keys.service';
import { User } from '../../users/entities/user.entity';
import type { VmTarget } from '../providers/vm-provider.interface';
import type { VmPendingOperation, VmStatus } from '../vm-state';

/** How a VM's first-boot user data went: `none` (no script), `pending` (first boot not reported yet), then `succeeded` (exit 0) or `failed`. */
export const USER_DATA_STATUSES = ['none', 'pending', 'succeeded', 'failed'] as const;
export type UserDataStatus = (typeof USER_DATA_STATUSES)[number];

@Entity('vms')
@Check('vms_pending_operation_check', `"pending_operation" IN ('snapshot_create', 'snapshot_delete')`)
@Check('vms_user_data_status_check', `"user_data_status" IN ('none', 'pending', 'succeeded', 'failed')`)
@Index('vms_user_name_active_key', ['userId', 'name'], { unique: true, where: `status <> 'destroyed'` })
@Index('vms_user_created_idx', ['userId', 'createdAt', 'id'])
@Index('vms_created_idx', ['createdAt', 'id'])
@Index('vms_status_idx', ['status'])
// A host's VMs by status: each host's reconcile and sampling pass (VmsRepository.byHost).
@Index('vms_host_status_idx', ['host', 'status'])
// Placement's sum of what each host holds: ("host") INCLUDE ("cpu_cores", "ram_mb", "disk_gb") WHERE the VM
// holds resources (migration Hosts). TypeORM cannot declare INCLUDE, so it is declared here and left to the migration.
@Index('vms_host_allocated_idx', { synchronize: false })
export class Vm {
  /** Assigned by the service before insert, so the ledger row and the job can name it in the same transaction. */
  @PrimaryColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  @Column({ type: 'varchar', length: 63 })
  name: string;

  @Column({ name: 'os_type', type: 'varchar', length: 32 })
  osType: string;

  @Column({ name: 'ram_mb', type: 'integer' })
  ramMb: number;

  @Column({ name: 'disk_gb', type: 'integer' })
  diskGb: number;

  @Column({ name: 'cpu_cores', type: 'integer' })
  cpuCores: number;

  @Column({ type: 'varchar', length: 16 })
  status: VmStatus;

  @Column({ name: 'ip_address', type: 'varchar', length: 45, nullable: true })
  ipAddress: string | null;

  @Column({ name: 'ssh_port', type: 'integer', nullable: true })
  sshPort: number | null;

  /** Running time accumulated over finished runs; the current run is added on read. */
  @Column({ name: 'uptime_seconds', type: 'integer', default: 0 })
  uptimeSeconds: number;

  @Column({ name: 'last_started_at', type: 'timestamptz', precision: 3, nullable: true })
  lastStartedAt: Date | null;

  @Column({ type: 'integer' })
  cost: number;

  /** Hypervisor host it is placed on (HOST_NAME of its workers); null only for VMs from before hosts that never came up. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  host: string | null;

  /** Free-form JSON object (validated on input); `any` values so TypeORM's partial types accept it. */
  @Column({ type: 'jsonb' })
  metadata: Record<string, any>;

  /** The SSH keys chosen at create, copied (deleting a key later changes no VM); what the guest gets on first boot. */
  @Column({ name: 'ssh_keys', type: 'jsonb', default: () => "'[]'" })
  sshKeys: SshKeySnapshot[];

  /** The guest account the keys are installed for: VM_SSH_USER when the VM was created. */
  @Column({ name: 'ssh_user', type: 'varchar', length: 32, default: 'vmuser' })
  sshUser: string;

  /** The first-boot script (user data): read only by the worker that boots the VM, never answered or logged. */
  @Column({ name: 'user_data', type: 'text', nullable: true, select: false })
  userData?: string | null;

  /** Its size in bytes (UTF-8), null without user data. */
  @Column({ name: 'user_data_size', type: 'integer', nullable: true })
  userDataSize: number | null;

  @Column({ name: 'user_data_status', type: 'varchar', length: 16, default: 'none' })
  userDataStatus: UserDataStatus;

  /** When the status last changed: transitional states older than a deadline are stuck. */
  @Column({ name: 'status_changed_at', type: 'timestamptz', precision: 3 })
  statusChangedAt: Date;

  /** Operation lease: the job running a provider operation on this VM, so only one runs at a time. */
  @Column({ name: 'locked_by', type: 'uuid', nullable: true, select: false })
  lockedBy?: string | null;

  @Column({ name: 'locked_until', type: 'timestamptz', precision: 3, nullable: true, select: false })
  lockedUntil?: Date | null;

  /** A snapshot being taken or deleted (the VM's status does not change meanwhile); null when none. */
  @Column({ name: 'pending_operation', type: 'varchar', length: 16, nullable: true })
  pendingOperation: VmPendingOperation | null;

  /** Set when a failed VM's machine is known to be gone: it no longer counts against its host. */
  @Column({ name: 'released_at', type: 'timestamptz', precision: 3, nullable: true, select: false })
  releasedAt?: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;

  @Column({ name: 'destroyed_at', type: 'timestamptz', precision: 3, nullable: true })
  destroyedAt: Date | null;
}

/** What a provider needs to know about a VM. */
export function toVmTarget(vm: Vm): VmTarget {
  return {
    id: vm.id,
    name: vm.name,
    osType: vm.osType,
    ramMb: vm.ramMb,
    diskGb: vm.diskGb,
    cpuCores: vm.cpuCores,
    sshUser: vm.sshUser,
    sshPublicKeys: vm.sshKeys.map((k) => k.public_key),
  };
}
