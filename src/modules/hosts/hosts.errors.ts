import { defineErrors } from '../../common/error-catalog';

export const HOST_ERRORS = defineErrors({
  'host.not_found': { status: 404, title: 'Host not found' },
  'capacity.unavailable': { status: 503, title: 'No hypervisor host has room', headers: ['Retry-After'] },
});
