import { defineErrors } from '../../common/error-catalog';

export const HOST_ERRORS = defineErrors({
  'host.not_found': { status: 404, title: 'Host not found' },
  'capacity.host_full': {
    status: 409,
    title: 'The VM’s hypervisor host has no room for the new size',
    extensions: {
      resource: { type: 'string', enum: ['cpu_cores', 'ram_mb', 'disk_gb'], description: 'The first resource the host lacks' },
    },
  },
  'capacity.unavailable': { status: 503, title: 'No hypervisor host has room', headers: ['Retry-After'] },
});
