import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { AppError } from '../../common/app-error';
import { uniqueViolation } from '../../common/db-errors';
import { Page, PageQueryDto, paginateSql, SqlConditions } from '../../common/pagination';
import { QueueService } from '../../queue/queue.service';
import type { AuthUser } from '../../common/auth';
import type { Env } from '../../config/env.validation';
import { CreditsService } from '../credits/credits.service';
import { EventsService } from '../events/events.service';
import { SshKeysService } from '../ssh-keys/ssh-keys.service';
import type { RecordEventInput } from '../events/events.types';
import { HostsService } from '../hosts/hosts.service';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { QuotaOverrides, UsersService } from '../users/users.service';
import { metadataProblem } from './dto/metadata.validator';
import { CreateVmDto, QuotaCheckDto } from './dto/vm.dto';
import { toVmResponse } from './dto/vm-response.dto';
import { Vm } from './entities/vm.entity';
import type { OsCatalog } from './os-catalog';
import { exceededResource, QUOTA_RESOURCES, QuotaLimits, QuotaUsageDto } from './quotas';
import { VM_COLUMNS, vmFromRow, VmRow } from './vm-row';
import { ensureVmOperationQueue, jobExpirySeconds, OPERATION_TIMEOUTS, OperationTimeouts, OS_CATALOG, vmOperationQueue, VmOperationJob } from './vm-jobs';
import { allowedActions, nextStatus, TRANSITIONS, VM_STATUSES, VmAction, VmStatus } from './vm-state';
import { prepared } from '../../database/prepared';
import { VM_ERRORS } from './vms.errors';
import { resizePrice } from './day2-pricing';
import { SqlParams, type SqlPart } from '../../database/sql-params';

const nameTaken = (name: string) => VM_ERRORS.error('vm.name_taken', `You already have a VM named ${name}`);

export interface VmFilter {
  user_id?: string;
  status?: VmStatus;
  include_destroyed?: boolean;
  os_type?: string;
  name_prefix?: string;
  host?: string;
}

/** What resize and rebuild change (the action body's optional fields). */
export interface ActionChange {
  ram_mb?: number;
  cpu_cores?: number;
  disk_gb?: number;
  os_type?: string;
}

/** 409 while a snapshot of the VM is being taken or deleted: one operation per VM at a time. */
export function operationInProgress(vm: Pick<Vm, 'status' | 'pendingOperation'>) {
  const allowed = allowedActions(vm.status, vm.pendingOperation);
  return VM_ERRORS.error(
    'vm.operation_in_progress',
    `The VM has an operation in progress (${vm.pendingOperation}); wait for it to finish (allowed now: ${allowed.join(', ') || 'none'})`,
    { vm_status: vm.status, operation: vm.pendingOperation, allowed_actions: allowed },
  );
}

export interface ActionContext {
  /** The caller. */
  actor: AuthUser;
  /** Limit to this owner's VMs (a user acting on their own); unset for admins. */
  ownerId?: string;
  reason?: string;
  /** The request's Idempotency-Key: claimed and answered inside the action's transaction. */
  idempotency?: IdempotentRequest;
}

@Injectable()
export class VmsService {
  constructor(
    private readonly dataSource: DataSource,
    @InjectRepository(Vm) private readonly vms: Repository<Vm>,
    private readonly credits: CreditsService,
    private readonly events: EventsService,
    private readonly queue: QueueService,
    @Inject(OS_CATALOG) private readonly catalog: OsCatalog,
    @Inject(OPERATION_TIMEOUTS) private readonly timeouts: OperationTimeouts,
    private readonly users: UsersService,
    private readonly config: ConfigService<Env, true>,
    private readonly sshKeys: SshKeysService,
    private readonly hosts: HostsService,
  ) {}

