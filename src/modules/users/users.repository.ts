import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { must } from '../../common/must';
import { keysetPage, newestFirst, Page, PageQueryDto } from '../../common/pagination';
import { prepared } from '../../database/prepared';
import { Db, typedQuery, typedQueryOne, typedWrite } from '../../database/typed-query';
import type { ListUsersQueryDto } from './dto/admin-user.dto';
import { User } from './entities/user.entity';
import type { Identity } from './identity-cache';
import type { QuotaOverrides } from './quotas';

/** What a create writes; the rest of the row is the table's defaults. */
export type NewUserRow = Pick<User, 'username' | 'email' | 'passwordHash' | 'role' | 'credits' | 'isActive'>;

/** The columns an admin's update may set. */
export type UserAdminPatch = Pick<User, 'role' | 'isActive' | 'quotaMaxVms' | 'quotaMaxCpuCores' | 'quotaMaxRamMb'>;

/** The filters of the admin's users list. */
export type UserFilter = Omit<ListUsersQueryDto, keyof PageQueryDto>;

interface IdentityRow {
  id: string;
  role: Identity['role'];
  username: string;
  email: string;
  tokenVersion: number;
  revoked: string[];
  tokens: { id: string; s: string[]; e: string | null }[];
}

/**
 * The users table's identity, token and quota columns, and the revocations of single tokens
 * (revoked_tokens); the balance column (credits) is CreditsRepository's. Methods that take a manager
 * run in the caller's transaction.
 */
@Injectable()
export class UsersRepository {
  constructor(
    private readonly dataSource: DataSource,
    @InjectRepository(User) private readonly users: Repository<User>,
  ) {}

  insert(m: EntityManager, user: NewUserRow): Promise<User> {
    const repo = m.getRepository(User);
    return repo.save(repo.create(user));
  }

  /**
   * An active user's identity, or undefined: one primary-key read with their unexpired revocations and
   * their API tokens, expired ones included (few: API_TOKENS_MAX_PER_USER at most), so a token costs no query of its own.
   */
  async activeIdentity(id: string): Promise<Identity | undefined> {
    const row = await typedQueryOne<IdentityRow>(
      this.dataSource,
      prepared(
        'SELECT u.id, u.role, u.username, u.email, u.token_version AS "tokenVersion", ' +
          'ARRAY(SELECT r.jti FROM revoked_tokens r WHERE r.user_id = u.id AND r.expires_at > now()) AS revoked, ' +
          "COALESCE((SELECT json_agg(json_build_object('id', t.id, 's', t.scopes, 'e', t.expires_at)) FROM api_tokens t " +
          "WHERE t.user_id = u.id), '[]') AS tokens " +
          'FROM users u WHERE u.id = $1 AND u.is_active',
      ),
      [id],
    );
    if (!row) return undefined;
    const { revoked, tokens, ...identity } = row;
    const apiTokens = new Map(tokens.map((t) => [t.id, { scopes: t.s, expiresAt: t.e === null ? null : Date.parse(t.e) }]));
    return { ...identity, revokedJtis: new Set(revoked), apiTokens };
  }

  /** An active user's password hash and token version, or undefined. */
  activeWithHash(id: string): Promise<{ passwordHash: string; tokenVersion: number } | undefined> {
    return typedQueryOne(
      this.dataSource,
      'SELECT password_hash AS "passwordHash", token_version AS "tokenVersion" FROM users WHERE id = $1 AND is_active',
      [id],
    );
  }

  /** Stores a new password hash (the users_password_changed trigger raises the token version); the new version, or undefined when there is no such user. */
  setPasswordHash(m: EntityManager, id: string, passwordHash: string): Promise<number | undefined> {
    return this.updateTokenColumns(m, id, { passwordHash });
  }

  /** Raises the token version; the new one, or undefined when there is no such user. */
  bumpTokenVersion(m: EntityManager, id: string): Promise<number | undefined> {
    return this.updateTokenColumns(m, id, { tokenVersion: () => 'token_version + 1' });
  }

  private async updateTokenColumns(m: EntityManager, id: string, set: QueryDeepPartialEntity<User>): Promise<number | undefined> {
    const result = await m.createQueryBuilder().update(User).set(set).where('id = :id', { id }).returning('token_version').execute();
    return (result.raw as { token_version: number }[])[0]?.token_version;
  }

