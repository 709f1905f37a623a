import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import type { ErrorDefinition } from '../error-catalog';
import { ApiProblems } from '../problem-responses';
import { ACCESS_ERRORS } from './access.errors';
import type { AuthUser, UserRole } from './auth-user';

/** Metadata keys the auth module's global guards read. */
export const IS_PUBLIC = 'auth:isPublic';
export const ROLES = 'auth:roles';

/** Skips JwtAuthGuard: register, login, health, docs. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** Only these roles may call the route (RolesGuard); others get 403 auth.forbidden, which it declares. */
export const Roles = (...roles: UserRole[]) => applyDecorators(SetMetadata(ROLES, roles), ApiProblems(ACCESS_ERRORS.of('auth.forbidden')));

/** A route that needs a bearer token: declares the security requirement, its 401 and the route's own error codes. */
export function ApiAuth(...errors: (ErrorDefinition | readonly ErrorDefinition[])[]) {
  return applyDecorators(
    ApiBearerAuth(),
    ApiProblems(ACCESS_ERRORS.of('auth.token_missing', 'auth.token_invalid', 'auth.token_expired'), ...errors),
  );
}

export const CurrentUser = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthUser => ctx.switchToHttp().getRequest<{ user: AuthUser }>().user,
);