  /** A user's limits: their overrides, else the QUOTA_* defaults (0 = no limit). */
  private quotaLimits(own: QuotaOverrides): QuotaLimits {
    return {
      vms: own.vms ?? this.config.get('QUOTA_MAX_VMS', { infer: true }),
      cpu_cores: own.cpu_cores ?? this.config.get('QUOTA_MAX_CPU_CORES', { infer: true }),
      ram_mb: own.ram_mb ?? this.config.get('QUOTA_MAX_RAM_MB', { infer: true }),
    };
  }

  /** What a user's VMs that are not destroyed use. */
  private async quotaUsed(userId: string, manager: EntityManager): Promise<QuotaLimits> {
    const [used]: QuotaLimits[] = await manager.query(
      prepared(`SELECT count(*)::int AS vms, COALESCE(sum(cpu_cores), 0)::int AS cpu_cores, COALESCE(sum(ram_mb), 0)::int AS ram_mb
         FROM vms WHERE user_id = $1 AND status <> 'destroyed'`),
      [userId],
    );
    return used;
  }

  /** A user's limits and what their live VMs use (`overrides`: when the caller has loaded the user already). */
  async quotaUsage(userId: string, overrides?: QuotaOverrides): Promise<QuotaUsageDto> {
    const [own, used] = await Promise.all([overrides ?? this.users.quotaOverrides(userId), this.quotaUsed(userId, this.vms.manager)]);
    return { limits: this.quotaLimits(own), used };
  }

  /**
   * OpenStack-style quotas beside credits. Called after the debit has locked the user's row, so
   * concurrent creates of one user are checked one after another and cannot overshoot together.
   * With no limit on any resource there is nothing to count.
   */
  private async assertWithinQuota(m: EntityManager, userId: string, requested: QuotaLimits): Promise<void> {
    const limits = this.quotaLimits(await this.users.quotaOverrides(userId, m));
    if (QUOTA_RESOURCES.every((r) => limits[r] === 0)) return;
    const used = await this.quotaUsed(userId, m);
    const resource = exceededResource(limits, used, requested);
    if (resource) {
      throw VM_ERRORS.error(
        'quota.exceeded',
        `This needs ${requested[resource]} more ${resource}; ${used[resource]} of your limit of ${limits[resource]} are in use`,
        { resource, requested: requested[resource], used: used[resource], limit: limits[resource] },
      );
    }
  }

  osTypes(): string[] {
    return Object.keys(this.catalog).sort();
  }

  private assertOsType(osType: string): void {
    if (!(osType in this.catalog)) {
      throw VM_ERRORS.error('vm.unknown_os_type', `Unknown os_type ${JSON.stringify(osType)}; choose one of ${this.osTypes().join(', ')}`, {
        allowed_os_types: this.osTypes(),
      });
    }
  }

  async quotaCheck(user: AuthUser, dto: QuotaCheckDto) {
    if (dto.os_type !== undefined) this.assertOsType(dto.os_type);
    return this.credits.checkQuota(user, dto);
  }

  /**
   * One transaction: debit (the conditional UPDATE refuses to overspend), place the VM on a host,
   * insert it with a copy of its SSH keys, record the events and enqueue the provisioning job on the
   * host's queue. Any failure (503 `capacity.unavailable` when no host has room) leaves no VM, no
   * charge and no job (nor the Idempotency-Key's claim and stored answer, also written here).
   * Placement comes last: it locks the chosen host's row until commit, and the VM row, its events
   * and its job are then written in the one statement that also re-checks the host's room, so
   * creates on one host wait for each other for one round trip and the commit (see HostsService.place).
   */
  /**
   * Every check of a create but the payment and the placement, in the order create meets them: the
   * os_type, the SSH key ids, the quota, the name. Throws what create would answer for the body; the
   * credits guard runs it before answering 402, so a body that could never succeed is refused for
   * what is wrong with it whatever the balance. Read-only; create's own checks stay authoritative.
   */
  async validateCreate(user: AuthUser, dto: CreateVmDto, m: EntityManager = this.vms.manager): Promise<void> {
    this.assertOsType(dto.os_type);
    await this.sshKeys.snapshotFor(m, user.id, dto.ssh_key_ids ?? []);
    await this.assertWithinQuota(m, user.id, { vms: 1, cpu_cores: dto.cpu_cores, ram_mb: dto.ram_mb });
    const taken: unknown[] = await m.query(prepared(`SELECT 1 FROM vms WHERE user_id = $1 AND name = $2 AND status <> 'destroyed'`), [user.id, dto.name]);
    if (taken.length) throw nameTaken(dto.name);
  }

