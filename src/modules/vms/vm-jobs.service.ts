import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { QueueService } from '../../queue/queue.service';
import type { Vm } from './entities/vm.entity';
import {
  ensureVmOperationQueue,
  jobExpirySeconds,
  OPERATION_TIMEOUTS,
  OperationTimeouts,
  vmOperationQueue,
  VmOperationJob,
} from './vm-jobs';
import { TRANSITIONS, type VmPendingOperation } from './vm-state';

/** The provider operations a VM's status asks for, as jobs on its host's queue. */
@Injectable()
export class VmJobsService {
  constructor(
    private readonly queue: QueueService,
    @Inject(OPERATION_TIMEOUTS) private readonly timeouts: OperationTimeouts,
  ) {}

  /**
   * Sends the job that completes the VM's current transitional status, in the caller's transaction
   * (pg-boss's `send` with the transaction as its `db`), to the VM's host's queue: only that host's
   * workers run it, whenever the host is online.
   */
  async send(
    m: EntityManager,
    vm: Pick<Vm, 'id' | 'status' | 'host'>,
    extra: Pick<VmOperationJob, 'snapshotId' | 'then'> = {},
  ): Promise<void> {
    const t = TRANSITIONS[vm.status];
    if (!t) throw new Error(`status ${vm.status} has no operation`);
    await this.sendJob(m, vm.host, { vmId: vm.id, op: t.op, expect: vm.status, ...extra });
  }

  /**
   * A snapshot being taken or deleted, on the VM's host's queue: the VM's status does not change
   * (the job's `expect` is the status when asked); the snapshot's own status says whether it is still wanted.
   */
  async sendSnapshotJob(
    m: EntityManager,
    vm: Pick<Vm, 'id' | 'status' | 'host'>,
    op: VmPendingOperation,
    snapshotId: string,
  ): Promise<void> {
    await this.sendJob(m, vm.host, { vmId: vm.id, op, expect: vm.status, snapshotId });
  }

  private async sendJob(m: EntityManager, host: string | null, job: VmOperationJob): Promise<void> {
    await this.queue.send<VmOperationJob>(m, vmOperationQueue(host), job, { expireInSeconds: jobExpirySeconds(job.op, this.timeouts) });
  }

  /** After the commit: wakes this process's workers of the VM's host, if it has any. */
  notify(host: string | null): void {
    this.queue.notify(vmOperationQueue(host));
  }

  /** The queue of a host that never registered (a name from before hosts), so a job can wait in it. */
  ensureHostQueue(host: string): Promise<void> {
    return ensureVmOperationQueue(this.queue, vmOperationQueue(host));
  }
}
