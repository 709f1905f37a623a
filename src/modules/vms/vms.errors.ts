import { defineErrors } from '../../common/error-catalog';
import { QUOTA_RESOURCES } from './quotas';

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
