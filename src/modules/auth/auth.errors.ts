import { defineErrors } from '../../common/error-catalog';

export const AUTH_ERRORS = defineErrors({
  'auth.unauthenticated': { status: 401, title: 'Missing, invalid or expired bearer token' },
  'auth.forbidden': { status: 403, title: 'Your role may not use this route' },
  'auth.invalid_credentials': { status: 401, title: 'Email or password is incorrect' },
});
