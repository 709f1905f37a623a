import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JwtService, TokenExpiredError } from '@nestjs/jwt';
import type { FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { createHash } from 'node:crypto';
import { UsersService } from '../users/users.service';
import { API_SCOPES, type AuthUser, IS_PUBLIC, scopesOfRole, unauthenticated } from '../../common/auth';
import { JwtSecret } from './jwt-secret';
import { looksLikeApiToken } from '../tokens/token-format';
import { TokensService } from '../tokens/tokens.service';
import { CallerRateLimits } from './caller-rate-limits';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BEARER = /^bearer\s+(\S+)\s*$/i;
/** The Bearer scheme (RFC 6750 section 2.1), however its credentials are written. */
const BEARER_SCHEME = /^bearer(\s|$)/i;

/** Verified tokens kept (the least recently used dropped first). */
const MAX_VERIFIED = 10_000;

interface JwtPayload {
  sub?: unknown;
  exp?: unknown;
  jti?: unknown;
  ver?: unknown;
}

/** What a verified token says: its subject, expiry (seconds since the epoch, as in the token), id and version. */
interface Claims {
  sub: unknown;
  exp: unknown;
  /** Its `jti`; a token without one (none are issued so) is named by its SHA-256, so logout can end it too. */
  jti: string;
  /** The user's token version when it was issued (`ver`; absent = 0). */
  ver: unknown;
}

/**
 * Global guard: every route needs a valid bearer token unless marked @Public(): an API token (`vmp_...`,
 * see authenticateApiToken) or a login JWT. Then the caller's per-user and per-token rate limits count the
 * request (CallerRateLimits). Verifies a JWT with
 * @nestjs/jwt (HS256 only, expiry checked) and resolves its user on every request, so a deactivated
 * (or deleted) user's token stops working at once (UsersService.findActiveIdentity). The identity also
 * carries the user's token version and the ids of their tokens ended by logout, so a token of an older
 * version (password changed, signed out everywhere) or a logged-out one is refused without another query.
 * (Not passport, which signs users in with their password (LocalStrategy): its per-request strategy
 * dispatch cost more than the HMAC; `npm run bench` A/B.)
 *
 * A token that verified once is kept with its claims, keyed by the whole token (signature included):
 * HMAC verification of the same string always gives the same answer, so later requests only check its
 * expiry as jsonwebtoken does. Decoding and verifying took 8% of a read's CPU (bench profile).
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  private readonly verified = new LRUCache<string, Claims>({ max: MAX_VERIFIED });

  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtService,
    private readonly secret: JwtSecret,
    private readonly users: UsersService,
    private readonly tokens: TokensService,
    private readonly limits: CallerRateLimits,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<FastifyRequest & { user?: AuthUser }>();
    const header = req.headers.authorization;
    // No Authorization header, or another scheme (Basic...): no bearer token at all (RFC 6750 section 3.1).
    if (header === undefined || !BEARER_SCHEME.test(header)) throw unauthenticated('missing', 'A bearer token is required');
    const token = BEARER.exec(header)?.[1];
    if (!token) throw unauthenticated('invalid', 'The Authorization header is not `Bearer <token>`');
    req.user = looksLikeApiToken(token) ? await this.authenticateApiToken(token) : await this.authenticate(token);
    await this.limits.hit(req.user);
    return true;
  }

  /**
   * An API token (`vmp_...`): its row found by the secret's hash (TokensService.resolve), then checked
   * against the user's identity, which lists their live tokens with scopes and expiry and is read the
   * same way as for login tokens (cached per process, dropped on any change by NOTIFY). So revocation,
   * expiry, deactivation and deletion take effect on the next request, and the scopes are cut to what
   * the user's role has now (an admin demoted loses admin:* at once).
   */
  private async authenticateApiToken(secret: string): Promise<AuthUser> {
    const ref = await this.tokens.resolve(secret);
    let user = ref ? await this.users.findActiveIdentity(ref.userId) : null;
    if (ref && user && !user.apiTokens.has(ref.id)) {
      // Created after this process cached the user (on another process whose NOTIFY has not arrived yet).
      this.users.forgetIdentity(ref.userId);
      user = await this.users.findActiveIdentity(ref.userId);
    }
    const grant = ref && user?.apiTokens.get(ref.id);
    if (!ref || !user || !grant) throw unauthenticated('invalid', 'The API token is not valid (unknown or revoked)');
    if (grant.expiresAt !== null && grant.expiresAt <= Date.now()) throw unauthenticated('expired', 'The API token has expired');
    this.tokens.touch(ref.id);
    const held = scopesOfRole(user.role);
    const scopes = API_SCOPES.filter((s) => grant.scopes.includes(s) && held.includes(s));
    return {
      id: user.id,
      role: user.role,
      username: user.username,
      email: user.email,
      tokenExpiresAt: grant.expiresAt ?? undefined,
      apiTokenId: ref.id,
      scopes,
    };
  }

  private async authenticate(token: string): Promise<AuthUser> {
    const payload = this.verify(token);
    if (payload === 'expired') throw unauthenticated('expired', 'The token has expired: sign in again');
    if (!payload) throw unauthenticated('invalid', 'The token is not valid (malformed or not signed by this service)');
    const sub = typeof payload.sub === 'string' && UUID.test(payload.sub) ? payload.sub : null;
    let user = sub ? await this.users.findActiveIdentity(sub) : null;
    const version = payload.ver ?? 0;
    if (user && sub && typeof version === 'number' && version > user.tokenVersion) {
      // Issued after this process cached the user (a password change on another process whose NOTIFY
      // has not arrived yet): read them again rather than refuse a fresh token.
      this.users.forgetIdentity(sub);
      user = await this.users.findActiveIdentity(sub);
    }
    if (!user || version !== user.tokenVersion || user.revokedJtis.has(payload.jti)) {
      throw unauthenticated('invalid', 'The token no longer grants access (signed out, password changed or user deactivated)');
    }
    const tokenExpiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
    return {
      id: user.id,
      role: user.role,
      username: user.username,
      email: user.email,
      tokenExpiresAt,
      tokenId: payload.jti,
      tokenVersion: user.tokenVersion,
    };
  }

  /** The token's claims if it is valid now (signature, HS256, expiry); `expired` if it was valid until its `exp`; else null. */
  private verify(token: string): Claims | 'expired' | null {
    const known = this.verified.get(token);
    if (known) {
      // jsonwebtoken's own test: expired from the second `exp` on.
      if (typeof known.exp !== 'number' || Math.floor(Date.now() / 1000) < known.exp) return known;
      this.verified.delete(token);
      return 'expired';
    }
    let payload: JwtPayload;
    try {
      // A KeyObject (jsonwebtoken accepts one; the @nestjs/jwt types only list string | Buffer): see JwtSecret.
      payload = this.jwt.verify<JwtPayload & object>(token, { secret: this.secret.key as unknown as Buffer, algorithms: ['HS256'] });
    } catch (err) {
      // jsonwebtoken checks the signature before the expiry: an expired token is one this service signed.
      return err instanceof TokenExpiredError ? 'expired' : null;
    }
    const jti =
      typeof payload.jti === 'string' && payload.jti.length <= 64 ? payload.jti : createHash('sha256').update(token).digest('hex');
    const claims = { sub: payload.sub, exp: payload.exp, jti, ver: payload.ver };
    this.verified.set(token, claims);
    return claims;
  }
}
