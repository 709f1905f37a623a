/** The VM state machine (DESIGN.md): which actions each status allows, and what a job does. */
export const VM_STATUSES = [
  'provisioning',
  'running',
  'stopping',
  'stopped',
  'starting',
  'restarting',
  'destroying',
  'destroyed',
  'failed',
  'resizing',
  'rebuilding',
  'restoring',
] as const;
export type VmStatus = (typeof VM_STATUSES)[number];

/** What POST /api/vms/{id}/action accepts (restore has its own route, under snapshots). */
export const VM_ACTIONS = ['start', 'stop', 'restart', 'destroy', 'resize', 'rebuild'] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

/**
 * A VM's pending operation that leaves its status alone: a snapshot being taken or deleted. While one
 * is pending the VM takes no other operation but destroy (one operation per VM at a time).
 */
export const VM_PENDING_OPERATIONS = ['snapshot_create', 'snapshot_delete'] as const;
export type VmPendingOperation = (typeof VM_PENDING_OPERATIONS)[number];

/** The provider operation a job performs. */
export type VmOperation = 'up' | 'halt' | 'reload' | 'destroy' | 'resize' | 'rebuild' | 'restore' | VmPendingOperation;

/** The statuses in which snapshots can be taken, deleted and restored (the machine exists and is settled). */
export const SNAPSHOT_STATUSES: readonly VmStatus[] = ['running', 'stopped'];

/** Action -> [statuses it is allowed from, the transitional status it moves to]. */
const ACTION_RULES: Record<VmAction, { from: readonly VmStatus[]; to: VmStatus }> = {
  start: { from: ['stopped'], to: 'starting' },
  stop: { from: ['running'], to: 'stopping' },
  restart: { from: ['running'], to: 'restarting' },
  destroy: { from: VM_STATUSES.filter((s) => s !== 'destroyed' && s !== 'destroying'), to: 'destroying' },
  // EC2's rule: a VM is resized while stopped (the hypervisor changes its definition, the guest sees it at boot).
  resize: { from: ['stopped'], to: 'resizing' },
  rebuild: { from: ['running', 'stopped'], to: 'rebuilding' },
};

/**
 * Transitional status -> the operation that completes it and the status it ends in. `restoring` ends
 * in the power state the VM had when the restore was asked for (the job carries it); `running` here.
 */
export const TRANSITIONS: Partial<Record<VmStatus, { op: VmOperation; done: VmStatus }>> = {
  provisioning: { op: 'up', done: 'running' },
  starting: { op: 'up', done: 'running' },
  stopping: { op: 'halt', done: 'stopped' },
  restarting: { op: 'reload', done: 'running' },
  destroying: { op: 'destroy', done: 'destroyed' },
  resizing: { op: 'resize', done: 'stopped' },
  rebuilding: { op: 'rebuild', done: 'running' },
  restoring: { op: 'restore', done: 'running' },
};

export const TRANSITIONAL_STATUSES = Object.keys(TRANSITIONS) as VmStatus[];

/** What the VM allows now; with a pending snapshot operation, only destroy. */
export function allowedActions(status: VmStatus, pending: VmPendingOperation | null = null): VmAction[] {
  return VM_ACTIONS.filter((a) => ACTION_RULES[a].from.includes(status) && (pending === null || a === 'destroy'));
}

/** The status an action moves to, or null when the current status does not allow it. */
export function nextStatus(status: VmStatus, action: VmAction): VmStatus | null {
  const rule = ACTION_RULES[action];
  return rule.from.includes(status) ? rule.to : null;
}
