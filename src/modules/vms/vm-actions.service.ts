import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { uniqueViolation } from '../../common/db-errors';
import type { AuthUser } from '../../common/auth';
import { EventsService } from '../events/events.service';
import type { RecordEventInput } from '../events/events.types';
import { HostsService } from '../hosts/hosts.service';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { metadataProblem } from './dto/metadata.validator';
import { toVmResponse } from './dto/vm-response.dto';
import type { Vm } from './entities/vm.entity';
import { VmJobsService } from './vm-jobs.service';
import { allowedActions, nextStatus, VmAction } from './vm-state';
import { VmPatch, VmsRepository } from './vms.repository';
import { VM_ERRORS } from './vms.errors';

export interface ActionContext {
  /** The caller. */
  actor: AuthUser;
  /** Limit to this owner's VMs (a user acting on their own); unset for admins. */
  ownerId?: string;
  reason?: string;
  /** The request's Idempotency-Key: claimed and answered inside the action's transaction. */
  idempotency?: IdempotentRequest;
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
 * Day-2 operations on an existing VM: each validates against the state machine and the VM's host,
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
   * transitional status, records the event(s) and enqueues the job. 409 lists the allowed actions.
   */
  async requestAction(id: string, action: VmAction, ctx: ActionContext): Promise<Vm> {
    const vm = await this.dataSource.transaction(async (m) => {
      await ctx.idempotency?.claim(m);
      const vm = await findVmOr404(this.vms, id, { ownerId: ctx.ownerId, lock: true, m });
      const to = nextStatus(vm.status, action);
      if (!to) {
        const allowed = allowedActions(vm.status);
        throw VM_ERRORS.error(
          'vm.invalid_transition',
          `Cannot ${action} a VM that is ${vm.status}; allowed now: ${allowed.join(', ') || 'none'}`,
          { vm_status: vm.status, allowed_actions: allowed },
        );
      }
      await this.assertHostCanTake(m, vm, action);
      const from = vm.status;
      const saved = await this.vms.update(m, vm, { status: to, statusChangedAt: new Date() });
      const byAdmin = ctx.actor.id !== vm.userId;
      const events: RecordEventInput[] = [
        {
          action: 'vm.action_requested',
          message: `${action} requested for VM ${vm.name} (${from} -> ${to})`,
          details: { action, from, to },
          userId: vm.userId,
          vmId: vm.id,
          actorId: byAdmin ? ctx.actor.id : null,
        },
      ];
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
      await this.jobs.send(m, saved);
      await ctx.idempotency?.answer(m, toVmResponse(saved));
      return saved;
    });
    this.jobs.notify(vm.host);
    return vm;
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
    if (action === 'start' || action === 'restart') {
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
