import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { KeysetFilter, keysetPage, mapPage, NEWEST_FIRST, Page, PageQueryDto } from '../../common/pagination';
import { prepared } from '../../database/prepared';
import { SqlParams, type SqlPart } from '../../database/sql-params';
import { Db, typedQuery, typedQueryOne, typedWrite } from '../../database/typed-query';
import type { Event } from '../events/entities/event.entity';
import { EventsRepository } from '../events/events.repository';
import type { SshKeySnapshot } from '../ssh-keys/ssh-keys.service';
import type { Vm } from './entities/vm.entity';
import type { QuotaLimits } from './quotas';
import { VM_STATUSES, type VmPendingOperation, type VmStatus } from './vm-state';

/** Every column the Vm entity selects (not the lease columns), for plain-SQL reads of the vms table. */
export const VM_COLUMNS =
  'id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, ip_address, ssh_port, uptime_seconds, last_started_at, ' +
  'cost, host, metadata, ssh_keys, ssh_user, user_data_size, user_data_status, status_changed_at, created_at, updated_at, destroyed_at, ' +
  'pending_operation';

/** A host's VMs in some statuses (each host's reconcile and sampling pass), on vms_host_status_idx. */
export const BY_HOST_SQL = `SELECT ${VM_COLUMNS} FROM vms WHERE host = $1 AND status = ANY($2::varchar[]) ORDER BY created_at, id`;

/** A row of VM_COLUMNS as PostgreSQL returns it. */
export interface VmRow {
  id: string;
  user_id: string;
  name: string;
  os_type: string;
  ram_mb: number;
  disk_gb: number;
  cpu_cores: number;
  status: VmStatus;
  ip_address: string | null;
  ssh_port: number | null;
  uptime_seconds: number;
  last_started_at: Date | null;
  cost: number;
  host: string | null;
  metadata: Record<string, any>;
  ssh_keys: SshKeySnapshot[];
  ssh_user: string;
  user_data_size: number | null;
  user_data_status: Vm['userDataStatus'];
  status_changed_at: Date;
  created_at: Date;
  updated_at: Date;
  destroyed_at: Date | null;
  pending_operation: VmPendingOperation | null;
}

/** A row of VM_COLUMNS as the entity TypeORM would have hydrated: the one mapping of this table. */
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
    userDataSize: r.user_data_size,
    userDataStatus: r.user_data_status,
    statusChangedAt: r.status_changed_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    destroyedAt: r.destroyed_at,
    pendingOperation: r.pending_operation,
  };
}

export interface VmFilter {
  user_id?: string;
  status?: VmStatus;
  include_destroyed?: boolean;
  os_type?: string;
  name_prefix?: string;
  host?: string;
}

/** What a create writes; the rest of the row is the table's defaults. */
export type NewVm = Pick<
  Vm,
  | 'id'
  | 'host'
  | 'userId'
  | 'name'
  | 'osType'
  | 'ramMb'
  | 'diskGb'
  | 'cpuCores'
  | 'cost'
  | 'metadata'
  | 'sshKeys'
  | 'sshUser'
  | 'userData'
  | 'userDataSize'
>;

/** The columns a VM's owner and status change return (events name the VM and its owner). */
export interface TransitionedRow {
  id: string;
  user_id: string;
  name: string;
}

export interface TransitionGuard {
  /** Only if the status has not changed since this instant (the reader's `status_changed_at`). */
  statusChangedAt?: Date;
  /** Only if no worker holds the VM's operation lease. */
  unleased?: boolean;
}

/**
 * The columns an update from the API may set: a rename or metadata merge, an action's status, and
 * what resize (size, cost) and rebuild (OS, user data's status) change with it.
 */
export type VmPatch = Partial<
  Pick<
    Vm,
    | 'name'
    | 'metadata'
    | 'status'
    | 'statusChangedAt'
    | 'ramMb'
    | 'cpuCores'
    | 'diskGb'
    | 'cost'
    | 'osType'
    | 'userDataStatus'
    | 'pendingOperation'
  >
>;

/**
 * The vms table: every statement on it lives here (the lease columns included), typed at this
 * boundary. Methods that take a manager run in the caller's transaction.
 */
