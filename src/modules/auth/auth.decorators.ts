import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import type { ErrorDefinition } from '../../common/error-catalog';
import { ApiProblems } from '../../common/problem-responses';
import { AUTH_ERRORS } from './auth.errors';
import type { UserRole } from '../users/entities/user.entity';

export const IS_PUBLIC = 'auth:isPublic';
export const ROLES = 'auth:roles';

/** The caller as the JWT strategy resolved it (an active user; see UsersService.findActiveIdentity). */
export interface AuthUser {
  id: string;
  role: UserRole;
  username: string;
  email: string;
  /** When the presented token expires (ms since the epoch): long-lived responses (event streams) end then. */
  tokenExpiresAt?: number;
  /** The presented token's id (`jti`): what logout revokes. */
  tokenId?: string;
  /** The token version the presented token carries (the user's current one, or it would be refused). */
  tokenVersion?: number;
}

/** Skips JwtAuthGuard: register, login, health, docs. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** Only these roles may call the route (RolesGuard); others get 403 auth.forbidden, which it declares. */
export const Roles = (...roles: UserRole[]) => applyDecorators(SetMetadata(ROLES, roles), ApiProblems(AUTH_ERRORS.of('auth.forbidden')));

/** A route that needs a bearer token: declares the security requirement, its 401 and the route's own error codes. */
export function ApiAuth(...errors: (ErrorDefinition | readonly ErrorDefinition[])[]) {
  return applyDecorators(ApiBearerAuth(), ApiProblems(AUTH_ERRORS.of('auth.unauthenticated'), ...errors));
}

export const CurrentUser = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthUser => ctx.switchToHttp().getRequest<{ user: AuthUser }>().user,
);
