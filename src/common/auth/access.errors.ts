import { defineErrors } from '../error-catalog';

/** What every protected route may answer: no valid token (401), or a role that may not use it (403). */
export const ACCESS_ERRORS = defineErrors({
  'auth.unauthenticated': { status: 401, title: 'Missing, invalid or expired bearer token' },
  'auth.forbidden': { status: 403, title: 'Your role may not use this route' },
});
