import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { AppError } from '../../common/app-error';
import { uniqueViolation } from '../../common/db-errors';
import { Page, PageQueryDto } from '../../common/pagination';
import type { AuthUser } from '../../common/auth';
import { CreditsService } from '../credits/credits.service';
import { buildEvents } from '../events/events.service';
import { HostPlacementService } from '../hosts/host-placement.service';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { SshKeysService } from '../ssh-keys/ssh-keys.service';
import type { QuotaOverrides } from '../users/users.service';
import { CreateVmDto, QuotaCheckDto, USER_DATA_MAX_BYTES, type VmActionChange } from './dto/vm.dto';
import { toVmResponse } from './dto/vm-response.dto';
import type { Vm } from './entities/vm.entity';
import type { QuotaLimits, QuotaUsageDto } from './quotas';
import { ActionContext, findVmOr404, VmActionsService } from './vm-actions.service';
import { VmCatalogService } from './vm-catalog.service';
import { VmJobsService } from './vm-jobs.service';
import { VmQuotasService } from './vm-quotas.service';
import type { VmAction, VmStatus } from './vm-state';
import { VmFilter, VmsRepository } from './vms.repository';
import { VM_ERRORS } from './vms.errors';

export type { ActionContext, VmFilter };

/**
 * The size in bytes of user data that may be stored (null without): at most USER_DATA_MAX_BYTES of
 * UTF-8, a script starting with `#!` (it runs as an executable, so the kernel needs the interpreter line).
 */
function userDataSize(userData: string | undefined): number | null {
  if (userData === undefined) return null;
  const size = Buffer.byteLength(userData, 'utf8');
  if (size > USER_DATA_MAX_BYTES) {
    throw VM_ERRORS.error('vm.user_data_too_large', `user_data is ${size} bytes; at most ${USER_DATA_MAX_BYTES} (64 KiB) are accepted`, {
      size,
      max_size: USER_DATA_MAX_BYTES,
    });
  }
  if (!userData.startsWith('#!')) {
    throw VM_ERRORS.error(
      'vm.user_data_not_script',
      'user_data must be a script whose first line is an interpreter line such as #!/bin/sh',
    );
  }
  return size;
}

const nameTaken = (name: string) => VM_ERRORS.error('vm.name_taken', `You already have a VM named ${name}`);

/**
 * The VMs feature's entry point for controllers and other features: creates (credits, quota,
 * placement, the first job), reads, and the day-2 actions (VmActionsService), each in the file
 * that owns it. Data access is VmsRepository's; quotas VmQuotasService's; status changes of
 * workers and the reconciler VmTransitionsService's.
 */
