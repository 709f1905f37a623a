/**
 * The shared auth layer features import: who the caller is (AuthUser, roles), the route decorators and
 * the access errors. The guards that enforce them live in modules/auth (they need UsersService).
 */
export { ACCESS_ERRORS, AUTH_REALM, unauthenticated } from './access.errors';
export { ApiAuth, CurrentUser, IS_PUBLIC, Public, ROLES, Roles } from './auth.decorators';
export { USER_ROLES, type AuthUser, type UserRole } from './auth-user';
export {
  ADMIN_SCOPES,
  API_SCOPES,
  REQUIRED_SCOPE,
  RequireScope,
  SCOPE_ERRORS,
  SCOPE_EXTENSION,
  scopesOfRole,
  type ApiScope,
  type RouteScope,
} from './scopes';
