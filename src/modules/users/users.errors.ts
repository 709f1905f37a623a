import { defineErrors } from '../../common/error-catalog';

export const USER_ERRORS = defineErrors({
  'user.not_found': { status: 404, title: 'User not found' },
  'user.username_taken': { status: 409, title: 'Username already registered' },
  'user.wrong_password': { status: 403, title: 'The current password is incorrect' },
  'user.empty_update': { status: 400, title: 'Nothing to update' },
  'user.self_demotion': { status: 409, title: 'Admins cannot demote or deactivate themselves' },
  'user.last_admin': { status: 409, title: 'The last active admin must stay' },
});
