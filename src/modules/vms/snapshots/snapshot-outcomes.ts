import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EventsService } from '../../events/events.service';
import { ProviderError } from '../providers/vm-provider.interface';
import type { VmOperationJob } from '../vm-jobs';
import type { VmPendingOperation } from '../vm-state';
import { VmsRepository } from '../vms.repository';
import { SnapshotsRepository } from './snapshots.repository';

/** A job that takes or deletes a snapshot. */
export type SnapshotJob = VmOperationJob & { op: VmPendingOperation; snapshotId: string };

export const isSnapshotJob = (job: VmOperationJob): job is SnapshotJob =>
  (job.op === 'snapshot_create' || job.op === 'snapshot_delete') && typeof job.snapshotId === 'string';

/** Who the events of a snapshot's outcome are about. */
interface VmRef {
  id: string;
  name: string;
  userId: string;
}

function trimOutput(text: string, max = 2000): string {
  const t = text.trim();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

/**
 * The worker's side of snapshot jobs: each outcome changes the snapshot, frees the VM's operation
 * slot (`pending_operation`) and records its event in one transaction. The VM's status never changes
 * here: a failed snapshot is the snapshot's failure, not the machine's.
 */
@Injectable()
export class SnapshotOutcomes {
  private readonly logger = new Logger(SnapshotOutcomes.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly snapshots: SnapshotsRepository,
    private readonly vms: VmsRepository,
    private readonly events: EventsService,
  ) {}

  /** Whether the job is still wanted: its snapshot exists and is still `creating` / `deleting`. */
  pendingFor(job: SnapshotJob): Promise<boolean> {
    return this.snapshots.isIn(job.vmId, job.snapshotId, job.op === 'snapshot_create' ? 'creating' : 'deleting');
  }

  async succeed(vm: VmRef, job: SnapshotJob, host: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const created = job.op === 'snapshot_create';
      const row = created ? await this.snapshots.markAvailable(m, job.snapshotId) : await this.snapshots.removeDeleted(m, job.snapshotId);
      await this.vms.releasePendingOperation(m, job.vmId, job.op);
      if (!row) return; // it went meanwhile (the VM's destroy)
      await this.events.record(m, {
        action: created ? 'vm.snapshot_created' : 'vm.snapshot_deleted',
        message: `Snapshot ${row.name} of VM ${vm.name} ${created ? 'is available' : 'deleted'}`,
        details: { snapshot_id: job.snapshotId, name: row.name, size_gb: row.size_gb, host },
        userId: vm.userId,
        vmId: vm.id,
      });
    });
    this.logger.log(`VM ${vm.id}: ${job.op} of snapshot ${job.snapshotId} done`);
  }

  /** The snapshot `failed` (its price is not refunded), the VM's slot free, a critical event. */
  async fail(vm: VmRef, job: SnapshotJob, err: unknown, host: string | null): Promise<void> {
    const pe = err instanceof ProviderError ? err : undefined;
    const message = err instanceof Error ? err.message : String(err);
    await this.dataSource.transaction(async (m) => {
      const row = await this.snapshots.markFailed(m, job.snapshotId);
      await this.vms.releasePendingOperation(m, job.vmId, job.op);
      if (!row) return;
      await this.events.record(m, {
        action: 'vm.snapshot_failed',
        message: `VM ${vm.name}: ${job.op === 'snapshot_create' ? 'taking' : 'deleting'} snapshot ${row.name} failed: ${message}`,
        details: {
          op: job.op,
          snapshot_id: job.snapshotId,
          name: row.name,
          error: message,
          output: trimOutput(pe?.output ?? ''),
          timed_out: pe?.timedOut ?? false,
          host,
        },
        userId: vm.userId,
        vmId: vm.id,
      });
    });
    this.logger.warn(`VM ${vm.id}: ${job.op} of snapshot ${job.snapshotId} failed: ${message}`);
  }

  /** A snapshot job that exhausted its retries (its workers kept dying). */
  async abandon(job: SnapshotJob): Promise<void> {
    const vm = await this.vms.findOne(job.vmId);
    if (!vm) return;
    await this.fail(vm, job, new ProviderError('abandoned after repeated worker failures', '', true), null);
  }
}
