import { ApiProperty } from '@nestjs/swagger';
import { USER_DATA_STATUSES, type UserDataStatus, type Vm } from '../entities/vm.entity';
import {
  allowedActions,
  VM_ACTIONS,
  VM_PENDING_OPERATIONS,
  VM_STATUSES,
  type VmAction,
  type VmPendingOperation,
  type VmStatus,
} from '../vm-state';

/** A key the VM was created with (as it was then: later changes to the key do not apply). */
export class VmSshKeyDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'laptop' })
  name: string;

  @ApiProperty({ example: 'SHA256:G3sjv3i/g8ZUtcGW4qzHACPT7XF7pcHD1wQsLNydsZ4' })
  fingerprint: string;
}

export class VmResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'demo-1' })
  name: string;

  @ApiProperty({ example: 'ubuntu-22.04' })
  os_type: string;

  @ApiProperty({ type: 'integer', example: 1024 })
  ram_mb: number;

  @ApiProperty({ type: 'integer', example: 20 })
  disk_gb: number;

  @ApiProperty({ type: 'integer', example: 2 })
  cpu_cores: number;

  @ApiProperty({ enum: VM_STATUSES, enumName: 'VmStatus' })
  status: VmStatus;

  @ApiProperty({ type: String, nullable: true, example: '192.168.121.10' })
  ip_address: string | null;

  @ApiProperty({ type: 'integer', nullable: true, example: 22 })
  ssh_port: number | null;

  /** The guest account to log in as; the VM's SSH keys are installed for it. */
  @ApiProperty({ example: 'vmuser' })
  ssh_user: string;

  /** The SSH keys installed for `ssh_user` on first boot (chosen with ssh_key_ids at create). */
  @ApiProperty({ type: [VmSshKeyDto] })
  ssh_keys: VmSshKeyDto[];

  /** How to log in, once the VM has an address (null before, and while stopped). */
  @ApiProperty({ type: String, nullable: true, example: 'ssh -p 22 vmuser@192.168.121.10' })
  ssh_command: string | null;

  /** Total running time in seconds, including the current run. */
  @ApiProperty({ type: 'integer', example: 3600 })
  uptime_seconds: number;

  /**
   * How the first-boot user data went: `none` (created without), `pending` (the first boot has not
   * reported yet), `succeeded` (exit code 0) or `failed` (see the event vm.user_data_finished).
   */
  @ApiProperty({ enum: USER_DATA_STATUSES, enumName: 'UserDataStatus' })
  user_data_status: UserDataStatus;

  /** The size of the user data in bytes, null without; the script itself is never answered. */
  @ApiProperty({ type: 'integer', nullable: true, example: 512 })
  user_data_size: number | null;

  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata: Record<string, unknown>;

  /**
   * The price of the VM at its current size by the create formula: charged at creation (not refunded
   * if provisioning fails); a resize that makes it dearer charges the difference, a cheaper one refunds nothing.
   */
  @ApiProperty({ type: 'integer', example: 34 })
  cost: number;

  /** Actions the current status allows (only destroy while a snapshot operation is pending). */
  @ApiProperty({ enum: VM_ACTIONS, enumName: 'VmAction', isArray: true })
  allowed_actions: VmAction[];

  /** A snapshot being taken or deleted (the status does not change meanwhile), else null. */
  @ApiProperty({ type: String, enum: [...VM_PENDING_OPERATIONS, null], nullable: true })
  pending_operation: VmPendingOperation | null;

  created_at: Date;

  updated_at: Date;
}

export class VmStatusResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: VM_STATUSES, enumName: 'VmStatus' })
  status: VmStatus;

  @ApiProperty({ type: String, nullable: true })
  ip_address: string | null;

  @ApiProperty({ type: 'integer', nullable: true })
  ssh_port: number | null;

  /** The guest account to log in as. */
  @ApiProperty({ example: 'vmuser' })
  ssh_user: string;

  /** How to log in, once the VM has an address (null before, and while stopped). */
  @ApiProperty({ type: String, nullable: true, example: 'ssh -p 22 vmuser@192.168.121.10' })
  ssh_command: string | null;

  @ApiProperty({ type: 'integer' })
  uptime_seconds: number;

  updated_at: Date;
}

/** Accumulated uptime plus the current run, in whole seconds. */
export function currentUptime(vm: Pick<Vm, 'uptimeSeconds' | 'lastStartedAt'>, now = Date.now()): number {
  const current = vm.lastStartedAt ? Math.max(0, Math.floor((now - vm.lastStartedAt.getTime()) / 1000)) : 0;
  return vm.uptimeSeconds + current;
}

/** An `ssh` command line for the VM's login user and address, or null while it has none. */
export function sshCommand(vm: Pick<Vm, 'sshUser' | 'ipAddress' | 'sshPort'>): string | null {
  return vm.ipAddress && vm.sshPort ? `ssh -p ${vm.sshPort} ${vm.sshUser}@${vm.ipAddress}` : null;
}

export function toVmResponse(vm: Vm): VmResponseDto {
  return {
    id: vm.id,
    name: vm.name,
    os_type: vm.osType,
    ram_mb: vm.ramMb,
    disk_gb: vm.diskGb,
    cpu_cores: vm.cpuCores,
    status: vm.status,
    ip_address: vm.ipAddress,
    ssh_port: vm.sshPort,
    ssh_user: vm.sshUser,
    ssh_keys: vm.sshKeys.map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint })),
    ssh_command: sshCommand(vm),
    uptime_seconds: currentUptime(vm),
    user_data_status: vm.userDataStatus,
    user_data_size: vm.userDataSize,
    metadata: vm.metadata,
    cost: vm.cost,
    allowed_actions: allowedActions(vm.status, vm.pendingOperation),
    pending_operation: vm.pendingOperation,
    created_at: vm.createdAt,
    updated_at: vm.updatedAt,
  };
}

export function toVmStatusResponse(vm: Vm): VmStatusResponseDto {
  return {
    id: vm.id,
    status: vm.status,
    ip_address: vm.ipAddress,
    ssh_port: vm.sshPort,
    ssh_user: vm.sshUser,
    ssh_command: sshCommand(vm),
    uptime_seconds: currentUptime(vm),
    updated_at: vm.updatedAt,
  };
}
