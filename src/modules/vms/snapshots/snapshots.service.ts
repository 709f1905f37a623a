import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Page, paginate, PageQueryDto } from '../../../common/pagination';
import type { Env } from '../../../config/env.validation';
import { prepared } from '../../../database/prepared';
import { QueueService } from '../../../queue/queue.service';
import type { AuthUser } from '../../../common/auth';
import { CreditsService } from '../../credits/credits.service';
import { EventsService } from '../../events/events.service';
import type { RecordEventInput } from '../../events/events.types';
import { HostsService } from '../../hosts/hosts.service';
import type { IdempotentRequest } from '../../idempotency/idempotency.service';
import { snapshotPrice } from '../day2-pricing';
import { toVmResponse } from '../dto/vm-response.dto';
import type { Vm } from '../entities/vm.entity';
import { VmSnapshot } from '../entities/vm-snapshot.entity';
import { ensureVmOperationQueue, jobExpirySeconds, OPERATION_TIMEOUTS, OperationTimeouts, vmOperationQueue, VmOperationJob } from '../vm-jobs';
import { VM_COLUMNS, vmFromRow, VmRow } from '../vm-row';
import { allowedActions, SNAPSHOT_STATUSES } from '../vm-state';
import { VM_ERRORS } from '../vms.errors';
import { operationInProgress, VmsService } from '../vms.service';
import { toSnapshotResponse } from './snapshot.dto';
import { Inject } from '@nestjs/common';

/**
 * Snapshots of a VM's disk (Incus / DigitalOcean semantics), kept on the VM's host. Taking one is
 * paid (snapshot_create, never refunded) and runs while the VM stays running or stopped; deleting
 * and restoring are free. Every request is one transaction under the VM's row lock: checks, charge,
 * rows, events, the job on the VM's host's queue and the Idempotency-Key's answer, or nothing.
 */
@Injectable()
export class SnapshotsService {
  constructor(
    private readonly dataSource: DataSource,
    @InjectRepository(VmSnapshot) private readonly snapshots: Repository<VmSnapshot>,
    private readonly vms: VmsService,
    private readonly credits: CreditsService,
    private readonly events: EventsService,
    private readonly queue: QueueService,
    private readonly hosts: HostsService,
    private readonly config: ConfigService<Env, true>,
    @Inject(OPERATION_TIMEOUTS) private readonly timeouts: OperationTimeouts,
  ) {}

  /** The price of a snapshot of a VM with this disk. */
  price(diskGb: number): number {
    return snapshotPrice(diskGb, this.config.get('SNAPSHOT_CREDITS_PER_10GB', { infer: true }));
  }

  async list(user: AuthUser, vmId: string, page: PageQueryDto): Promise<Page<VmSnapshot>> {
    await this.vms.get(vmId, user.id);
    return paginate(this.snapshots.createQueryBuilder('s').where('s.vm_id = :vmId', { vmId }), page);
  }

  async get(user: AuthUser, vmId: string, snapshotId: string): Promise<VmSnapshot> {
    await this.vms.get(vmId, user.id);
    return this.find(this.snapshots.manager, vmId, snapshotId);
  }

  private async find(m: EntityManager, vmId: string, snapshotId: string, lock = false): Promise<VmSnapshot> {
    const qb = m.getRepository(VmSnapshot).createQueryBuilder('s').where('s.id = :snapshotId AND s.vm_id = :vmId', { snapshotId, vmId });
    const snapshot = await (lock ? qb.setLock('pessimistic_write') : qb).getOne();
    if (!snapshot) throw VM_ERRORS.error('snapshot.not_found', 'Snapshot not found');
    return snapshot;
  }

