import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource, EntityManager } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import type { AuthUser } from '../../../common/auth';
import { decodeCursor, Page, PageQueryDto } from '../../../common/pagination';
import type { Env } from '../../../config/env.validation';
import { CreditsService } from '../../credits/credits.service';
import { EventsService } from '../../events/events.service';
import { HostsService } from '../../hosts/hosts.service';
import type { IdempotentRequest } from '../../idempotency/idempotency.service';
import { snapshotPrice } from '../day2-pricing';
import { toVmResponse } from '../dto/vm-response.dto';
import type { Vm } from '../entities/vm.entity';
import type { VmSnapshot } from '../entities/vm-snapshot.entity';
import { findVmOr404 } from '../vm-actions.service';
import { VmJobsService } from '../vm-jobs.service';
import { allowedActions, SNAPSHOT_STATUSES } from '../vm-state';
import { VmsRepository } from '../vms.repository';
import { operationInProgress, VM_ERRORS } from '../vms.errors';
import { toSnapshotResponse } from './snapshot.dto';
import { SnapshotsRepository } from './snapshots.repository';

/**
 * Snapshots of a VM's disk (Incus / DigitalOcean semantics), kept on the VM's host. Taking one is
 * paid (snapshot_create, never refunded) and runs while the VM stays running or stopped; deleting
 * and restoring are free. Every request is one transaction under the VM's row lock: checks, charge,
 * rows, events, the job on the VM's host's queue and the Idempotency-Key's answer, or nothing.
 * Taking or deleting one holds the VM's one operation slot (`pending_operation`) until the job ends;
 * a restore moves the VM to `restoring`, like an action.
 */
