import { defineErrors } from '../../common/error-catalog';

/** Login's own error; the access errors every route shares are common/auth's ACCESS_ERRORS. */
export const AUTH_ERRORS = defineErrors({
  'auth.invalid_credentials': { status: 401, title: 'Email or password is incorrect' },
});
