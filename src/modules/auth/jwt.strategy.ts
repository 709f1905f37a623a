import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { UsersService } from '../users/users.service';
import { AuthUser } from './auth.decorators';
import { JwtSecret } from './jwt-secret';
import { AUTH_ERRORS } from './auth.errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface JwtPayload {
  sub: string;
  exp?: number;
}

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    secret: JwtSecret,
    private readonly users: UsersService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      ignoreExpiration: false,
      // A KeyObject (jsonwebtoken accepts one; the passport-jwt types only list string | Buffer).
      secretOrKey: secret.key as unknown as Buffer,
      algorithms: ['HS256'],
    });
  }

  /** Resolves the user on every request, so a deactivated (or deleted) user's token stops working at once. */
  async validate(payload: JwtPayload): Promise<AuthUser> {
    const user = typeof payload.sub === 'string' && UUID.test(payload.sub) ? await this.users.findActiveIdentity(payload.sub) : null;
    if (!user) throw AUTH_ERRORS.error('auth.unauthenticated', 'The token no longer grants access');
    const tokenExpiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
    return { id: user.id, role: user.role, username: user.username, email: user.email, tokenExpiresAt };
  }
}
