import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JwtService } from '@nestjs/jwt';
import type { FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { createHash } from 'node:crypto';
import { UsersService } from '../users/users.service';
import { ACCESS_ERRORS, IS_PUBLIC, type AuthUser } from '../../common/auth';
import { JwtSecret } from './jwt-secret';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BEARER = /^bearer\s+(\S+)\s*$/i;

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
 * Global guard: every route needs a valid bearer token unless marked @Public(). Verifies the token with
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
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<FastifyRequest & { user?: AuthUser }>();
    req.user = await this.authenticate(req.headers.authorization);
    return true;
  }

  private async authenticate(header: string | undefined): Promise<AuthUser> {
    const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
    const payload = token ? this.verify(token) : null;
    if (!payload) throw ACCESS_ERRORS.error('auth.unauthenticated', 'A valid bearer token is required');
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
      throw ACCESS_ERRORS.error('auth.unauthenticated', 'The token no longer grants access');
    }
    const tokenExpiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
    return { id: user.id, role: user.role, username: user.username, email: user.email, tokenExpiresAt, tokenId: payload.jti, tokenVersion: user.tokenVersion };
  }

  /** The token's claims if it is valid now (signature, HS256, expiry), else null. */
  private verify(token: string): Claims | null {
    const known = this.verified.get(token);
    if (known) {
      // jsonwebtoken's own test: expired from the second `exp` on.
      if (typeof known.exp !== 'number' || Math.floor(Date.now() / 1000) < known.exp) return known;
      this.verified.delete(token);
      return null;
    }
    let payload: JwtPayload;
    try {
      // A KeyObject (jsonwebtoken accepts one; the @nestjs/jwt types only list string | Buffer): see JwtSecret.
      payload = this.jwt.verify<JwtPayload & object>(token, { secret: this.secret.key as unknown as Buffer, algorithms: ['HS256'] });
    } catch {
      return null;
    }
    const jti = typeof payload.jti === 'string' && payload.jti.length <= 64 ? payload.jti : createHash('sha256').update(token).digest('hex');
    const claims = { sub: payload.sub, exp: payload.exp, jti, ver: payload.ver };
    this.verified.set(token, claims);
    return claims;
  }
}
