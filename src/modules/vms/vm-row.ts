import type { SshKeySnapshot } from '../ssh-keys/ssh-keys.service';
import type { Vm } from './entities/vm.entity';

/** Every column the Vm entity selects (not the lease columns), for plain-SQL reads of the vms table. */
export const VM_COLUMNS =
  'id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, ip_address, ssh_port, uptime_seconds, last_started_at, ' +
  'cost, host, metadata, ssh_keys, ssh_user, status_changed_at, created_at, updated_at, destroyed_at, pending_operation';

export interface VmRow {
  id: string;
  user_id: string;
  name: string;
  os_type: string;
  ram_mb: number;
  disk_gb: number;
  cpu_cores: number;
  status: Vm['status'];
  ip_address: string | null;
  ssh_port: number | null;
  uptime_seconds: number;
  last_started_at: Date | null;
  cost: number;
  host: string | null;
  metadata: Record<string, any>;
  ssh_keys: SshKeySnapshot[];
  ssh_user: string;
  status_changed_at: Date;
  created_at: Date;
  updated_at: Date;
  destroyed_at: Date | null;
  pending_operation: Vm['pendingOperation'];
}

/** A row of VM_COLUMNS as the entity TypeORM would have hydrated. */
export function vmFromRow(r: VmRow): Vm {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    osType: r.os_type,
    ramMb: r.ram_mb,
    diskGb: r.disk_gb,
    cpuCores: r.cpu_cores,
    status: r.status,
    ipAddress: r.ip_address,
    sshPort: r.ssh_port,
    uptimeSeconds: r.uptime_seconds,
    lastStartedAt: r.last_started_at,
    cost: r.cost,
    host: r.host,
    metadata: r.metadata,
    sshKeys: r.ssh_keys,
    sshUser: r.ssh_user,
    statusChangedAt: r.status_changed_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    destroyedAt: r.destroyed_at,
    pendingOperation: r.pending_operation,
  } as Vm;
}
