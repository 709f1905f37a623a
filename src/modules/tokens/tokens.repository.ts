import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { keysetPage, newestFirst, Page, PageQueryDto } from '../../common/pagination';
import { prepared } from '../../database/prepared';
import { typedQueryOne, typedWrite } from '../../database/typed-query';
import { ApiToken } from './entities/api-token.entity';

/** What a create writes; created_at is the table's default. */
export type NewApiToken = Pick<ApiToken, 'id' | 'userId' | 'name' | 'tokenHash' | 'scopes' | 'expiresAt'>;

/** The api_tokens table: every statement on it lives here. Methods that take a manager run in the caller's transaction. */
@Injectable()
export class TokensRepository {
  constructor(
    private readonly dataSource: DataSource,
    @InjectRepository(ApiToken) private readonly tokens: Repository<ApiToken>,
  ) {}

  /**
   * Locks the owner's users row (NO KEY UPDATE: rows that reference the user can still be inserted
   * meanwhile), so one user's concurrent creates run one after another.
   */
  async lockOwner(m: EntityManager, userId: string): Promise<void> {
    await typedQueryOne(m, 'SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [userId]);
  }

  count(m: EntityManager, userId: string): Promise<number> {
    return m.getRepository(ApiToken).countBy({ userId });
  }

  insert(m: EntityManager, token: NewApiToken): Promise<ApiToken> {
    const repo = m.getRepository(ApiToken);
    return repo.save(repo.create({ ...token, lastUsedAt: null }));
  }

  /** The user's tokens, newest first (never a hash: `select: false`). */
  list(userId: string, page: PageQueryDto): Promise<Page<ApiToken>> {
    return keysetPage(this.tokens.createQueryBuilder('t').where('t.user_id = :userId', { userId }), newestFirst('t'), page, (t) => [
      t.createdAt,
      t.id,
    ]);
  }

  /** Deletes one of the user's tokens, returning what it was, or undefined when there was none. */
  async deleteOwn(m: EntityManager, userId: string, id: string): Promise<Pick<ApiToken, 'id' | 'name'> | undefined> {
    const { rows } = await typedWrite<Pick<ApiToken, 'id' | 'name'>>(
      m,
      'DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING id, name',
      [id, userId],
    );
    return rows[0];
  }

  /** The token (id and user) whose secret has this SHA-256, or undefined. */
  byHash(hash: string): Promise<{ id: string; userId: string } | undefined> {
    return typedQueryOne<{ id: string; userId: string }>(
      this.dataSource,
      prepared('SELECT id, user_id AS "userId" FROM api_tokens WHERE token_hash = $1'),
      [hash],
    );
  }

  /** Records a use now, unless one was recorded less than a minute ago (by any process). */
  async touch(id: string): Promise<void> {
    await typedWrite(
      this.dataSource,
      prepared(
        "UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
      ),
      [id],
    );
  }
}