  async create(user: AuthUser, dto: CreateVmDto, idempotency?: IdempotentRequest): Promise<Vm> {
    this.assertOsType(dto.os_type);
    const cost = this.credits.calculateCost(dto);
    const id = uuidv7();
    try {
      const vm = await this.dataSource.transaction(async (m) => {
        await idempotency?.claim(m);
        const sshKeys = await this.sshKeys.snapshotFor(m, user.id, dto.ssh_key_ids ?? []);
        const charge = await this.credits
          .apply(m, { userId: user.id, amount: -cost, kind: 'vm_create', reason: `VM ${dto.name}`, vmId: id })
          .catch(async (err: unknown) => {
            // Short of credits (a keyed request, which the guard lets through): what else is wrong wins.
            if (err instanceof AppError && err.code === 'credits.insufficient') await this.validateCreate(user, dto, m);
            throw err;
          });
        await this.assertWithinQuota(m, user.id, { vms: 1, cpu_cores: dto.cpu_cores, ram_mb: dto.ram_mb });
        const sshUser = this.config.get('VM_SSH_USER', { infer: true });
        const events: RecordEventInput[] = [
          {
            action: 'vm.create',
            message: `VM ${dto.name} requested (${dto.os_type}, ${dto.ram_mb} MB, ${dto.disk_gb} GB, ${dto.cpu_cores} cores)`,
            details: {
              name: dto.name,
              os_type: dto.os_type,
              ram_mb: dto.ram_mb,
              disk_gb: dto.disk_gb,
              cpu_cores: dto.cpu_cores,
              cost,
              ssh_user: sshUser,
              ssh_keys: sshKeys.map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint })),
            },
            userId: user.id,
            vmId: id,
          },
          {
            action: 'system.credit_deduction',
            message: `Charged ${cost} credits for VM ${dto.name}`,
            details: { amount: -cost, balance_after: charge.balanceAfter, ledger_id: charge.id },
            userId: user.id,
            vmId: id,
          },
        ];
        const vm = await this.hosts.place(m, { cpuCores: dto.cpu_cores, ramMb: dto.ram_mb, diskGb: dto.disk_gb }, (host, fits) =>
          this.insertPlaced(m, fits, events, {
            id,
            host,
            userId: user.id,
            name: dto.name,
            osType: dto.os_type,
            ramMb: dto.ram_mb,
            diskGb: dto.disk_gb,
            cpuCores: dto.cpu_cores,
            cost,
            metadata: dto.metadata ?? {},
            sshKeys,
            sshUser,
          }),
        );
        await idempotency?.answer(m, toVmResponse(vm));
        return vm;
      });
      this.queue.notify(vmOperationQueue(vm.host));
      return vm;
    } catch (err) {
      if (uniqueViolation(err) === 'vms_user_name_active_key') {
        throw nameTaken(dto.name);
      }
      throw err;
    }
  }

  /**
   * One statement on the create path: if the host still has room (`fits`, read under its lock), the
   * VM row as `provisioning`, its events and its provisioning job on the host's queue; else nothing
   * but the job, which is discarded, and undefined (placement tries the next host).
   */
  private async insertPlaced(
    m: EntityManager,
    fits: SqlPart,
    events: RecordEventInput[],
    v: Pick<Vm, 'id' | 'host' | 'userId' | 'name' | 'osType' | 'ramMb' | 'diskGb' | 'cpuCores' | 'cost' | 'metadata' | 'sshKeys' | 'sshUser'>,
  ): Promise<Vm | undefined> {
    const queue = vmOperationQueue(v.host);
    const job = await this.queue.sendPart<VmOperationJob>(
      queue,
      { vmId: v.id, op: 'up', expect: 'provisioning' },
      { expireInSeconds: jobExpirySeconds('up', this.timeouts) },
    );
    const p = new SqlParams();
    const fit = p.embed(fits.text, fits.values);
    const [id, userId, name, osType, ramMb, diskGb, cpuCores, cost, metadata, sshKeys, sshUser, host] = [
      v.id, v.userId, v.name, v.osType, v.ramMb, v.diskGb, v.cpuCores, v.cost, JSON.stringify(v.metadata), JSON.stringify(v.sshKeys), v.sshUser, v.host,
    ].map((value) => p.add(value));
    const ev = this.events.insertPart(p, events, 'vm');
    const rows: (VmRow & { jobs: number })[] = await m.query(
      prepared(`WITH fit AS (${fit}),
        vm AS (
          INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, metadata, ssh_keys, ssh_user, status_changed_at, host)
          SELECT ${id}::uuid, ${userId}::uuid, ${name}::varchar, ${osType}::varchar, ${ramMb}::int, ${diskGb}::int, ${cpuCores}::int, 'provisioning',
                 ${cost}::int, ${metadata}::jsonb, ${sshKeys}::jsonb, ${sshUser}::varchar, now(), ${host}::varchar
            FROM fit WHERE fit.fits
          RETURNING ${VM_COLUMNS}),
        ev AS (${ev.insert}),
        job AS (${p.embed(job.text, job.values)})
      SELECT vm.*, (SELECT count(*) FROM job)::int AS jobs, (SELECT count(*) FROM (${ev.notify('ev')}) n) AS notified FROM vm`),
      p.values,
    );
    if (!rows.length) {
      await this.queue.discard(m, queue, job.id);
      return undefined;
    }
    if (rows[0].jobs !== 1) throw new Error(`Queue ${queue} refused the job`);
    return vmFromRow(rows[0]);
  }

  /**
   * Sends the job that completes the VM's current transitional status, in the caller's transaction,
   * to the VM's host's queue: only that host's workers run it, whenever the host is online.
   */
  private async enqueue(m: EntityManager, vm: Vm): Promise<void> {
    const t = TRANSITIONS[vm.status];
    if (!t) throw new Error(`status ${vm.status} has no operation`);
    await this.queue.send<VmOperationJob>(
      m,
      vmOperationQueue(vm.host),
      { vmId: vm.id, op: t.op, expect: vm.status },
      { expireInSeconds: jobExpirySeconds(t.op, this.timeouts) },
    );
  }

  /** Plain SQL (see paginateSql): GET /api/vms is the busiest read. */
  async list(filter: VmFilter, page: PageQueryDto): Promise<Page<Vm>> {
    const c = new SqlConditions();
    if (filter.user_id) c.add((p) => `user_id = ${p}`, filter.user_id);
    if (filter.status) c.add((p) => `status = ${p}`, filter.status);
    else if (!filter.include_destroyed) c.raw(`status <> 'destroyed'`);
    if (filter.os_type) c.add((p) => `os_type = ${p}`, filter.os_type);
    if (filter.host) c.add((p) => `host = ${p}`, filter.host);
    if (filter.name_prefix) c.add((p) => `name LIKE ${p}`, `${filter.name_prefix.replace(/[\\%_]/g, '\\$&')}%`);
    return paginateSql(this.vms, { select: `SELECT ${VM_COLUMNS} FROM vms`, where: c.where, params: c.params }, page, vmFromRow);
  }

  /** A VM by id; `ownerId` scopes it to one user. Anyone else's VM is "not found", never "forbidden". */
  async get(id: string, ownerId?: string, manager: EntityManager = this.vms.manager, lock = false): Promise<Vm> {
    const rows: VmRow[] = await manager.query(
      prepared(`SELECT ${VM_COLUMNS} FROM vms WHERE id = $1${ownerId ? ' AND user_id = $2' : ''}${lock ? ' FOR UPDATE' : ''}`),
      ownerId ? [id, ownerId] : [id],
    );
    if (!rows.length) throw VM_ERRORS.error('vm.not_found', 'VM not found');
    return vmFromRow(rows[0]);
  }

  /** A VM its owner or an admin may see (metrics routes); anyone else gets the same 404 as `get`. */
  getFor(caller: AuthUser, id: string): Promise<Vm> {
    return this.get(id, caller.role === 'admin' ? undefined : caller.id);
  }

  /** Running VMs whose machine lives on `host`: what that host's periodic jobs sample. */
  listRunningOnHost(host: string): Promise<Vm[]> {
    return this.vms.findBy({ status: 'running', host });
  }

  /** UPDATE ... RETURNING updated_at, applied to the loaded entity (save() would SELECT it again). */
  private async updateRow(m: EntityManager, vm: Vm, patch: Partial<Vm>): Promise<Vm> {
    const result = await m
      .getRepository(Vm)
      .createQueryBuilder()
      .update()
      .set(patch)
      .where('id = :id', { id: vm.id })
      .returning('updated_at')
      .execute();
    const row = (result.raw as { updated_at: Date }[])[0];
    return Object.assign(vm, patch, { updatedAt: row.updated_at });
  }

  /**
   * A rename and/or a metadata merge (null removes a key), under the VM's row lock, in one
   * transaction with their events: `vm.renamed` (old and new name), `vm.metadata_updated`. A name
   * another live VM of the owner has answers 409 vm.name_taken (the unique index decides); a
   * destroyed VM keeps the name it had (409 vm.invalid_transition). The guest's hostname follows at
   * its next boot: the Vagrantfile, hostname included, is written again before every up and reload.
   */
  async update(user: AuthUser, id: string, patch: { name?: string; metadata?: Record<string, unknown> }): Promise<Vm> {
    try {
      return await this.dataSource.transaction(async (m) => {
        let vm = await this.get(id, user.id, m, true);
        const events: RecordEventInput[] = [];
        const set: Partial<Vm> = {};
        if (patch.name !== undefined && patch.name !== vm.name) {
          if (vm.status === 'destroyed') {
            throw VM_ERRORS.error('vm.invalid_transition', 'A destroyed VM cannot be renamed', { vm_status: vm.status, allowed_actions: [] });
          }
          set.name = patch.name;
          events.push({
            action: 'vm.renamed',
            message: `VM ${vm.name} renamed to ${patch.name}`,
            details: { old_name: vm.name, new_name: patch.name },
            userId: vm.userId,
            vmId: vm.id,
          });
        }
        if (patch.metadata !== undefined) {
          const merged: Record<string, unknown> = { ...vm.metadata };
          for (const [key, value] of Object.entries(patch.metadata)) {
            if (value === null) delete merged[key];
            else merged[key] = value;
          }
          const problem = metadataProblem(merged, { allowNullValues: false });
          if (problem) throw VM_ERRORS.error('vm.metadata_too_large', `metadata after the merge ${problem}`);
          set.metadata = merged;
          events.push({
            action: 'vm.metadata_updated',
            message: `Metadata of VM ${set.name ?? vm.name} updated`,
            details: { keys: Object.keys(patch.metadata) },
            userId: vm.userId,
            vmId: vm.id,
          });
        }
        if (!events.length) return vm;
        vm = await this.updateRow(m, vm, set);
        await this.events.recordAll(m, events);
        return vm;
      });
    } catch (err) {
      if (patch.name !== undefined && uniqueViolation(err) === 'vms_user_name_active_key') throw nameTaken(patch.name);
      throw err;
    }
  }

  /**
   * Validates the action against the state machine and, in one transaction, moves the VM to the
   * transitional status, records the event(s) and enqueues the job. 409 lists the allowed actions.
   * Resize (stopped VMs only) also takes the new size, charges the price difference and re-checks
   * quotas and the host's room; rebuild may switch the OS and removes the VM's snapshots.
   */
  async requestAction(id: string, action: VmAction, ctx: ActionContext, change: ActionChange = {}): Promise<Vm> {
    const vm = await this.dataSource.transaction(async (m) => {
      await ctx.idempotency?.claim(m);
      const vm = await this.get(id, ctx.ownerId, m, true);
      const to = nextStatus(vm.status, action);
      if (!to) {
        const allowed = allowedActions(vm.status, vm.pendingOperation);
        const rule = action === 'resize' ? ' (a VM is resized while stopped, as on EC2: stop it first)' : '';
        throw VM_ERRORS.error(
          'vm.invalid_transition',
          `Cannot ${action} a VM that is ${vm.status}${rule}; allowed now: ${allowed.join(', ') || 'none'}`,
          { vm_status: vm.status, allowed_actions: allowed },
        );
      }
      if (vm.pendingOperation && action !== 'destroy') throw operationInProgress(vm);
      await this.assertHostCanTake(m, vm, action);
      const from = vm.status;
      const byAdmin = ctx.actor.id !== vm.userId;
      const events: RecordEventInput[] = [];
      const patch: Partial<Vm> = { status: to, statusChangedAt: new Date() };
      let details: Record<string, unknown> = {};
      if (action === 'resize') details = await this.prepareResize(m, vm, change, patch, events);
      if (action === 'rebuild') details = await this.prepareRebuild(m, vm, change, patch);
      if (action === 'destroy') patch.pendingOperation = null;
      const saved = await this.updateRow(m, vm, patch);
      events.unshift({
        action: 'vm.action_requested',
        message: `${action} requested for VM ${vm.name} (${from} -> ${to})`,
        details: { action, from, to, ...details },
        userId: vm.userId,
        vmId: vm.id,
        actorId: byAdmin ? ctx.actor.id : null,
      });
      if (byAdmin) {
        events.push({
          action: 'admin.vm_action',
          message: `Admin ${ctx.actor.username} requested ${action} on VM ${vm.name} of user ${vm.userId}`,
          details: { action, from, to, reason: ctx.reason ?? null, target_user_id: vm.userId },
          userId: vm.userId,
          vmId: vm.id,
          actorId: ctx.actor.id,
        });
      }
      await this.events.recordAll(m, events);
      await this.enqueue(m, saved);
      await ctx.idempotency?.answer(m, toVmResponse(saved));
      return saved;
    });
    this.queue.notify(vmOperationQueue(vm.host));
    return vm;
  }

  /**
   * Resize of a stopped VM, in the action's transaction: disk only grows (409 vm.disk_shrink); the
   * price difference by the formula is debited when positive (402 when short; nothing is refunded
   * when smaller); quotas on cores and RAM are checked again, and the host's room under its row lock
   * (409 capacity.host_full). Any refusal rolls everything back: nothing charged, nothing changed.
   */
  private async prepareResize(m: EntityManager, vm: Vm, change: ActionChange, patch: Partial<Vm>, events: RecordEventInput[]): Promise<Record<string, unknown>> {
    const next = { ram_mb: change.ram_mb ?? vm.ramMb, cpu_cores: change.cpu_cores ?? vm.cpuCores, disk_gb: change.disk_gb ?? vm.diskGb };
    const old = { ram_mb: vm.ramMb, cpu_cores: vm.cpuCores, disk_gb: vm.diskGb };
    if (next.disk_gb < old.disk_gb) {
      throw VM_ERRORS.error('vm.disk_shrink', `A disk only grows: this VM has ${old.disk_gb} GB, so disk_gb must be at least ${old.disk_gb}`, {
        disk_gb: old.disk_gb,
      });
    }
    if (next.ram_mb === old.ram_mb && next.cpu_cores === old.cpu_cores && next.disk_gb === old.disk_gb) {
      throw VM_ERRORS.error('vm.resize_unchanged', `The VM already has ${old.ram_mb} MB, ${old.cpu_cores} cores and ${old.disk_gb} GB`);
    }
    const pricing = resizePrice(this.credits.calculateCost(old), this.credits.calculateCost(next));
    if (pricing.charge > 0) {
      const charge = await this.credits.apply(m, { userId: vm.userId, amount: -pricing.charge, kind: 'vm_resize', reason: `Resize of VM ${vm.name}`, vmId: vm.id });
      events.push({
        action: 'system.credit_deduction',
        message: `Charged ${pricing.charge} credits for the resize of VM ${vm.name}`,
        details: { amount: -pricing.charge, balance_after: charge.balanceAfter, ledger_id: charge.id },
        userId: vm.userId,
        vmId: vm.id,
      });
    }
    await this.assertWithinQuota(m, vm.userId, { vms: 0, cpu_cores: Math.max(0, next.cpu_cores - old.cpu_cores), ram_mb: Math.max(0, next.ram_mb - old.ram_mb) });
    if (vm.host !== null) {
      await this.hosts.assertRoomForMore(m, vm.host, {
        cpuCores: Math.max(0, next.cpu_cores - old.cpu_cores),
        ramMb: Math.max(0, next.ram_mb - old.ram_mb),
        diskGb: next.disk_gb - old.disk_gb,
      });
    }
    Object.assign(patch, { ramMb: next.ram_mb, cpuCores: next.cpu_cores, diskGb: next.disk_gb, cost: pricing.cost });
    return { old, new: next, charged: pricing.charge };
  }

  /** Rebuild: the OS may change (checked against the catalog); the disk is wiped, its snapshots with it. */
  private async prepareRebuild(m: EntityManager, vm: Vm, change: ActionChange, patch: Partial<Vm>): Promise<Record<string, unknown>> {
    if (change.os_type !== undefined) {
      this.assertOsType(change.os_type);
      patch.osType = change.os_type;
    }
    const [removed]: [{ id: string; name: string }[], number] = await m.query(prepared(`DELETE FROM vm_snapshots WHERE vm_id = $1 RETURNING id, name`), [vm.id]);
    return { os_type: change.os_type ?? vm.osType, previous_os_type: vm.osType, snapshots_removed: removed.map((r) => r.name) };
  }

  /**
   * What an action does while the VM's host is offline (its workers are down or cut off): stop and
   * destroy are accepted (202) and wait in the host's queue, the VM in `stopping`/`destroying`,
   * until the host is back; start and restart answer 409 `host.offline` and change nothing, since
   * a VM the caller wants running cannot run there now and may run much later than meant.
   * The user's answer never names the host.
   */
  private async assertHostCanTake(m: EntityManager, vm: Vm, action: VmAction): Promise<void> {
    if (vm.host === null) return;
    const availability = await this.hosts.availability(m, vm.host);
    if (availability === 'online') return;
    if (action !== 'stop' && action !== 'destroy') {
      throw VM_ERRORS.error(
        'host.offline',
        `The hypervisor host of this VM is offline; ${action} is refused until it is back (stop and destroy are accepted and run when it returns)`,
        { vm_status: vm.status, allowed_actions: allowedActions(vm.status).filter((a) => a === 'stop' || a === 'destroy') },
      );
    }
    // A host that never registered (a name from before hosts) has no queue yet: the job waits in one.
    if (availability === 'unknown') await ensureVmOperationQueue(this.queue, vmOperationQueue(vm.host));
  }

  /** VMs per status, of one user or (no userId) of everyone, every status present (0 when none). */
  async countByStatus(userId?: string): Promise<Record<VmStatus, number>> {
    const rows: { status: VmStatus; count: number }[] = await this.vms.query(
      `SELECT status, count(*)::int AS count FROM vms${userId ? ' WHERE user_id = $1' : ''} GROUP BY status`,
      userId ? [userId] : [],
    );
    const counts = Object.fromEntries(VM_STATUSES.map((s) => [s, 0])) as Record<VmStatus, number>;
    for (const r of rows) counts[r.status] = r.count;
    return counts;
  }
}
