import { defineErrors } from '../../common/error-catalog';

export const EVENT_ERRORS = defineErrors({
  'events.invalid_last_event_id': { status: 400, title: 'Last-Event-ID is not an event id' },
  'events.too_many_streams': {
    status: 429,
    title: 'Too many live event streams',
    extensions: { limit: { type: 'integer', description: 'The streams a user may hold at once', example: 5 } },
    headers: ['Retry-After'],
  },
});
