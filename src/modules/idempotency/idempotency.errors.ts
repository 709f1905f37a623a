import { defineErrors } from '../../common/error-catalog';

export const IDEMPOTENCY_ERRORS = defineErrors({
  'idempotency.invalid_key': { status: 400, title: 'Idempotency-Key must be 1 to 255 characters' },
  'idempotency.in_flight': { status: 409, title: 'A request with this Idempotency-Key is still running' },
  'idempotency.key_reused': { status: 422, title: 'Idempotency-Key reused with a different request' },
});
