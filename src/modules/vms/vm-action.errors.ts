import { CREDIT_ERRORS } from '../credits/credits.errors';
import { HOST_ERRORS } from '../hosts/hosts.errors';
import { VM_ERRORS } from './vms.errors';

/** What POST /api/vms/{id}/action and its admin counterpart can answer besides 202: one list for both. */
export const VM_ACTION_ERRORS = [
  VM_ERRORS.of(
    'vm.not_found',
    'vm.invalid_transition',
    'vm.invalid_action_body',
    'vm.operation_in_progress',
    'vm.disk_shrink',
    'vm.resize_unchanged',
    'vm.unknown_os_type',
    'quota.exceeded',
    'host.offline',
  ),
  CREDIT_ERRORS.of('credits.insufficient'),
  HOST_ERRORS.of('capacity.host_full'),
] as const;
