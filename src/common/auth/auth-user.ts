import type { ApiScope } from './scopes';

export const USER_ROLES = ['user', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** The caller as the JWT guard resolved it (an active user; see UsersService.findActiveIdentity). */
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
  /** Set when the caller presented an API token: its id. */
  apiTokenId?: string;
  /**
   * An API token's scopes that hold now (its own, less any the user's role lacks); undefined for a
   * login token, which holds every scope of the role (ScopesGuard).
   */
  scopes?: readonly ApiScope[];
}