@Injectable()
export class SnapshotsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly snapshots: SnapshotsRepository,
    private readonly vms: VmsRepository,
    private readonly credits: CreditsService,
    private readonly events: EventsService,
    private readonly jobs: VmJobsService,
    private readonly hosts: HostsService,
    private readonly config: ConfigService<Env, true>,
  ) {}

  /** The price of a snapshot of a VM with this disk: max(1, ceil(disk_gb / 10 * SNAPSHOT_CREDITS_PER_10GB)). */
  price(diskGb: number): number {
    return snapshotPrice(diskGb, this.config.get('SNAPSHOT_CREDITS_PER_10GB', { infer: true }));
  }

  async list(user: AuthUser, vmId: string, page: PageQueryDto): Promise<Page<VmSnapshot>> {
    // A malformed cursor is refused for what it is before the VM is looked up (as every paginated route does).
    if (page.cursor !== undefined) decodeCursor(page.cursor);
    await findVmOr404(this.vms, vmId, { ownerId: user.id });
    return this.snapshots.list(vmId, page);
  }

  async get(user: AuthUser, vmId: string, snapshotId: string): Promise<VmSnapshot> {
    await findVmOr404(this.vms, vmId, { ownerId: user.id });
    return this.find(vmId, snapshotId);
  }

  private async find(vmId: string, snapshotId: string, m?: EntityManager): Promise<VmSnapshot> {
    const snapshot = await this.snapshots.findOne(vmId, snapshotId, { m, lock: m !== undefined });
    if (!snapshot) throw VM_ERRORS.error('snapshot.not_found', 'Snapshot not found');
    return snapshot;
  }

  /** The user's VM, locked, if it is settled (running or stopped), holds no other operation and its host is online. */
  private async lockReadyVm(m: EntityManager, user: AuthUser, vmId: string, what: string): Promise<Vm> {
    const vm = await findVmOr404(this.vms, vmId, { ownerId: user.id, lock: true, m });
    if (!SNAPSHOT_STATUSES.includes(vm.status)) {
      throw VM_ERRORS.error('vm.invalid_transition', `Cannot ${what} while the VM is ${vm.status}; it must be running or stopped`, {
        vm_status: vm.status,
        allowed_actions: allowedActions(vm.status, vm.pendingOperation),
      });
    }
    if (vm.pendingOperation) throw operationInProgress(vm);
    if (vm.host !== null) {
      const availability = await this.hosts.availability(m, vm.host);
      if (availability === 'offline') {
        throw VM_ERRORS.error('host.offline', `The hypervisor host of this VM is offline; cannot ${what} until it is back`, {
          vm_status: vm.status,
          allowed_actions: allowedActions(vm.status).filter((a) => a === 'stop' || a === 'destroy'),
        });
      }
      // A host that never registered (a name from before hosts) has no queue yet: the job waits in one.
      if (availability === 'unknown') await this.jobs.ensureHostQueue(vm.host);
    }
    return vm;
  }

  async create(user: AuthUser, vmId: string, name: string, idempotency?: IdempotentRequest): Promise<VmSnapshot> {
    const id = uuidv7();
    const { snapshot, host } = await this.dataSource.transaction(async (m) => {
      await idempotency?.claim(m);
      const vm = await this.lockReadyVm(m, user, vmId, 'take a snapshot');
      const limit = this.config.get('SNAPSHOTS_MAX_PER_VM', { infer: true });
      const { count, taken } = await this.snapshots.usage(m, vm.id, name);
      if (taken) throw VM_ERRORS.error('snapshot.name_taken', `VM ${vm.name} already has a snapshot named ${name}`);
      if (count >= limit) {
        throw VM_ERRORS.error(
          'snapshot.limit_reached',
          `VM ${vm.name} holds ${count} snapshots, the most allowed (SNAPSHOTS_MAX_PER_VM); delete one first`,
          { limit },
        );
      }
      const cost = this.price(vm.diskGb);
      const charge = await this.credits.apply(m, {
        userId: vm.userId,
        amount: -cost,
        kind: 'snapshot_create',
        reason: `Snapshot ${name} of VM ${vm.name}`,
        vmId: vm.id,
      });
      const snapshot = await this.snapshots.insert(m, { id, vmId: vm.id, name, sizeGb: vm.diskGb, cost });
      await this.vms.update(m, vm, { pendingOperation: 'snapshot_create' });
      await this.events.recordAll(m, [
        {
          action: 'vm.snapshot_requested',
          message: `Snapshot ${name} of VM ${vm.name} requested (${vm.diskGb} GB, VM ${vm.status})`,
          details: { snapshot_id: id, name, size_gb: vm.diskGb, cost, vm_status: vm.status },
          userId: vm.userId,
          vmId: vm.id,
        },
        {
          action: 'system.credit_deduction',
          message: `Charged ${cost} credits for snapshot ${name} of VM ${vm.name}`,
          details: { amount: -cost, balance_after: charge.balanceAfter, ledger_id: charge.id, snapshot_id: id },
          userId: vm.userId,
          vmId: vm.id,
        },
      ]);
      await this.jobs.sendSnapshotJob(m, vm, 'snapshot_create', id);
      await idempotency?.answer(m, toSnapshotResponse(snapshot));
      return { snapshot, host: vm.host };
    });
    this.jobs.notify(host);
    return snapshot;
  }

  async delete(user: AuthUser, vmId: string, snapshotId: string, idempotency?: IdempotentRequest): Promise<VmSnapshot> {
    const { snapshot, host } = await this.dataSource.transaction(async (m) => {
      await idempotency?.claim(m);
      const vm = await this.lockReadyVm(m, user, vmId, 'delete a snapshot');
      const found = await this.find(vm.id, snapshotId, m);
      if (found.status !== 'available' && found.status !== 'failed') {
        throw VM_ERRORS.error(
          'snapshot.invalid_state',
          `Snapshot ${found.name} is ${found.status}; only available or failed snapshots can be deleted`,
          { snapshot_status: found.status },
        );
      }
      const snapshot = await this.snapshots.markDeleting(m, found.id);
      await this.vms.update(m, vm, { pendingOperation: 'snapshot_delete' });
      await this.events.record(m, {
        action: 'vm.snapshot_delete_requested',
        message: `Deletion of snapshot ${snapshot.name} of VM ${vm.name} requested`,
        details: { snapshot_id: snapshot.id, name: snapshot.name },
        userId: vm.userId,
        vmId: vm.id,
      });
      await this.jobs.sendSnapshotJob(m, vm, 'snapshot_delete', snapshot.id);
      await idempotency?.answer(m, toSnapshotResponse(snapshot));
      return { snapshot, host: vm.host };
    });
    this.jobs.notify(host);
    return snapshot;
  }

  /** The VM goes `restoring` and comes back in the power state it has now, its disk as at the snapshot. */
  async restore(user: AuthUser, vmId: string, snapshotId: string, idempotency?: IdempotentRequest): Promise<Vm> {
    const vm = await this.dataSource.transaction(async (m) => {
      await idempotency?.claim(m);
      const vm = await this.lockReadyVm(m, user, vmId, 'restore a snapshot');
      const snapshot = await this.find(vm.id, snapshotId, m);
      if (snapshot.status !== 'available') {
        throw VM_ERRORS.error(
          'snapshot.invalid_state',
          `Snapshot ${snapshot.name} is ${snapshot.status}; only an available snapshot can be restored`,
          { snapshot_status: snapshot.status },
        );
      }
      const then = vm.status === 'stopped' ? 'stopped' : 'running';
      const saved = await this.vms.update(m, vm, { status: 'restoring', statusChangedAt: new Date() });
      await this.events.record(m, {
        action: 'vm.snapshot_restore_requested',
        message: `Restore of VM ${vm.name} to snapshot ${snapshot.name} requested (${then} -> restoring -> ${then})`,
        details: { snapshot_id: snapshot.id, name: snapshot.name, from: then, to: 'restoring', then },
        userId: vm.userId,
        vmId: vm.id,
      });
      await this.jobs.send(m, saved, { snapshotId: snapshot.id, then });
      await idempotency?.answer(m, toVmResponse(saved));
      return saved;
    });
    this.jobs.notify(vm.host);
    return vm;
  }
}
