import { ExecutionContext, Injectable } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { Strategy } from 'passport-local';
import { AppValidationPipe } from '../../common/validation.pipe';
import type { User } from '../users/entities/user.entity';
import { AUTH_ERRORS } from './auth.errors';
import { AuthService } from './auth.service';
import { LoginDto } from './dto/auth.dto';

/**
 * Password sign-in through @nestjs/passport (passport-local, the email as the username): runs once per
 * login, where argon2 dominates. Bearer tokens on every other request are checked by JwtAuthGuard
 * without passport (its per-request strategy dispatch showed in the read bench; docs/performance.md).
 */
@Injectable()
export class LocalStrategy extends PassportStrategy(Strategy, 'local') {
  constructor(private readonly auth: AuthService) {
    super({ usernameField: 'email', passwordField: 'password', passReqToCallback: true });
  }

  validate(req: FastifyRequest, email: string, password: string): Promise<User> {
    return this.auth.verifyCredentials(email, password, req.ip);
  }
}

/** Guard of POST /api/auth/login: the body is a valid LoginDto, then passport-local signs the user in. */
@Injectable()
export class LocalAuthGuard extends AuthGuard('local') {
  private readonly pipe = new AppValidationPipe();

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    // Guards run before pipes: a malformed body is a 400 with its field errors, not a failed login
    // (and passport-local reads the trimmed email of the validated DTO).
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    req.body = await this.pipe.transform(req.body, { type: 'body', metatype: LoginDto });
    return (await super.canActivate(context)) as boolean;
  }

  override handleRequest<TUser>(err: unknown, user: TUser | false): TUser {
    if (err) throw err;
    // passport-local fails without calling validate() only when a field is empty.
    if (!user) throw AUTH_ERRORS.error('auth.invalid_credentials', 'Email or password is incorrect');
    return user;
  }
}
