import { defineErrors } from '../../common/error-catalog';

export const METRIC_ERRORS = defineErrors({
  'metrics.vm_destroyed': { status: 409, title: 'The VM is destroyed' },
  'metrics.invalid_points': {
    status: 400,
    title: 'Invalid metric points',
    extensions: {
      errors: {
        type: 'array',
        description: 'Per-point messages (`points.<index>.<field>`)',
        items: {
          type: 'object',
          properties: { field: { type: 'string' }, messages: { type: 'array', items: { type: 'string' } } },
          required: ['field', 'messages'],
        },
      },
    },
  },
  'metrics.invalid_range': { status: 400, title: '`from` is not before `to`' },
});
