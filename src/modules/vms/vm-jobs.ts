import type { VmOperation, VmStatus } from './vm-state';

export const OPERATION_TIMEOUTS = Symbol('OPERATION_TIMEOUTS');

export const VM_OPERATION_QUEUE = 'vm-operation';
/** Jobs that exhausted their retries land here; the worker marks their VM failed. */
export const VM_OPERATION_DEAD_QUEUE = 'vm-operation-dead';

export interface VmOperationJob {
  vmId: string;
  op: VmOperation;
  /** The transitional status the job completes; a VM no longer in it makes the job stale. */
  expect: VmStatus;
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
}

/** Extra seconds past an operation's timeout before its lease and its job count as abandoned. */
export const LEASE_GRACE_SECONDS = 60;

/** Job expiry for an operation: past it, pg-boss treats the worker as dead and retries the job. */
export function jobExpirySeconds(op: VmOperation, timeouts: OperationTimeouts): number {
  return timeouts[op] + LEASE_GRACE_SECONDS;
}
