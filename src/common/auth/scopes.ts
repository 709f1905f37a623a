import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import { defineErrors } from '../error-catalog';
import { ApiProblems } from '../problem-responses';

/**
 * What an API token may do: one scope per resource and verb. A login token (JWT) holds every scope
 * of its user's role; an API token holds the scopes it was created with, less any its user's role no
 * longer has (an admin demoted loses `admin:*` at once, on every token).
 */
export const API_SCOPES = [
  'vms:read',
  'vms:write',
  'ssh_keys:read',
  'ssh_keys:write',
  'credits:read',
  'events:read',
  'tokens:read',
  'tokens:write',
  'webhooks:read',
  'webhooks:write',
  'admin:read',
  'admin:write',
] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export const ADMIN_SCOPES: readonly ApiScope[] = ['admin:read', 'admin:write'];

/** Every scope a user of this role holds (what a login token grants). */
export function scopesOfRole(role: string): readonly ApiScope[] {
  return role === 'admin' ? API_SCOPES : API_SCOPES.filter((s) => !ADMIN_SCOPES.includes(s));
}

/**
 * What a route needs of the token that calls it, as the `x-required-scope` extension of its operation
 * says: a scope; `none` (any valid token: who am I); `login` (login tokens only: routes about the
 * password session itself, logout and password change).
 */
export type RouteScope = ApiScope | 'none' | 'login';
export const REQUIRED_SCOPE = 'auth:requiredScope';
export const SCOPE_EXTENSION = 'x-required-scope';

export const SCOPE_ERRORS = defineErrors({
  'auth.insufficient_scope': {
    status: 403,
    title: 'The API token lacks the scope this route needs',
    extensions: {
      required_scope: { type: 'string', enum: [...API_SCOPES], description: 'The scope the route needs', example: 'vms:write' },
    },
  },
  'auth.login_required': {
    status: 403,
    title: 'This route needs a login token, not an API token',
  },
});

/** The route needs `scope` of an API token (ScopesGuard): declared in the OpenAPI document with its 403. */
export function RequireScope(scope: RouteScope) {
  const problems =
    scope === 'login' ? SCOPE_ERRORS.of('auth.login_required') : scope === 'none' ? [] : SCOPE_ERRORS.of('auth.insufficient_scope');
  return applyDecorators(SetMetadata(REQUIRED_SCOPE, scope), ApiExtension(SCOPE_EXTENSION, scope), ApiProblems(...problems));
}