@Injectable()
export class VmsRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly events: EventsRepository,
  ) {}

  /** A VM by id; `ownerId` scopes it to one user; `lock` takes its row lock (FOR UPDATE). */
  async findOne(id: string, opts: { ownerId?: string; lock?: boolean; m?: EntityManager } = {}): Promise<Vm | undefined> {
    const row = await typedQueryOne<VmRow>(
      opts.m ?? this.dataSource,
      prepared(`SELECT ${VM_COLUMNS} FROM vms WHERE id = $1${opts.ownerId ? ' AND user_id = $2' : ''}${opts.lock ? ' FOR UPDATE' : ''}`),
      opts.ownerId ? [id, opts.ownerId] : [id],
    );
    return row && vmFromRow(row);
  }

  async exists(id: string): Promise<boolean> {
    return (await typedQueryOne<{ one: number }>(this.dataSource, prepared('SELECT 1 AS one FROM vms WHERE id = $1'), [id])) !== undefined;
  }

  /** Whether the user has a VM of this name that is not destroyed. */
  async nameInUse(userId: string, name: string, m?: EntityManager): Promise<boolean> {
    const row = await typedQueryOne<{ one: number }>(
      m ?? this.dataSource,
      prepared(`SELECT 1 AS one FROM vms WHERE user_id = $1 AND name = $2 AND status <> 'destroyed'`),
      [userId, name],
    );
    return row !== undefined;
  }

  /** Plain SQL through the keyset helper: GET /api/vms is the busiest read. */
  async list(filter: VmFilter, page: PageQueryDto): Promise<Page<Vm>> {
    const f = new KeysetFilter();
    if (filter.user_id) f.add((p) => `user_id = ${p}`, filter.user_id);
    if (filter.status) f.add((p) => `status = ${p}`, filter.status);
    else if (!filter.include_destroyed) f.raw(`status <> 'destroyed'`);
    if (filter.os_type) f.add((p) => `os_type = ${p}`, filter.os_type);
    if (filter.host) f.add((p) => `host = ${p}`, filter.host);
    if (filter.name_prefix) f.add((p) => `name LIKE ${p}`, `${filter.name_prefix.replace(/[\\%_]/g, '\\$&')}%`);
    const rows = await keysetPage<VmRow>(
      { db: this.dataSource, select: `SELECT ${VM_COLUMNS} FROM vms`, filter: f },
      NEWEST_FIRST,
      page,
      (r) => [r.created_at, r.id],
    );
    return mapPage(rows, vmFromRow);
  }

  /** Running VMs whose machine lives on `host`. */
  async runningOnHost(host: string): Promise<Vm[]> {
    return this.byHost(host, ['running']);
  }

  /** VMs on `host` in any of `statuses`. */
  async byHost(host: string, statuses: readonly VmStatus[]): Promise<Vm[]> {
    const rows = await typedQuery<VmRow>(this.dataSource, prepared(BY_HOST_SQL), [host, statuses]);
    return rows.map(vmFromRow);
  }

  /** VMs that are not destroyed on `host`, oldest first (what an offline host's report names). */
  liveOnHost(m: EntityManager, host: string): Promise<{ id: string; user_id: string; name: string; status: VmStatus }[]> {
    return typedQuery(m, `SELECT id, user_id, name, status FROM vms WHERE host = $1 AND status <> 'destroyed' ORDER BY created_at`, [host]);
  }

  /** VMs in a transitional status for longer than `seconds`, on no host or one of `hosts`. */
  async stuck(statuses: readonly VmStatus[], seconds: number, hosts: string[]): Promise<Vm[]> {
    const rows = await typedQuery<VmRow>(
      this.dataSource,
      `SELECT ${VM_COLUMNS} FROM vms WHERE status = ANY($1::varchar[]) AND status_changed_at < now() - make_interval(secs => $2)
         AND (host IS NULL OR host = ANY($3::text[]))`,
      [statuses, seconds, hosts],
    );
    return rows.map(vmFromRow);
  }

  /** What a user's VMs that are not destroyed use. */
  async quotaUsed(userId: string, m?: EntityManager): Promise<QuotaLimits> {
    const used = await typedQueryOne<QuotaLimits>(
      m ?? this.dataSource,
      prepared(`SELECT count(*)::int AS vms, COALESCE(sum(cpu_cores), 0)::int AS cpu_cores, COALESCE(sum(ram_mb), 0)::int AS ram_mb
         FROM vms WHERE user_id = $1 AND status <> 'destroyed'`),
      [userId],
    );
    return used ?? { vms: 0, cpu_cores: 0, ram_mb: 0 };
  }

  /** VMs per status, of one user or (no userId) of everyone, every status present (0 when none). */
  async countByStatus(userId?: string): Promise<Record<VmStatus, number>> {
    const rows = await typedQuery<{ status: VmStatus; count: number }>(
      this.dataSource,
      `SELECT status, count(*)::int AS count FROM vms${userId ? ' WHERE user_id = $1' : ''} GROUP BY status`,
      userId ? [userId] : [],
    );
    const counts = Object.fromEntries(VM_STATUSES.map((s) => [s, 0])) as Record<VmStatus, number>;
    for (const r of rows) counts[r.status] = r.count;
    return counts;
  }

  /** The VM's user data script (null without): read only by the worker for the first boot, never with the row. */
  async userDataOf(vmId: string): Promise<string | null> {
    const row = await typedQueryOne<{ user_data: string | null }>(this.dataSource, prepared('SELECT user_data FROM vms WHERE id = $1'), [
      vmId,
    ]);
    return row?.user_data ?? null;
  }

  /**
   * One statement on the create path: if the host still has room (`fits`, a one-row query of a
   * boolean `fits`, read under the host's lock), the VM row as `provisioning` and its events; else
   * nothing, and undefined (placement tries the next host).
   */
  async insertIfFits(m: EntityManager, fits: SqlPart, v: NewVm, events: Event[]): Promise<Vm | undefined> {
    const p = new SqlParams();
    const fit = p.embed(fits.text, fits.values);
    const [id, userId, name, osType, ramMb, diskGb, cpuCores, cost, metadata, sshKeys, sshUser, host, userData, userDataSize] = [
      v.id,
      v.userId,
      v.name,
      v.osType,
      v.ramMb,
      v.diskGb,
      v.cpuCores,
      v.cost,
      JSON.stringify(v.metadata),
      JSON.stringify(v.sshKeys),
      v.sshUser,
      v.host,
      v.userData ?? null,
      v.userDataSize,
    ].map((value) => p.add(value));
    const ev = this.events.insertPart(p, events, 'vm');
    const row = await typedQueryOne<VmRow>(
      m,
      prepared(`WITH fit AS (${fit}),
        vm AS (
          INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, metadata, ssh_keys, ssh_user, status_changed_at, host,
                           user_data, user_data_size, user_data_status)
          SELECT ${id}::uuid, ${userId}::uuid, ${name}::varchar, ${osType}::varchar, ${ramMb}::int, ${diskGb}::int, ${cpuCores}::int, 'provisioning',
                 ${cost}::int, ${metadata}::jsonb, ${sshKeys}::jsonb, ${sshUser}::varchar, now(), ${host}::varchar,
                 ${userData}::text, ${userDataSize}::int, CASE WHEN ${userData}::text IS NULL THEN 'none' ELSE 'pending' END
            FROM fit WHERE fit.fits
          RETURNING ${VM_COLUMNS}),
        ev AS (${ev.insert})
      SELECT vm.*, (SELECT count(*) FROM (${ev.notify('ev')}) n) AS notified FROM vm`),
      p.values,
    );
    return row && vmFromRow(row);
  }

  /** UPDATE ... RETURNING updated_at, applied to the loaded entity (no second read). */
  async update(m: EntityManager, vm: Vm, patch: VmPatch): Promise<Vm> {
    const p = new SqlParams();
    const sets: string[] = [];
    if (patch.name !== undefined) sets.push(`name = ${p.add(patch.name)}`);
    if (patch.metadata !== undefined) sets.push(`metadata = ${p.add(JSON.stringify(patch.metadata))}::jsonb`);
    if (patch.status !== undefined) sets.push(`status = ${p.add(patch.status)}`);
    if (patch.statusChangedAt !== undefined) sets.push(`status_changed_at = ${p.add(patch.statusChangedAt)}`);
    if (patch.ramMb !== undefined) sets.push(`ram_mb = ${p.add(patch.ramMb)}`);
    if (patch.cpuCores !== undefined) sets.push(`cpu_cores = ${p.add(patch.cpuCores)}`);
    if (patch.diskGb !== undefined) sets.push(`disk_gb = ${p.add(patch.diskGb)}`);
    if (patch.cost !== undefined) sets.push(`cost = ${p.add(patch.cost)}`);
    if (patch.osType !== undefined) sets.push(`os_type = ${p.add(patch.osType)}`);
    if (patch.userDataStatus !== undefined) sets.push(`user_data_status = ${p.add(patch.userDataStatus)}`);
    if (patch.pendingOperation !== undefined) sets.push(`pending_operation = ${p.add(patch.pendingOperation)}`);
    const { rows } = await typedWrite<{ updated_at: Date }>(
      m,
      prepared(`UPDATE vms SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = ${p.add(vm.id)} RETURNING updated_at`),
      p.values,
    );
    const row = rows[0];
    if (!row) throw new Error(`VM ${vm.id} vanished under its row lock`);
    return Object.assign(vm, patch, { updatedAt: row.updated_at });
  }

  /**
   * Moves VM `id` from `from` to `to` (plus the `set` assignments, whose placeholders start at $3 and
   * take `params`) if it is still in `from` and the guard holds: one conditional UPDATE, so a
   * concurrent change always wins over a stale one. Returns the row, or undefined when it did not apply.
   */
  async transition(
    m: EntityManager,
    t: { id: string; from: VmStatus; to: VmStatus; set?: string; params?: unknown[]; guard?: TransitionGuard },
  ): Promise<TransitionedRow | undefined> {
    const values: unknown[] = [t.id, t.from, ...(t.params ?? [])];
    let where = 'id = $1 AND status = $2';
    if (t.guard?.statusChangedAt) {
      values.push(t.guard.statusChangedAt);
      where += ` AND status_changed_at = $${values.length}`;
    }
    if (t.guard?.unleased) where += ' AND (locked_by IS NULL OR locked_until < now())';
    values.push(t.to);
    const { rows } = await typedWrite<TransitionedRow>(
      m,
      prepared(`UPDATE vms SET status = $${values.length}, status_changed_at = now(), updated_at = now()${t.set ? `, ${t.set}` : ''}
        WHERE ${where} RETURNING id, user_id, name`),
      values,
    );
    return rows[0];
  }

  /** Takes the VM's operation lease for `jobId` (free, expired or already its own) and reads the VM in the same statement. */
  async acquireLease(vmId: string, jobId: string, seconds: number): Promise<Vm | undefined> {
    const { rows } = await typedWrite<VmRow>(
      this.dataSource,
      prepared(`UPDATE vms SET locked_by = $2, locked_until = now() + make_interval(secs => $3)
        WHERE id = $1 AND (locked_by IS NULL OR locked_until < now() OR locked_by = $2)
        RETURNING ${VM_COLUMNS}`),
      [vmId, jobId, seconds],
    );
    return rows[0] && vmFromRow(rows[0]);
  }

  /**
   * Frees the VM's operation slot held by a snapshot operation `op` (its outcome, or its abandonment);
   * a slot already freed (the VM's destroy) or taken by another operation is left alone.
   */
  async releasePendingOperation(m: EntityManager, vmId: string, op: VmPendingOperation): Promise<void> {
    await typedWrite(m, prepared(`UPDATE vms SET pending_operation = NULL, updated_at = now() WHERE id = $1 AND pending_operation = $2`), [
      vmId,
      op,
    ]);
  }

  /** Clears the lease if `jobId` still holds it. */
  async releaseLease(db: Db, vmId: string, jobId: string): Promise<void> {
    await typedWrite(db, `UPDATE vms SET locked_by = NULL, locked_until = NULL WHERE id = $1 AND locked_by = $2`, [vmId, jobId]);
  }
}
