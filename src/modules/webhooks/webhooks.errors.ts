import { defineErrors } from '../../common/error-catalog';

const strings = (description: string, example: string[]) => ({
  type: 'array' as const,
  items: { type: 'string' as const },
  description,
  example,
});

export const WEBHOOK_ERRORS = defineErrors({
  'webhooks.not_found': { status: 404, title: 'Webhook endpoint not found' },
  'webhooks.delivery_not_found': { status: 404, title: 'Delivery not found' },
  'webhooks.limit_reached': {
    status: 403,
    title: 'Too many webhook endpoints',
    extensions: { limit: { type: 'integer', description: 'The most endpoints a user may hold (WEBHOOKS_MAX_PER_USER)', example: 10 } },
  },
  'webhooks.scope_forbidden': { status: 403, title: 'Only admins may subscribe to every user’s events' },
  'webhooks.invalid_url': { status: 400, title: 'Not a webhook URL' },
  'webhooks.https_required': { status: 400, title: 'Webhook URLs must use https' },
  'webhooks.url_not_allowed': {
    status: 400,
    title: 'The URL names an address webhooks may not reach',
    extensions: {
      addresses: strings('The addresses refused, each with its range (loopback, private, linkLocal, carrierGradeNat, uniqueLocal, ...)', [
        '127.0.0.1: loopback',
      ]),
    },
  },
  'webhooks.unknown_event_type': {
    status: 400,
    title: 'Unknown event type',
    extensions: {
      event_types: strings('The entries of `events` that name no event type (or no area of one)', ['vm.exploded']),
      known_event_types: strings('Every event type there is', ['vm.create', 'vm.provisioned']),
    },
  },
  'webhooks.invalid_event_pattern': {
    status: 400,
    title: 'Not an event pattern',
    extensions: { patterns: strings('The entries of `events` that are neither an event type, `<area>.*` nor `*`', ['vm.pro*']) },
  },
  'webhooks.delivery_pending': { status: 409, title: 'The delivery is still being attempted' },
  'webhooks.endpoint_disabled': { status: 409, title: 'The endpoint is disabled' },
});