  /** Drops the user's revocations of single tokens. */
  async dropRevocations(m: EntityManager, userId: string): Promise<void> {
    await typedWrite(m, 'DELETE FROM revoked_tokens WHERE user_id = $1', [userId]);
  }

  /** Records a revocation of one token (kept until it expires), pruning every revocation past its expiry. */
  async revoke(m: EntityManager, token: { jti: string; userId: string; expiresAt: Date }): Promise<void> {
    await typedWrite(m, 'DELETE FROM revoked_tokens WHERE expires_at <= now()');
    await typedWrite(m, 'INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING', [
      token.jti,
      token.userId,
      token.expiresAt,
    ]);
  }

  /** The user's own quota limits (null: the default), or undefined when there is no such user. */
  quotaOverrides(id: string, m?: EntityManager): Promise<QuotaOverrides | undefined> {
    return typedQueryOne<QuotaOverrides>(
      m ?? this.dataSource,
      prepared('SELECT quota_max_vms AS vms, quota_max_cpu_cores AS cpu_cores, quota_max_ram_mb AS ram_mb FROM users WHERE id = $1'),
      [id],
    );
  }

  async findById(id: string, m?: EntityManager): Promise<User | undefined> {
    return (await (m ?? this.dataSource.manager).getRepository(User).findOneBy({ id })) ?? undefined;
  }

  /** A user's row locked FOR UPDATE, or undefined. */
  async lockById(m: EntityManager, id: string): Promise<User | undefined> {
    return (
      (await m.getRepository(User).createQueryBuilder('u').where('u.id = :id', { id }).setLock('pessimistic_write').getOne()) ?? undefined
    );
  }

  /** The active admins, their rows locked FOR UPDATE (so two concurrent demotions cannot both see another admin). */
  lockActiveAdmins(m: EntityManager): Promise<{ id: string }[]> {
    return typedQuery(m, `SELECT id FROM users WHERE role = 'admin' AND is_active FOR UPDATE`);
  }

  async update(m: EntityManager, id: string, patch: UserAdminPatch): Promise<void> {
    await m.getRepository(User).update(id, patch);
  }

  /** For login: the only read that selects the password hash. Email match is case-insensitive. */
  async findByEmailWithHash(email: string): Promise<User | undefined> {
    return (
      (await this.users
        .createQueryBuilder('u')
        .addSelect(['u.passwordHash', 'u.tokenVersion'])
        .where('lower(u.email) = lower(:email)', { email })
        .getOne()) ?? undefined
    );
  }

  /** The id of the user with this email in any letter case (else null), and whether the username is in use. */
  async emailOrUsernameTaken(db: Db, email: string, username: string): Promise<{ email: string | null; username: boolean }> {
    const row = await typedQueryOne<{ email: string | null; username: boolean }>(
      db,
      'SELECT (SELECT id FROM users WHERE lower(email) = lower($1)) AS email, EXISTS (SELECT 1 FROM users WHERE username = $2) AS username',
      [email, username],
    );
    return must(row, 'the existence row');
  }

  /**
   * The admin's list: newest first, filtered by search text (a substring of the email or the username,
   * any letter case; trigram indexes users_email_trgm_idx and users_username_trgm_idx), email or username
   * prefix, role, active flag. Usernames are lowercase, so lowering the text is enough for them.
   */
  list(filter: UserFilter, page: PageQueryDto): Promise<Page<User>> {
    const literal = (text: string) => text.toLowerCase().replace(/[\\%_]/g, '\\$&');
    const qb = this.users.createQueryBuilder('u');
    if (filter.q) qb.andWhere('(lower(u.email) LIKE :q OR u.username LIKE :q)', { q: `%${literal(filter.q)}%` });
    if (filter.email_prefix) qb.andWhere('lower(u.email) LIKE :email', { email: `${literal(filter.email_prefix)}%` });
    if (filter.username_prefix) qb.andWhere('u.username LIKE :username', { username: `${literal(filter.username_prefix)}%` });
    if (filter.role) qb.andWhere('u.role = :role', { role: filter.role });
    if (filter.is_active !== undefined) qb.andWhere('u.is_active = :active', { active: filter.is_active });
    return keysetPage(qb, newestFirst('u'), page, (e) => [e.createdAt, e.id]);
  }

  /** Users by id, one query. */
  byIds(ids: readonly string[]): Promise<User[]> {
    return this.users
      .createQueryBuilder('u')
      .where('u.id IN (:...ids)', { ids: [...new Set(ids)] })
      .getMany();
  }
}
