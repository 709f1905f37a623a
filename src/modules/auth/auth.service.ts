import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtService } from '@nestjs/jwt';
import * as argon2 from 'argon2';
import { DataSource } from 'typeorm';
import { AppError } from '../../common/app-error';
import { uniqueViolation } from '../../common/db-errors';
import type { Env } from '../../config/env.validation';
import { CreditsService } from '../credits/credits.service';
import { EventsService } from '../events/events.service';
import { User, UserRole } from '../users/entities/user.entity';
import { UsersService } from '../users/users.service';
import { RegisterDto, TokenResponseDto } from './dto/auth.dto';
import { AUTH_ERRORS } from './auth.errors';
import { USER_ERRORS } from '../users/users.errors';

const HASH_OPTIONS = { type: argon2.argon2id } as const;

@Injectable()
export class AuthService implements OnApplicationBootstrap {
  private readonly logger = new Logger(AuthService.name);
  /** Verified against when the email is unknown, so both failures take the same time. */
  private dummyHash?: Promise<string>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly credits: CreditsService,
    private readonly events: EventsService,
    private readonly jwt: JwtService,
    private readonly config: ConfigService<Env, true>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const email = this.config.get('ADMIN_EMAIL', { infer: true });
    const password = this.config.get('ADMIN_PASSWORD', { infer: true });
    if (!email || !password) return;
    if (await this.users.findByEmailWithHash(email)) return;
    try {
      const username = email.split('@')[0].toLowerCase().replace(/[^a-z0-9_.-]/g, '').slice(0, 32).padEnd(3, '0');
      await this.createAccount({ username, email, password }, 'admin');
      this.logger.log(`Bootstrap admin ${email} created`);
    } catch (err) {
      // Another process booting at the same moment may have created it (its insert then wins, and
      // this one finds the email or the username taken): fine if the admin exists now.
      if (!(await this.users.findByEmailWithHash(email))) throw err;
    }
  }

  register(dto: RegisterDto): Promise<User> {
    return this.createAccount(dto, 'user');
  }

  /**
   * One transaction: the user row, the signup grant on the ledger and the events. Role comes only
   * from the caller of this method, never from the request body.
   */
  private async createAccount(dto: RegisterDto, role: UserRole): Promise<User> {
    const passwordHash = await argon2.hash(dto.password, HASH_OPTIONS);
    const initialCredits = this.config.get('INITIAL_CREDITS', { infer: true });
    try {
      return await this.dataSource.transaction(async (m) => {
        const taken = await this.users.existsByEmailOrUsername(m, dto.email, dto.username);
        if (taken) throw this.taken(taken);
        const user = await this.users.create(m, { username: dto.username, email: dto.email, passwordHash, role });
        if (initialCredits > 0) {
          const grant = await this.credits.apply(m, { userId: user.id, amount: initialCredits, kind: 'signup_grant' });
          user.credits = grant.balanceAfter;
          await this.events.record(m, {
            action: 'system.credit_grant',
            message: `Granted ${initialCredits} signup credits`,
            details: { amount: initialCredits, balance_after: grant.balanceAfter },
            userId: user.id,
          });
        }
        await this.events.record(m, {
          action: role === 'admin' ? 'admin.bootstrap' : 'auth.register',
          message: role === 'admin' ? `Bootstrap admin ${user.username} created` : `User ${user.username} registered`,
          details: { username: user.username },
          userId: user.id,
        });
        return user;
      });
    } catch (err) {
      const constraint = uniqueViolation(err);
      if (constraint !== null) throw this.taken(constraint.includes('email') ? 'email' : 'username');
      throw err;
    }
  }

  private taken(field: 'email' | 'username'): AppError {
    return USER_ERRORS.error(field === 'email' ? 'user.email_taken' : 'user.username_taken', `That ${field} is already registered`);
  }

  /** The active user with this email and password (passport-local's verify step), else 401; both outcomes are audited. */
  async verifyCredentials(email: string, password: string, ip?: string): Promise<User> {
    const user = await this.users.findByEmailWithHash(email);
    this.dummyHash ??= argon2.hash('not-a-real-password', HASH_OPTIONS);
    const hash = user?.passwordHash ?? (await this.dummyHash);
    const valid = await argon2.verify(hash, password).catch(() => false);
    if (!user || !valid || !user.isActive) {
      await this.events.record(this.dataSource.manager, {
        action: 'auth.login_failed',
        message: 'Failed login attempt',
        details: { email: email.toLowerCase(), ip, reason: !user ? 'unknown_email' : !valid ? 'bad_password' : 'inactive' },
        userId: user?.id ?? null,
      });
      throw AUTH_ERRORS.error('auth.invalid_credentials', 'Email or password is incorrect');
    }
    await this.events.record(this.dataSource.manager, {
      action: 'auth.login',
      message: `User ${user.username} logged in`,
      details: { ip },
      userId: user.id,
    });
    return user;
  }

  /** A bearer token for a signed-in user. */
  async issueToken(user: Pick<User, 'id' | 'role'>): Promise<TokenResponseDto> {
    const expiresIn = this.config.get('JWT_EXPIRES_IN', { infer: true });
    const access_token = await this.jwt.signAsync({ sub: user.id, role: user.role }, { expiresIn });
    return { access_token, token_type: 'bearer', expires_in: expiresIn };
  }

}
