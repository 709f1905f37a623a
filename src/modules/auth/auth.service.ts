import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtService } from '@nestjs/jwt';
import * as argon2 from 'argon2';
import { ipKeyGenerator } from 'express-rate-limit';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AppError } from '../../common/app-error';
import { uniqueViolation } from '../../common/db-errors';
import { FailureRateLimit, KeyedRateLimit } from '../../common/rate-limit';
import { PASSWORD_HASH_PRODUCTION, type Env } from '../../config/env.validation';
import { CreditsService } from '../credits/credits.service';
import { EventsService } from '../events/events.service';
import { User } from '../users/entities/user.entity';
import { UsersService } from '../users/users.service';
import { type AuthUser, type UserRole, unauthenticated } from '../../common/auth';
import { ChangePasswordDto, RegisterDto, TokenResponseDto } from './dto/auth.dto';
import { AUTH_ERRORS } from './auth.errors';
import { USER_ERRORS } from '../users/users.errors';

/** A client address as the per-address limits key it (express-rate-limit's: IPv6 grouped by /56). */
function addressKey(ip: string | undefined): string {
  return ip ? ipKeyGenerator(ip) : '';
}

/** How long a revocation is kept for a token without `exp` (none are issued so): the longest JWT_EXPIRES_IN. */
const NO_EXPIRY_KEEP_MS = 30 * 24 * 3600 * 1000;