@Injectable()
export class VmsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly vms: VmsRepository,
    private readonly credits: CreditsService,
    private readonly quotas: VmQuotasService,
    private readonly catalog: VmCatalogService,
    private readonly sshKeys: SshKeysService,
    private readonly placement: HostPlacementService,
    private readonly jobs: VmJobsService,
    private readonly actions: VmActionsService,
  ) {}

  /** A user's limits and what their live VMs use (`overrides`: when the caller has loaded the user already). */
  quotaUsage(userId: string, overrides?: QuotaOverrides): Promise<QuotaUsageDto> {
    return this.quotas.usage(userId, overrides);
  }

  /** The QUOTA_* defaults: the limits of a user without overrides. */
  quotaDefaults(): QuotaLimits {
    return this.quotas.limits({ vms: null, cpu_cores: null, ram_mb: null });
  }

  osTypes(): string[] {
    return this.catalog.osTypes();
  }

  async quotaCheck(user: AuthUser, dto: QuotaCheckDto) {
    if (dto.os_type !== undefined) this.catalog.assertOsType(dto.os_type);
    return this.credits.checkQuota(user, dto);
  }

  /**
   * Every check of a create but the payment and the placement, in the order create meets them: the
   * os_type, the SSH key ids, the quota, the name. Throws what create would answer for the body; the
   * credits guard runs it before answering 402, so a body that could never succeed is refused for
   * what is wrong with it whatever the balance. Read-only; create's own checks stay authoritative.
   */
  async validateCreate(user: AuthUser, dto: CreateVmDto, m: EntityManager = this.dataSource.manager): Promise<void> {
    this.catalog.assertOsType(dto.os_type);
    userDataSize(dto.user_data);
    await this.sshKeys.snapshotFor(m, user.id, dto.ssh_key_ids ?? []);
    await this.quotas.assertWithin(m, user.id, dto);
    if (await this.vms.nameInUse(user.id, dto.name, m)) throw nameTaken(dto.name);
  }

  /**
   * One transaction: debit (the conditional UPDATE refuses to overspend), place the VM on a host,
   * insert it with a copy of its SSH keys and its events, and enqueue the provisioning job on the
   * host's queue through pg-boss's `send` in the same transaction. Any failure (503
   * `capacity.unavailable` when no host has room) leaves no VM, no charge and no job (nor the
   * Idempotency-Key's claim and stored answer, also written here). Placement comes last: it locks
   * the chosen host's row until commit, and the VM row and its events are written in the one
   * statement that also re-checks the host's room (see HostPlacementService.place).
   */
  async create(user: AuthUser, dto: CreateVmDto, idempotency?: IdempotentRequest): Promise<Vm> {
    this.catalog.assertOsType(dto.os_type);
    const userDataBytes = userDataSize(dto.user_data);
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
        await this.quotas.assertWithin(m, user.id, dto);
        const sshUser = this.catalog.sshUser;
        const events = buildEvents([
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
              user_data_size: userDataBytes,
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
        ]);
        const need = { cpuCores: dto.cpu_cores, ramMb: dto.ram_mb, diskGb: dto.disk_gb };
        const vm = await this.placement.place(m, need, async (host, fits) => {
          const placed = await this.vms.insertIfFits(
            m,
            fits,
            {
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
              userData: dto.user_data ?? null,
              userDataSize: userDataBytes,
            },
            events,
          );
          if (placed) await this.jobs.send(m, placed);
          return placed;
        });
        await idempotency?.answer(m, toVmResponse(vm));
        return vm;
      });
      this.jobs.notify(vm.host);
      return vm;
    } catch (err) {
      if (uniqueViolation(err) === 'vms_user_name_active_key') {
        throw nameTaken(dto.name);
      }
      throw err;
    }
  }

  list(filter: VmFilter, page: PageQueryDto): Promise<Page<Vm>> {
    return this.vms.list(filter, page);
  }

  /** A VM by id; `ownerId` scopes it to one user. Anyone else's VM is "not found", never "forbidden". */
  get(id: string, ownerId?: string, manager?: EntityManager, lock = false): Promise<Vm> {
    return findVmOr404(this.vms, id, { ownerId, lock, m: manager });
  }

  /** A VM its owner or an admin may see (metrics routes); anyone else gets the same 404 as `get`. */
  getFor(caller: AuthUser, id: string): Promise<Vm> {
    return this.get(id, caller.role === 'admin' ? undefined : caller.id);
  }

  /** Running VMs whose machine lives on `host`: what that host's periodic jobs sample. */
  listRunningOnHost(host: string): Promise<Vm[]> {
    return this.vms.runningOnHost(host);
  }

  /** A rename and/or a metadata merge: see VmActionsService.update. */
  update(user: AuthUser, id: string, patch: { name?: string; metadata?: Record<string, unknown> }): Promise<Vm> {
    return this.actions.update(user, id, patch);
  }

  /** A state-machine action (start, stop, restart, destroy, resize, rebuild): see VmActionsService.requestAction. */
  requestAction(id: string, action: VmAction, ctx: ActionContext, change: VmActionChange = {}): Promise<Vm> {
    return this.actions.requestAction(id, action, ctx, change);
  }

  /** VMs per status, of one user or (no userId) of everyone, every status present (0 when none). */
  countByStatus(userId?: string): Promise<Record<VmStatus, number>> {
    return this.vms.countByStatus(userId);
  }
}
