import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { type AuthUser, scopesOfRole } from '../../common/auth';
import { keysetPage, newestFirst, Page, PageQueryDto } from '../../common/pagination';
import type { Env } from '../../config/env.validation';
import { prepared } from '../../database/prepared';
import { EventsService } from '../events/events.service';
import { CreateApiTokenDto } from './dto/api-token.dto';
import { ApiToken } from './entities/api-token.entity';
import { generateToken, hashToken, isWellFormedToken } from './token-format';
import { TOKEN_ERRORS } from './tokens.errors';

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
    @InjectRepository(ApiToken) private readonly tokens: Repository<ApiToken>,
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
      await m.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [caller.id]);
      const count = await m.getRepository(ApiToken).countBy({ userId: caller.id });
      if (count >= max) {
        throw TOKEN_ERRORS.error('token.limit_reached', `You have ${count} API tokens, the most allowed; revoke one first`, { limit: max });
      }
      const repo = m.getRepository(ApiToken);
      const row = await repo.save(
        repo.create({
          id: uuidv7(),
          userId: caller.id,
          name: dto.name,
          tokenHash: hashToken(secret),
          scopes: [...dto.scopes],
          expiresAt,
          lastUsedAt: null,
        }),
      );
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
    return keysetPage(this.tokens.createQueryBuilder('t').where('t.user_id = :userId', { userId }), newestFirst('t'), page, (t) => [
      t.createdAt,
      t.id,
    ]);
  }

  /**
   * Revokes one of the caller's tokens with its event. The row's delete NOTIFYs the user's id (trigger),
   * so every API process refuses the token from its next request and ends streams opened with it.
   */
  async revoke(caller: AuthUser, id: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const [rows]: [Pick<ApiToken, 'id' | 'name'>[], number] = await m.query(
        'DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING id, name',
        [id, caller.id],
      );
      const row = rows[0];
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
    const rows: { id: string; userId: string }[] = await this.tokens.query(
      prepared('SELECT id, user_id AS "userId" FROM api_tokens WHERE token_hash = $1'),
      [hash],
    );
    const [ref] = rows;
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
    this.tokens
      .query(
        prepared(
          "UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        ),
        [id],
      )
      .catch((err: Error) => this.logger.warn(`Cannot record the use of API token ${id}: ${err.message}`));
  }
}