@Injectable()
export class AuthService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuthService.name);
  /** Verified against when the email is unknown, so both failures take the same time. */
  private dummyHash?: Promise<string>;
  /** Register attempts per email, password changes per user: beside the per-address limit (RATE_LIMIT_AUTH_PER_MIN). */
  private readonly registerPerEmail: KeyedRateLimit;
  private readonly passwordChangePerUser: KeyedRateLimit;
  /** argon2id with PASSWORD_HASH_MEMORY_KIB / PASSWORD_HASH_TIME_COST (production strength unless NODE_ENV=test lowers them). */
  private readonly hashOptions: argon2.HashOptions;
  /** Failed logins per address and per account (RATE_LIMIT_LOGIN_FAILURES_PER_MIN); successes are not counted. */
  private readonly loginFailuresPerAddress: FailureRateLimit;
  private readonly loginFailuresPerAccount: FailureRateLimit;

  constructor(
    private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly credits: CreditsService,
    private readonly events: EventsService,
    private readonly jwt: JwtService,
    private readonly config: ConfigService<Env, true>,
  ) {
    const perMin = config.get('RATE_LIMIT_AUTH_PER_MIN', { infer: true });
    this.registerPerEmail = new KeyedRateLimit(perMin, 'for this email');
    this.passwordChangePerUser = new KeyedRateLimit(perMin, 'to change this password');
    this.hashOptions = {
      type: argon2.argon2id,
      memoryCost: config.get('PASSWORD_HASH_MEMORY_KIB', { infer: true }),
      timeCost: config.get('PASSWORD_HASH_TIME_COST', { infer: true }),
      parallelism: PASSWORD_HASH_PRODUCTION.parallelism,
    };
    const failures = config.get('RATE_LIMIT_LOGIN_FAILURES_PER_MIN', { infer: true });
    this.loginFailuresPerAddress = new FailureRateLimit(failures, 'from this address');
    this.loginFailuresPerAccount = new FailureRateLimit(failures, 'for this account');
  }

  onApplicationShutdown(): void {
    this.loginFailuresPerAddress.shutdown();
    this.loginFailuresPerAccount.shutdown();
    this.registerPerEmail.shutdown();
    this.passwordChangePerUser.shutdown();
  }

  async onApplicationBootstrap(): Promise<void> {
    const email = this.config.get('ADMIN_EMAIL', { infer: true });
    const password = this.config.get('ADMIN_PASSWORD', { infer: true });
    if (!email || !password) return;
    if (await this.users.findByEmailWithHash(email)) return;
    try {
      const username = (email.split('@', 1)[0] ?? '')
        .toLowerCase()
        .replace(/[^a-z0-9_.-]/g, '')
        .slice(0, 32)
        .padEnd(3, '0');
      if (await this.createAccount({ username, email, password }, 'admin')) this.logger.log(`Bootstrap admin ${email} created`);
    } catch (err) {
      // Another process booting at the same moment may have created it (its insert then wins, and
      // this one finds the email or the username taken): fine if the admin exists now.
      if (!(await this.users.findByEmailWithHash(email))) throw err;
    }
  }

  /**
   * Registration answers the same whether or not the email is new (see docs/architecture.md, "Register answers 202"): with a new
   * email the account is created; with one already registered, in any letter case, nothing changes
   * and an admin-only event notes the attempt. Both hash the password first, so the time taken does
   * not tell them apart either. A username in use is still refused (409): usernames are public
   * handles, and checked before the email, so the 409 says nothing about the email.
   */
  async register(dto: RegisterDto, ip?: string): Promise<void> {
    await this.registerPerEmail.hit(dto.email.toLowerCase());
    await this.createAccount(dto, 'user', ip);
  }

  /**
   * One transaction: the user row, the signup grant on the ledger and the events. Role comes only
   * from the caller of this method, never from the request body. Returns null (and creates nothing)
   * when the email is registered already.
   */
  private async createAccount(dto: RegisterDto, role: UserRole, ip?: string): Promise<User | null> {
    const passwordHash = await argon2.hash(dto.password, this.hashOptions);
    const initialCredits = this.config.get('INITIAL_CREDITS', { infer: true });
    try {
      return await this.dataSource.transaction(async (m) => {
        const taken = await this.users.existsByEmailOrUsername(m, dto.email, dto.username);
        if (taken.username) throw this.usernameTaken();
        if (taken.email) {
          await this.events.record(m, {
            action: 'auth.register_existing_email',
            message: 'Registration attempted with an email already registered (nothing changed)',
            details: { existing_user_id: taken.email, ip },
            userId: null,
          });
          return null;
        }
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
      if (constraint === null) throw err;
      // A concurrent registration won: with the email, the same answer as any registered email.
      if (constraint.includes('email')) return null;
      throw this.usernameTaken();
    }
  }

  private usernameTaken(): AppError {
    return USER_ERRORS.error('user.username_taken', 'That username is already registered');
  }

  /** The active user with this email and password (passport-local's verify step), else 401; both outcomes are audited. */
  async verifyCredentials(email: string, password: string, ip?: string): Promise<User> {
    const account = email.toLowerCase();
    // Checked before any work (argon2 is the cost an attacker wants us to pay); counted only on failure.
    await this.loginFailuresPerAddress.check(addressKey(ip));
    await this.loginFailuresPerAccount.check(account);
    const user = await this.users.findByEmailWithHash(email);
    this.dummyHash ??= argon2.hash('not-a-real-password', this.hashOptions);
    const hash = user?.passwordHash ?? (await this.dummyHash);
    const valid = await argon2.verify(hash, password).catch(() => false);
    if (!user || !valid || !user.isActive) {
      await this.loginFailuresPerAddress.fail(addressKey(ip));
      await this.loginFailuresPerAccount.fail(account);
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

  /** A bearer token for a signed-in user: its own id (`jti`, for logout) and the user's token version (`ver`). */
  async issueToken(user: Pick<User, 'id' | 'role' | 'tokenVersion'>): Promise<TokenResponseDto> {
    const expiresIn = this.config.get('JWT_EXPIRES_IN', { infer: true });
    const access_token = await this.jwt.signAsync(
      { sub: user.id, role: user.role, ver: user.tokenVersion ?? 0 },
      { expiresIn, jwtid: randomUUID() },
    );
    return { access_token, token_type: 'bearer', expires_in: expiresIn };
  }

  /**
   * Ends the presented token (until it would have expired anyway), in every API process: the
   * revocation's trigger NOTIFYs them; its open event streams end too. Other tokens stay valid.
   */
  async logout(caller: AuthUser, ip?: string): Promise<void> {
    const jti = caller.tokenId!;
    const expiresAt = new Date(caller.tokenExpiresAt ?? Date.now() + NO_EXPIRY_KEEP_MS);
    await this.dataSource.transaction(async (m) => {
      await this.users.revokeToken(m, { jti, userId: caller.id, expiresAt });
      await this.events.record(m, {
        action: 'auth.logout',
        message: `User ${caller.username} logged out`,
        details: { ip },
        userId: caller.id,
      });
    });
    this.users.forgetIdentity(caller.id);
  }

  /**
   * Changes the caller's password given the current one. Every token of theirs issued before (this
   * one included) stops working and their open event streams end, in every API process; the answer
   * carries a fresh token. Attempts are limited per user and per address like logins.
   */
  async changePassword(caller: AuthUser, dto: ChangePasswordDto, ip?: string): Promise<TokenResponseDto> {
    await this.passwordChangePerUser.hit(caller.id);
    const current = await this.users.findActiveWithHash(caller.id);
    if (!current) throw unauthenticated('invalid', 'The token no longer grants access');
    const valid = await argon2.verify(current.passwordHash, dto.current_password).catch(() => false);
    if (!valid) {
      await this.events.record(this.dataSource.manager, {
        action: 'auth.password_change_failed',
        message: 'Password change refused: wrong current password',
        details: { ip },
        userId: caller.id,
      });
      throw USER_ERRORS.error('user.wrong_password', 'The current password is incorrect');
    }
    const passwordHash = await argon2.hash(dto.new_password, this.hashOptions);
    const tokenVersion = await this.dataSource.transaction(async (m) => {
      const version = await this.users.setPasswordHash(m, caller.id, passwordHash);
      await this.events.record(m, {
        action: 'auth.password_changed',
        message: `User ${caller.username} changed their password; earlier tokens ended`,
        details: { ip, token_version: version },
        userId: caller.id,
      });
      return version;
    });
    this.users.forgetIdentity(caller.id);
    return this.issueToken({ id: caller.id, role: caller.role, tokenVersion });
  }
}
