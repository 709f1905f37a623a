import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { uniqueViolation } from '../../common/db-errors';
import type { AuthUser } from '../../common/auth';
import { EventsService } from '../events/events.service';
import type { RecordEventInput } from '../events/events.types';
import { CreditsService } from '../credits/credits.service';
import { HostPlacementService } from '../hosts/host-placement.service';
import { HostsService } from '../hosts/hosts.service';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { metadataProblem } from './dto/metadata.validator';
import { resizePrice } from './day2-pricing';
import type { VmActionChange } from './dto/vm.dto';
import { toVmResponse } from './dto/vm-response.dto';
import type { Vm } from './entities/vm.entity';
import { SnapshotsRepository } from './snapshots/snapshots.repository';
import { VmCatalogService } from './vm-catalog.service';
import { VmJobsService } from './vm-jobs.service';
import { VmQuotasService } from './vm-quotas.service';
import { allowedActions, nextStatus, VmAction } from './vm-state';
import { VmPatch, VmsRepository } from './vms.repository';
import { operationInProgress, VM_ERRORS } from './vms.errors';

export interface ActionContext {
  /** The caller. */
  actor: AuthUser;
  /** Limit to this owner's VMs (a user acting on their own); unset for admins. */
  ownerId?: string;
  reason?: string;
  /** The request's Idempotency-Key: claimed and answered inside the action's transaction. */
  idempotency?: IdempotentRequest;
}

const RESIZE_FIELDS = ['ram_mb', 'cpu_cores', 'disk_gb'] as const;
const ACTION_FIELDS: Record<keyof VmActionChange, VmAction> = {
  ram_mb: 'resize',
  cpu_cores: 'resize',
  disk_gb: 'resize',
  os_type: 'rebuild',
};

/** 400 vm.invalid_action_body for a field the action does not take, or a resize without a size: before anything is read. */
function assertActionBody(action: VmAction, change: VmActionChange): void {
  const foreign = (Object.keys(ACTION_FIELDS) as (keyof VmActionChange)[]).filter(
    (f) => change[f] !== undefined && ACTION_FIELDS[f] !== action,
  );
  if (foreign.length) {
    throw VM_ERRORS.error('vm.invalid_action_body', foreign.map((f) => `${f} is only accepted with action ${ACTION_FIELDS[f]}`).join('; '));
  }
  if (action === 'resize' && RESIZE_FIELDS.every((f) => change[f] === undefined)) {
    throw VM_ERRORS.error('vm.invalid_action_body', `resize needs at least one of ${RESIZE_FIELDS.join(', ')}`);
  }
}

/** A VM by id (`ownerId`: one user's); anyone else's VM is "not found", never "forbidden". */
export async function findVmOr404(
  vms: VmsRepository,
  id: string,
  opts: { ownerId?: string; lock?: boolean; m?: EntityManager } = {},
): Promise<Vm> {
  const vm = await vms.findOne(id, opts);
  if (!vm) throw VM_ERRORS.error('vm.not_found', 'VM not found');
  return vm;
}

/**
 * Actions on an existing VM (start, stop, restart, destroy, resize, rebuild) and its rename: each validates against the state machine and the VM's host,
 * then in one transaction (under the VM's row lock) changes the row, records the event(s) and
 * enqueues the provider job, answering the Idempotency-Key in the same transaction.
 */
