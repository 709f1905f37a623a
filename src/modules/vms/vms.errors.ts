import { defineErrors } from '../../common/error-catalog';
import { QUOTA_RESOURCES } from './quotas';
import { allowedActions as allowedNow, VM_PENDING_OPERATIONS, type VmPendingOperation, type VmStatus } from './vm-state';

const vmStatus = { $ref: '#/components/schemas/VmStatus' };
const allowedActions = {
  type: 'array' as const,
  items: { $ref: '#/components/schemas/VmAction' },
  description: 'What the current status allows',
};

export const VM_ERRORS = defineErrors({
  'vm.not_found': { status: 404, title: 'VM not found' },
  'vm.unknown_os_type': {
    status: 400,
    title: 'Unknown os_type',
    extensions: {
      allowed_os_types: {
        type: 'array',
        items: { type: 'string' },
        description: 'The catalog’s os_type values',
        example: ['debian-12', 'ubuntu-22.04'],
      },
    },
  },
  'vm.name_taken': { status: 409, title: 'You already have a VM with this name' },
  'vm.metadata_too_large': { status: 400, title: 'Metadata too large after the merge' },
  'vm.user_data_too_large': {
    status: 400,
    title: 'User data larger than 64 KiB',
    extensions: {
      size: { type: 'integer', description: 'Its size in bytes (UTF-8)', example: 70000 },
      max_size: { type: 'integer', description: 'The largest accepted', example: 65536 },
    },
  },
  'vm.user_data_not_script': { status: 400, title: 'User data must be a script starting with #!' },
  'vm.invalid_transition': {
    status: 409,
    title: 'The VM’s status does not allow this action',
    extensions: { vm_status: vmStatus, allowed_actions: allowedActions },
  },
  'vm.invalid_action_body': { status: 400, title: 'The body has a field its action does not take, or a resize without a size' },
  'vm.disk_shrink': {
    status: 409,
    title: 'A VM’s disk only grows',
    extensions: { disk_gb: { type: 'integer', description: 'The VM’s disk size now: the smallest a resize accepts', example: 20 } },
  },
  'vm.resize_unchanged': { status: 409, title: 'The VM already has this size' },
  'vm.operation_in_progress': {
    status: 409,
    title: 'The VM has an operation in progress',
    extensions: {
      vm_status: vmStatus,
      operation: { type: 'string', enum: [...VM_PENDING_OPERATIONS], description: 'The operation that holds the VM' },
      allowed_actions: allowedActions,
    },
  },
  'snapshot.not_found': { status: 404, title: 'Snapshot not found' },
  'snapshot.name_taken': { status: 409, title: 'The VM already has a snapshot with this name' },
  'snapshot.limit_reached': {
    status: 403,
    title: 'The VM holds as many snapshots as allowed',
    extensions: { limit: { type: 'integer', description: 'SNAPSHOTS_MAX_PER_VM', example: 5 } },
  },
  'snapshot.invalid_state': {
    status: 409,
    title: 'The snapshot’s status does not allow this',
    extensions: { snapshot_status: { $ref: '#/components/schemas/SnapshotStatus' } },
  },
  'host.offline': {
    status: 409,
    title: 'The VM’s hypervisor host is offline',
    extensions: { vm_status: vmStatus, allowed_actions: allowedActions },
  },
  'quota.exceeded': {
    status: 403,
    title: 'The VM would exceed a quota',
    extensions: {
      resource: { type: 'string', enum: [...QUOTA_RESOURCES], description: 'The resource over its limit' },
      requested: { type: 'integer', description: 'What the VM needs of it', example: 2 },
      used: { type: 'integer', description: 'What is in use already', example: 8 },
      limit: { type: 'integer', description: 'The user’s limit', example: 8 },
    },
  },
});

/** 409 while a snapshot of the VM is being taken or deleted: one operation per VM at a time (only destroy is accepted). */
export function operationInProgress(vm: { status: VmStatus; pendingOperation: VmPendingOperation | null }) {
  const allowed = allowedNow(vm.status, vm.pendingOperation);
  return VM_ERRORS.error(
    'vm.operation_in_progress',
    `The VM has an operation in progress (${vm.pendingOperation ?? 'none'}); wait for it to finish (allowed now: ${allowed.join(', ') || 'none'})`,
    { vm_status: vm.status, operation: vm.pendingOperation, allowed_actions: allowed },
  );
}
