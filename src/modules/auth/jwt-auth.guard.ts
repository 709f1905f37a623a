import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JwtService } from '@nestjs/jwt';
import type { Request } from 'express';
import { UsersService } from '../users/users.service';
import { AuthUser, IS_PUBLIC } from './auth.decorators';
import { AUTH_ERRORS } from './auth.errors';
import { JwtSecret } from './jwt-secret';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BEARER = /^bearer\s+(\S+)\s*$/i;

interface JwtPayload {
  sub?: unknown;
  exp?: unknown;
}

/**
 * Global guard: every route needs a valid bearer token unless marked @Public(). Verifies the token with
 * @nestjs/jwt (HS256 only, expiry checked) and resolves its user on every request, so a deactivated
 * (or deleted) user's token stops working at once (UsersService.findActiveIdentity).
 * (Not passport: its per-request strategy dispatch cost more than the HMAC; `npm run bench` A/B.)
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtService,
    private readonly secret: JwtSecret,
    private readonly users: UsersService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<Request & { user?: AuthUser }>();
    req.user = await this.authenticate(req.headers.authorization);
    return true;
  }

  private async authenticate(header: string | undefined): Promise<AuthUser> {
    const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
    let payload: JwtPayload;
    try {
      if (!token) throw new Error('no bearer token');
      // A KeyObject (jsonwebtoken accepts one; the @nestjs/jwt types only list string | Buffer): see JwtSecret.
      payload = this.jwt.verify<JwtPayload & object>(token, { secret: this.secret.key as unknown as Buffer, algorithms: ['HS256'] });
    } catch {
      throw AUTH_ERRORS.error('auth.unauthenticated', 'A valid bearer token is required');
    }
    const user = typeof payload.sub === 'string' && UUID.test(payload.sub) ? await this.users.findActiveIdentity(payload.sub) : null;
    if (!user) throw AUTH_ERRORS.error('auth.unauthenticated', 'The token no longer grants access');
    const tokenExpiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
    return { id: user.id, role: user.role, username: user.username, email: user.email, tokenExpiresAt };
  }
}