@Injectable()
export class VmActionsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly vms: VmsRepository,
    private readonly events: EventsService,
    private readonly jobs: VmJobsService,
    private readonly hosts: HostsService,
    private readonly credits: CreditsService,
    private readonly quotas: VmQuotasService,
    private readonly placement: HostPlacementService,
    private readonly catalog: VmCatalogService,
    private readonly snapshots: SnapshotsRepository,
  ) {}

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
        let vm = await findVmOr404(this.vms, id, { ownerId: user.id, lock: true, m });
        const events: RecordEventInput[] = [];
        const set: VmPatch = {};
        if (patch.name !== undefined && patch.name !== vm.name) {
          if (vm.status === 'destroyed') {
            throw VM_ERRORS.error('vm.invalid_transition', 'A destroyed VM cannot be renamed', {
              vm_status: vm.status,
              allowed_actions: [],
            });
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
        vm = await this.vms.update(m, vm, set);
        await this.events.recordAll(m, events);
        return vm;
      });
    } catch (err) {
      if (patch.name !== undefined && uniqueViolation(err) === 'vms_user_name_active_key') {
        throw VM_ERRORS.error('vm.name_taken', `You already have a VM named ${patch.name}`);
      }
      throw err;
    }
  }

  /**
   * Validates the action against the state machine and, in one transaction, moves the VM to the
   * transitional status, records the event(s) and enqueues the job. 409 lists the allowed actions;
   * while a snapshot is being taken or deleted only destroy is accepted (409 vm.operation_in_progress).
   * Resize (stopped VMs only) also takes the new size, charges the price difference and re-checks
   * quotas and the host's room; rebuild may switch the OS, runs the user data again and removes the
   * VM's snapshots (the host's copies go with the wiped machine).
   */
  async requestAction(id: string, action: VmAction, ctx: ActionContext, change: VmActionChange = {}): Promise<Vm> {
    assertActionBody(action, change);
    const vm = await this.dataSource.transaction(async (m) => {
      await ctx.idempotency?.claim(m);
      const vm = await findVmOr404(this.vms, id, { ownerId: ctx.ownerId, lock: true, m });
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
      const charges: RecordEventInput[] = [];
      const patch: VmPatch = { status: to, statusChangedAt: new Date() };
      let details: Record<string, unknown> = {};
      if (action === 'resize') details = await this.prepareResize(m, vm, change, patch, charges);
      if (action === 'rebuild') details = await this.prepareRebuild(m, vm, change, patch);
      // A destroy takes the slot of a pending snapshot operation: that job finds its snapshot gone.
      if (action === 'destroy' && vm.pendingOperation) patch.pendingOperation = null;
      const saved = await this.vms.update(m, vm, patch);
      const events: RecordEventInput[] = [
        {
          action: 'vm.action_requested',
          message: `${action} requested for VM ${vm.name} (${from} -> ${to})`,
          details: { action, from, to, ...details },
          userId: vm.userId,
          vmId: vm.id,
          actorId: byAdmin ? ctx.actor.id : null,
        },
        ...charges,
      ];
      if (byAdmin) {
        events.push({
          action: 'admin.vm_action',
          message: `Admin ${ctx.actor.username} requested ${action} on VM ${vm.name} of user ${vm.userId}`,
          details: { action, from, to, reason: ctx.reason ?? null, target_user_id: vm.userId, ...details },
          userId: vm.userId,
          vmId: vm.id,
          actorId: ctx.actor.id,
        });
      }
      await this.events.recordAll(m, events);
      await this.jobs.send(m, saved);
      await ctx.idempotency?.answer(m, toVmResponse(saved));
      return saved;
    });
    this.jobs.notify(vm.host);
    return vm;
  }

  /**
   * Resize of a stopped VM, in the action's transaction: the disk only grows (409 vm.disk_shrink);
   * the price difference by the create formula is debited when positive (402 when short; nothing is
   * refunded when smaller); the quotas on cores and RAM are checked again (after the debit locked the
   * user's row), and the host's room under its row lock, the one placement takes (409
   * capacity.host_full). Any refusal rolls everything back: nothing charged, nothing changed.
   */
  private async prepareResize(
    m: EntityManager,
    vm: Vm,
    change: VmActionChange,
    patch: VmPatch,
    charges: RecordEventInput[],
  ): Promise<Record<string, unknown>> {
    const old = { ram_mb: vm.ramMb, cpu_cores: vm.cpuCores, disk_gb: vm.diskGb };
    const next = {
      ram_mb: change.ram_mb ?? old.ram_mb,
      cpu_cores: change.cpu_cores ?? old.cpu_cores,
      disk_gb: change.disk_gb ?? old.disk_gb,
    };
    if (next.disk_gb < old.disk_gb) {
      throw VM_ERRORS.error(
        'vm.disk_shrink',
        `A disk only grows: this VM has ${old.disk_gb} GB, so disk_gb must be at least ${old.disk_gb}`,
        {
          disk_gb: old.disk_gb,
        },
      );
    }
    if (next.ram_mb === old.ram_mb && next.cpu_cores === old.cpu_cores && next.disk_gb === old.disk_gb) {
      throw VM_ERRORS.error('vm.resize_unchanged', `The VM already has ${old.ram_mb} MB, ${old.cpu_cores} cores and ${old.disk_gb} GB`);
    }
    const pricing = resizePrice(this.credits.calculateCost(old), this.credits.calculateCost(next));
    if (pricing.charge > 0) {
      const charge = await this.credits.apply(m, {
        userId: vm.userId,
        amount: -pricing.charge,
        kind: 'vm_resize',
        reason: `Resize of VM ${vm.name}`,
        vmId: vm.id,
      });
      charges.push({
        action: 'system.credit_deduction',
        message: `Charged ${pricing.charge} credits for the resize of VM ${vm.name}`,
        details: { amount: -pricing.charge, balance_after: charge.balanceAfter, ledger_id: charge.id },
        userId: vm.userId,
        vmId: vm.id,
      });
    }
    const more = {
      cpuCores: Math.max(0, next.cpu_cores - old.cpu_cores),
      ramMb: Math.max(0, next.ram_mb - old.ram_mb),
      diskGb: next.disk_gb - old.disk_gb,
    };
    await this.quotas.assertWithin(m, vm.userId, { vms: 0, cpu_cores: more.cpuCores, ram_mb: more.ramMb });
    if (vm.host !== null) await this.placement.assertRoomForMore(m, vm.host, more);
    Object.assign(patch, { ramMb: next.ram_mb, cpuCores: next.cpu_cores, diskGb: next.disk_gb, cost: pricing.cost });
    return { old, new: next, charged: pricing.charge };
  }

  /**
   * Rebuild: the OS may change (checked against the catalog); the disk is wiped, the VM's snapshots
   * with it, and its user data (if any) runs again at the new first boot. Free.
   */
  private async prepareRebuild(m: EntityManager, vm: Vm, change: VmActionChange, patch: VmPatch): Promise<Record<string, unknown>> {
    if (change.os_type !== undefined) {
      this.catalog.assertOsType(change.os_type);
      patch.osType = change.os_type;
    }
    if (vm.userDataSize !== null) patch.userDataStatus = 'pending';
    const removed = await this.snapshots.removeAllOf(m, vm.id);
    return { os_type: change.os_type ?? vm.osType, previous_os_type: vm.osType, snapshots_removed: removed };
  }

  /**
   * What an action does while the VM's host is offline (its workers are down or cut off): stop and
   * destroy are accepted (202) and wait in the host's queue, the VM in `stopping`/`destroying`,
   * until the host is back; the others (start, restart, resize, rebuild) answer 409 `host.offline`
   * and change nothing, since what the caller wants cannot happen there now and may happen much
   * later than meant (a resize would be charged for it meanwhile).
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
    if (availability === 'unknown') await this.jobs.ensureHostQueue(vm.host);
  }
}
