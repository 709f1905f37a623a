import { Injectable, Logger } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { prepared } from '../../../database/prepared';
import { EventsService } from '../../events/events.service';
import { ProviderError } from '../providers/vm-provider.interface';
import type { VmOperationJob } from '../vm-jobs';

type SnapshotJob = VmOperationJob & { op: 'snapshot_create' | 'snapshot_delete'; snapshotId: string };

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
    private readonly events: EventsService,
  ) {}

  /** Whether the job is still wanted: its snapshot exists and is still `creating` / `deleting`. */
  async pendingFor(job: SnapshotJob): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(prepared(`SELECT 1 FROM vm_snapshots WHERE id = $1 AND vm_id = $2 AND status = $3`), [
      job.snapshotId,
      job.vmId,
      job.op === 'snapshot_create' ? 'creating' : 'deleting',
    ]);
    return rows.length > 0;
  }

  private async release(m: EntityManager, job: SnapshotJob): Promise<void> {
    await m.query(prepared(`UPDATE vms SET pending_operation = NULL, updated_at = now() WHERE id = $1 AND pending_operation = $2`), [job.vmId, job.op]);
  }

  async succeed(vm: { id: string; name: string; userId: string }, job: SnapshotJob, host: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const sql =
        job.op === 'snapshot_create'
          ? `UPDATE vm_snapshots SET status = 'available', updated_at = now() WHERE id = $1 AND status = 'creating' RETURNING name, size_gb`
          : `DELETE FROM vm_snapshots WHERE id = $1 AND status = 'deleting' RETURNING name, size_gb`;
      const [rows]: [{ name: string; size_gb: number }[]] = await m.query(prepared(sql), [job.snapshotId]);
      await this.release(m, job);
      if (!rows.length) return; // it went meanwhile (the VM's destroy)
      const created = job.op === 'snapshot_create';
      await this.events.record(m, {
        action: created ? 'vm.snapshot_created' : 'vm.snapshot_deleted',
        message: `Snapshot ${rows[0].name} of VM ${vm.name} ${created ? 'is available' : 'deleted'}`,
        details: { snapshot_id: job.snapshotId, name: rows[0].name, size_gb: rows[0].size_gb, host },
        userId: vm.userId,
        vmId: vm.id,
      });
    });
    this.logger.log(`VM ${vm.id}: ${job.op} of snapshot ${job.snapshotId} done`);
  }

  /** The snapshot `failed` (credits are not refunded), the VM's slot free, a critical event. */
  async fail(vm: { id: string; name: string; userId: string }, job: SnapshotJob, err: unknown, host?: string): Promise<void> {
    const pe = err instanceof ProviderError ? err : undefined;
    const message = (err as Error)?.message ?? String(err);
    await this.dataSource.transaction(async (m) => {
      const [rows]: [{ name: string }[]] = await m.query(
        prepared(`UPDATE vm_snapshots SET status = 'failed', updated_at = now() WHERE id = $1 AND status IN ('creating', 'deleting') RETURNING name`),
        [job.snapshotId],
      );
      await this.release(m, job);
      if (!rows.length) return;
      await this.events.record(m, {
        action: 'vm.snapshot_failed',
        message: `VM ${vm.name}: ${job.op === 'snapshot_create' ? 'taking' : 'deleting'} snapshot ${rows[0].name} failed: ${message}`,
        details: { op: job.op, snapshot_id: job.snapshotId, error: message, output: trimOutput(pe?.output ?? ''), timed_out: pe?.timedOut ?? false, host: host ?? null },
        userId: vm.userId,
        vmId: vm.id,
      });
    });
    this.logger.warn(`VM ${vm.id}: ${job.op} of snapshot ${job.snapshotId} failed: ${message}`);
  }

  /** A snapshot job that exhausted its retries (its workers kept dying). */
  async abandon(job: SnapshotJob): Promise<void> {
    const [vm]: { id: string; name: string; user_id: string }[] = await this.dataSource.query(`SELECT id, name, user_id FROM vms WHERE id = $1`, [job.vmId]);
    if (!vm) return;
    await this.fail({ id: vm.id, name: vm.name, userId: vm.user_id }, job, new ProviderError('abandoned after repeated worker failures', '', true));
  }
}
