import { hostQueue } from '../../queue/host';
import type { QueueService } from '../../queue/queue.service';
import type { VmOperation, VmStatus } from './vm-state';

export const OPERATION_TIMEOUTS = Symbol('OPERATION_TIMEOUTS');

/**
 * The shared operation queue every worker consumes: only for VMs with no host recorded (created
 * before hosts existed and never brought up); every other VM's jobs go to its host's queue.
 */
export const VM_OPERATION_QUEUE = 'vm-operation';
/** Jobs that exhausted their retries land here; any worker marks their VM failed (database only). */
export const VM_OPERATION_DEAD_QUEUE = 'vm-operation-dead';

/** The queue of a VM's operations: its host's, so only that host's workers run them. */
export function vmOperationQueue(host: string | null): string {
  return host === null ? VM_OPERATION_QUEUE : hostQueue(VM_OPERATION_QUEUE, host);
}

/** Creates an operation queue with the retry policy (whoever creates it first fixes its options). */
export function ensureVmOperationQueue(queue: QueueService, name: string): Promise<void> {
  return queue.ensureQueue(name, { retryLimit: 3, retryDelay: 5, retryBackoff: true, deadLetter: VM_OPERATION_DEAD_QUEUE });
}

export interface VmOperationJob {
  vmId: string;
  op: VmOperation;
  /**
   * The transitional status the job completes; a VM no longer in it makes the job stale. Snapshot
   * create/delete leave the status alone: for them it is the status when asked, and the snapshot's
   * own status (`creating`/`deleting`) says whether the job is still wanted.
   */
  expect: VmStatus;
  /** Snapshot create, delete and restore: which snapshot. */
  snapshotId?: string;
  /** Restore: the power state the VM had when asked, which it returns to. */
  then?: 'running' | 'stopped';
}

export const OS_CATALOG = Symbol('OS_CATALOG');

/** Seconds each provider operation may take (TIMEOUT_*_SECONDS). */
export interface OperationTimeouts {
  /** `vagrant up` (includes a box download on first use). */
  up: number;
  halt: number;
  reload: number;
  destroy: number;
  /** `status`, `ssh-config` and the `ssh -c` of `stats`. */
  query: number;
  /** Taking, deleting or reverting to a snapshot (TIMEOUT_SNAPSHOT_SECONDS; default: reload's). */
  snapshot?: number;
}

/** Seconds one operation may take: day-2 operations combine the timeouts of the steps they run. */
export function operationTimeout(op: VmOperation, t: OperationTimeouts): number {
  const snapshot = t.snapshot ?? t.reload;
  switch (op) {
    case 'resize':
      return t.halt + t.query; // the definition changed and the volume grown: short commands on a stopped machine
    case 'rebuild':
      return t.destroy + t.up;
    case 'restore':
      return snapshot + t.up; // revert, then back to the power state it had
    case 'snapshot_create':
    case 'snapshot_delete':
      return snapshot;
    default:
      return t[op];
  }
}

/** Extra seconds past an operation's timeout before its lease and its job count as abandoned. */
export const LEASE_GRACE_SECONDS = 60;

/** Job expiry for an operation: past it, pg-boss treats the worker as dead and retries the job. */
export function jobExpirySeconds(op: VmOperation, timeouts: OperationTimeouts): number {
  return operationTimeout(op, timeouts) + LEASE_GRACE_SECONDS;
}
