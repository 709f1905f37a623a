import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
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
}

/** Skips JwtAuthGuard: register, login, health, docs. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

export const Roles = (...roles: UserRole[]) => SetMetadata(ROLES, roles);

export const CurrentUser = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthUser => ctx.switchToHttp().getRequest<{ user: AuthUser }>().user,
);
