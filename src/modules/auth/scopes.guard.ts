import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type AuthUser, REQUIRED_SCOPE, type RouteScope, SCOPE_ERRORS } from '../../common/auth';

/**
 * Checks an API token's scopes against the route's (RequireScope), after JwtAuthGuard resolved the
 * caller and their effective scopes. Login tokens pass (they hold all of their role's scopes; admin
 * routes are RolesGuard's). A route that declares nothing is closed to API tokens.
 */
@Injectable()
export class ScopesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const user = context.switchToHttp().getRequest<{ user?: AuthUser }>().user;
    if (!user?.scopes) return true;
    const needed = this.reflector.getAllAndOverride<RouteScope | undefined>(REQUIRED_SCOPE, [context.getHandler(), context.getClass()]);
    if (needed === 'none') return true;
    if (needed === undefined || needed === 'login') {
      throw SCOPE_ERRORS.error('auth.login_required', 'This route needs a login token (POST /api/auth/login); API tokens cannot use it');
    }
    if (user.scopes.includes(needed)) return true;
    throw SCOPE_ERRORS.error('auth.insufficient_scope', `This API token lacks the scope ${needed}, which this route needs`, {
      required_scope: needed,
    });
  }
}