  /** The VM, locked, if it is settled (running or stopped), holds no other operation and its host is online. */
  private async lockReadyVm(m: EntityManager, user: AuthUser, vmId: string, what: string): Promise<Vm> {
    const vm = await this.vms.get(vmId, user.id, m, true);
    if (!SNAPSHOT_STATUSES.includes(vm.status)) {
      const allowed = allowedActions(vm.status, vm.pendingOperation);
      throw VM_ERRORS.error('vm.invalid_transition', `Cannot ${what} while the VM is ${vm.status}; it must be running or stopped`, {
        vm_status: vm.status,
        allowed_actions: allowed,
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
      if (availability === 'unknown') await ensureVmOperationQueue(this.queue, vmOperationQueue(vm.host));
    }
    return vm;
  }

  private async enqueue(m: EntityManager, vm: Vm, job: VmOperationJob): Promise<void> {
    await this.queue.send<VmOperationJob>(m, vmOperationQueue(vm.host), job, { expireInSeconds: jobExpirySeconds(job.op, this.timeouts) });
  }

  async create(user: AuthUser, vmId: string, name: string, idempotency?: IdempotentRequest): Promise<VmSnapshot> {
    const id = uuidv7();
    const snapshot = await this.dataSource.transaction(async (m) => {
      await idempotency?.claim(m);
      const vm = await this.lockReadyVm(m, user, vmId, 'take a snapshot');
      const limit = this.config.get('SNAPSHOTS_MAX_PER_VM', { infer: true });
      const [{ count, taken }]: { count: number; taken: boolean }[] = await m.query(
        prepared(`SELECT count(*)::int AS count, bool_or(name = $2) AS taken FROM vm_snapshots WHERE vm_id = $1`),
        [vm.id, name],
      );
      if (taken) throw VM_ERRORS.error('snapshot.name_taken', `VM ${vm.name} already has a snapshot named ${name}`);
      if (count >= limit) {
        throw VM_ERRORS.error('snapshot.limit_reached', `VM ${vm.name} holds ${count} snapshots, the most allowed (SNAPSHOTS_MAX_PER_VM); delete one first`, {
          limit,
        });
      }
      const cost = this.price(vm.diskGb);
      const charge = await this.credits.apply(m, { userId: vm.userId, amount: -cost, kind: 'snapshot_create', reason: `Snapshot ${name} of VM ${vm.name}`, vmId: vm.id });
      const [row]: (Record<string, unknown> & { created_at: Date; updated_at: Date })[] = await m.query(
        prepared(`INSERT INTO vm_snapshots (id, vm_id, name, status, size_gb, cost) VALUES ($1, $2, $3, 'creating', $4, $5) RETURNING created_at, updated_at`),
        [id, vm.id, name, vm.diskGb, cost],
      );
      await m.query(prepared(`UPDATE vms SET pending_operation = 'snapshot_create', updated_at = now() WHERE id = $1`), [vm.id]);
      const events: RecordEventInput[] = [
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
      ];
      await this.events.recordAll(m, events);
      await this.enqueue(m, vm, { vmId: vm.id, op: 'snapshot_create', expect: vm.status, snapshotId: id });
      const snapshot: VmSnapshot = { id, vmId: vm.id, name, status: 'creating', sizeGb: vm.diskGb, cost, createdAt: row.created_at, updatedAt: row.updated_at };
      await idempotency?.answer(m, toSnapshotResponse(snapshot));
      return { snapshot, host: vm.host };
    });
    this.queue.notify(vmOperationQueue(snapshot.host));
    return snapshot.snapshot;
  }

  async delete(user: AuthUser, vmId: string, snapshotId: string, idempotency?: IdempotentRequest): Promise<VmSnapshot> {
    const result = await this.dataSource.transaction(async (m) => {
      await idempotency?.claim(m);
      const vm = await this.lockReadyVm(m, user, vmId, 'delete a snapshot');
      const snapshot = await this.find(m, vm.id, snapshotId, true);
      if (snapshot.status !== 'available' && snapshot.status !== 'failed') {
        throw VM_ERRORS.error('snapshot.invalid_state', `Snapshot ${snapshot.name} is ${snapshot.status}; only available or failed snapshots can be deleted`, {
          snapshot_status: snapshot.status,
        });
      }
      await m.query(prepared(`UPDATE vm_snapshots SET status = 'deleting', updated_at = now() WHERE id = $1`), [snapshot.id]);
      await m.query(prepared(`UPDATE vms SET pending_operation = 'snapshot_delete', updated_at = now() WHERE id = $1`), [vm.id]);
      await this.events.record(m, {
        action: 'vm.snapshot_delete_requested',
        message: `Deletion of snapshot ${snapshot.name} of VM ${vm.name} requested`,
        details: { snapshot_id: snapshot.id, name: snapshot.name },
        userId: vm.userId,
        vmId: vm.id,
      });
      await this.enqueue(m, vm, { vmId: vm.id, op: 'snapshot_delete', expect: vm.status, snapshotId: snapshot.id });
      const deleting: VmSnapshot = { ...snapshot, status: 'deleting' };
      await idempotency?.answer(m, toSnapshotResponse(deleting));
      return { snapshot: deleting, host: vm.host };
    });
    this.queue.notify(vmOperationQueue(result.host));
    return result.snapshot;
  }

  /** The VM goes `restoring` and comes back in the power state it has now, its disk as at the snapshot. */
  async restore(user: AuthUser, vmId: string, snapshotId: string, idempotency?: IdempotentRequest): Promise<Vm> {
    const vm = await this.dataSource.transaction(async (m) => {
      await idempotency?.claim(m);
      const vm = await this.lockReadyVm(m, user, vmId, 'restore a snapshot');
      const snapshot = await this.find(m, vm.id, snapshotId, true);
      if (snapshot.status !== 'available') {
        throw VM_ERRORS.error('snapshot.invalid_state', `Snapshot ${snapshot.name} is ${snapshot.status}; only an available snapshot can be restored`, {
          snapshot_status: snapshot.status,
        });
      }
      const then = vm.status as 'running' | 'stopped';
      const [rows]: [VmRow[]] = await m.query(
        prepared(`UPDATE vms SET status = 'restoring', status_changed_at = now(), updated_at = now() WHERE id = $1 RETURNING ${VM_COLUMNS}`),
        [vm.id],
      );
      const saved = vmFromRow(rows[0]);
      await this.events.record(m, {
        action: 'vm.snapshot_restore_requested',
        message: `Restore of VM ${vm.name} to snapshot ${snapshot.name} requested (${then} -> restoring -> ${then})`,
        details: { snapshot_id: snapshot.id, name: snapshot.name, from: then, to: 'restoring', then },
        userId: vm.userId,
        vmId: vm.id,
      });
      await this.enqueue(m, saved, { vmId: vm.id, op: 'restore', expect: 'restoring', snapshotId: snapshot.id, then });
      await idempotency?.answer(m, toVmResponse(saved));
      return saved;
    });
    this.queue.notify(vmOperationQueue(vm.host));
    return vm;
  }
}
