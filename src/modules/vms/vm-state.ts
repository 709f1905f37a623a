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
] as const;
export type VmStatus = (typeof VM_STATUSES)[number];

export const VM_ACTIONS = ['start', 'stop', 'restart', 'destroy'] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

/** The provider operation a job performs. */
export type VmOperation = 'up' | 'halt' | 'reload' | 'destroy';

/** Action -> [statuses it is allowed from, the transitional status it moves to]. */
const ACTION_RULES: Record<VmAction, { from: readonly VmStatus[]; to: VmStatus }> = {
  start: { from: ['stopped'], to: 'starting' },
  stop: { from: ['running'], to: 'stopping' },
  restart: { from: ['running'], to: 'restarting' },
  destroy: { from: VM_STATUSES.filter((s) => s !== 'destroyed' && s !== 'destroying'), to: 'destroying' },
};

/** Transitional status -> the operation that completes it and the status it ends in. */
export const TRANSITIONS: Partial<Record<VmStatus, { op: VmOperation; done: VmStatus }>> = {
  provisioning: { op: 'up', done: 'running' },
  starting: { op: 'up', done: 'running' },
  stopping: { op: 'halt', done: 'stopped' },
  restarting: { op: 'reload', done: 'running' },
  destroying: { op: 'destroy', done: 'destroyed' },
};

export const TRANSITIONAL_STATUSES = Object.keys(TRANSITIONS) as VmStatus[];

export function allowedActions(status: VmStatus): VmAction[] {
  return VM_ACTIONS.filter((a) => ACTION_RULES[a].from.includes(status));
}

/** The status an action moves to, or null when the current status does not allow it. */
export function nextStatus(status: VmStatus, action: VmAction): VmStatus | null {
  const rule = ACTION_RULES[action];
  return rule.from.includes(status) ? rule.to : null;
}
