import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { type AuthUser, scopesOfRole } from '../../common/auth';
import { Page, PageQueryDto } from '../../common/pagination';
import type { Env } from '../../config/env.validation';
import { EventsService } from '../events/events.service';
import { CreateApiTokenDto } from './dto/api-token.dto';
import { ApiToken } from './entities/api-token.entity';
import { generateToken, hashToken, isWellFormedToken } from './token-format';
import { TOKEN_ERRORS } from './tokens.errors';
import { TokensRepository } from './tokens.repository';

/** Secrets resolved to their token (hash -> id, user): immutable for the token's life, so kept. */
const MAX_RESOLVED = 10_000;
/** last_used_at is written at most this often per token. */
const TOUCH_EVERY_MS = 60_000;
const DAY_MS = 24 * 3600 * 1000;

export interface TokenRef {
  id: string;
  userId: string;
}

@Injectable()
export class TokensService {
  private readonly logger = new Logger(TokensService.name);
  private readonly resolved = new Map<string, TokenRef>();
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly tokens: TokensRepository,
    private readonly events: EventsService,
    private readonly config: ConfigService<Env, true>,
  ) {}

  /**
   * A new token for the caller, with its event, in one transaction; the secret is returned once and
   * only its SHA-256 is stored. The scopes must be ones the caller holds now (a login token: its role's;
   * an API token with tokens:write: its own), and a token made with an expiring API token expires no
   * later than it.
   */
  async create(caller: AuthUser, dto: CreateApiTokenDto): Promise<{ token: ApiToken; secret: string }> {
    const held = caller.scopes ?? scopesOfRole(caller.role);
    const missing = dto.scopes.filter((s) => !held.includes(s));
    if (missing.length) {
      throw TOKEN_ERRORS.error('token.scope_not_held', `You cannot give a token scopes you do not hold: ${missing.join(', ')}`, {
        scopes: missing,
      });
    }
    let expiresAt = dto.expires_in_days === undefined ? null : new Date(Date.now() + dto.expires_in_days * DAY_MS);
    if (caller.apiTokenId && caller.tokenExpiresAt !== undefined && (expiresAt === null || expiresAt.getTime() > caller.tokenExpiresAt)) {
      expiresAt = new Date(caller.tokenExpiresAt);
    }
    const max = this.config.get('API_TOKENS_MAX_PER_USER', { infer: true });
    const secret = generateToken();
    const token = await this.dataSource.transaction(async (m) => {
      // Serializes one user's concurrent creates, so the count below cannot be passed by two at once.
      await this.tokens.lockOwner(m, caller.id);
      const count = await this.tokens.count(m, caller.id);
      if (count >= max) {
        throw TOKEN_ERRORS.error('token.limit_reached', `You have ${count} API tokens, the most allowed; revoke one first`, { limit: max });
      }
      const row = await this.tokens.insert(m, {
        id: uuidv7(),
        userId: caller.id,
        name: dto.name,
        tokenHash: hashToken(secret),
        scopes: [...dto.scopes],
        expiresAt,
      });
      await this.events.record(m, {
        action: 'auth.token_created',
        message: `API token ${row.name} created (${row.scopes.join(', ')})`,
        details: {
          token_id: row.id,
          name: row.name,
          scopes: row.scopes,
          expires_at: expiresAt,
          created_with_token_id: caller.apiTokenId ?? null,
        },
        userId: caller.id,
      });
      return row;
    });
    return { token, secret };
  }

  /** The user's tokens, newest first (never a secret or hash). */
  list(userId: string, page: PageQueryDto): Promise<Page<ApiToken>> {
    return this.tokens.list(userId, page);
  }

  /**
   * Revokes one of the caller's tokens with its event. The row's delete NOTIFYs the user's id (trigger),
   * so every API process refuses the token from its next request and ends streams opened with it.
   */
  async revoke(caller: AuthUser, id: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const row = await this.tokens.deleteOwn(m, caller.id, id);
      if (!row) throw TOKEN_ERRORS.error('token.not_found', 'API token not found');
      await this.events.record(m, {
        action: 'auth.token_revoked',
        message: `API token ${row.name} revoked`,
        details: { token_id: row.id, name: row.name, revoked_with_token_id: caller.apiTokenId ?? null },
        userId: caller.id,
      });
    });
  }

  /**
   * The token a secret names (id and user), or null: a malformed secret or a bad checksum costs no
   * query. Whether it still grants access (not revoked or expired, its scopes) is the user's identity's
   * to say (UsersService.findActiveIdentity), which every change to a token invalidates.
   */
  async resolve(secret: string): Promise<TokenRef | null> {
    if (!isWellFormedToken(secret)) return null;
    const hash = hashToken(secret);
    const known = this.resolved.get(hash);
    if (known) return known;
    const ref = await this.tokens.byHash(hash);
    if (!ref) return null;
    this.resolved.set(hash, ref);
    if (this.resolved.size > MAX_RESOLVED) this.resolved.delete(this.resolved.keys().next().value as string);
    return ref;
  }

  /**
   * Records a use of the token: at most one write a minute per token per process, and the statement
   * skips tokens written less than a minute ago by any process. Not awaited by the request.
   */
  touch(id: string): void {
    const now = Date.now();
    const last = this.touched.get(id);
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
    this.touched.set(id, now);
    if (this.touched.size > MAX_RESOLVED) this.touched.delete(this.touched.keys().next().value as string);
    this.tokens.touch(id).catch((err: Error) => this.logger.warn(`Cannot record the use of API token ${id}: ${err.message}`));
  }
}
