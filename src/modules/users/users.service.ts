import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';

import { Page, keysetPage, newestFirst, PageQueryDto } from '../../common/pagination';
import type { AuthUser, UserRole } from '../../common/auth';
import { EventsService } from '../events/events.service';
import { ListUsersQueryDto, UpdateUserDto } from './dto/admin-user.dto';
import type { QuotaOverrides } from './quotas';
import { User } from './entities/user.entity';
import { Identity, IdentityCache } from './identity-cache';
import { prepared } from '../../database/prepared';
import { USER_ERRORS } from './users.errors';
import { must } from '../../common/must';

export type { QuotaOverrides };

export const quotaOverridesOf = (u: User): QuotaOverrides => ({
  vms: u.quotaMaxVms,
  cpu_cores: u.quotaMaxCpuCores,
  ram_mb: u.quotaMaxRamMb,
});

export interface NewUser {
  username: string;
  email: string;
  passwordHash: string;
  role: UserRole;
}

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly events: EventsService,
    private readonly identities: IdentityCache,
  ) {}

  /** Inserts a user with a zero balance inside the caller's transaction; credits come from the ledger. */
  async create(manager: EntityManager, input: NewUser): Promise<User> {
    const repo = manager.getRepository(User);
    return repo.save(repo.create({ ...input, credits: 0, isActive: true }));
  }

  /**
   * The identity of an active user, for the JWT strategy on every authenticated request: from the
   * IdentityCache, else one primary-key read of four columns.
   */
  findActiveIdentity(id: string): Promise<Identity | null> {
    return this.identities.get(id, async (userId) => {
      const rows: (Omit<Identity, 'revokedJtis' | 'apiTokens'> & {
        revoked: string[];
        tokens: { id: string; s: string[]; e: string | null }[];
      })[] = await this.users.query(
        prepared(
          'SELECT u.id, u.role, u.username, u.email, u.token_version AS "tokenVersion", ' +
            'ARRAY(SELECT r.jti FROM revoked_tokens r WHERE r.user_id = u.id AND r.expires_at > now()) AS revoked, ' +
            // The user's live API tokens (few: API_TOKENS_MAX_PER_USER at most), so a token costs no query of its own.
            "COALESCE((SELECT json_agg(json_build_object('id', t.id, 's', t.scopes, 'e', t.expires_at)) FROM api_tokens t " +
            "WHERE t.user_id = u.id AND (t.expires_at IS NULL OR t.expires_at > now())), '[]') AS tokens " +
            'FROM users u WHERE u.id = $1 AND u.is_active',
        ),
        [userId],
      );
      const [row] = rows;
      if (!row) return null;
      const { revoked, tokens, ...identity } = row;
      const apiTokens = new Map(tokens.map((t) => [t.id, { scopes: t.s, expiresAt: t.e === null ? null : Date.parse(t.e) }]));
      return { ...identity, revokedJtis: new Set(revoked), apiTokens };
    });
  }

  /** Forgets this process's cached identity of the user (after a change of theirs commits). */
  forgetIdentity(id: string): void {
    this.identities.invalidate(id);
  }

  /** The user's password hash and token version (for a password change), or null when inactive or gone. */
  async findActiveWithHash(id: string): Promise<{ passwordHash: string; tokenVersion: number } | null> {
    const rows: { passwordHash: string; tokenVersion: number }[] = await this.users.query(
      'SELECT password_hash AS "passwordHash", token_version AS "tokenVersion" FROM users WHERE id = $1 AND is_active',
      [id],
    );
    return rows[0] ?? null;
  }

  /**
   * Stores a new password hash; the users_password_changed trigger raises the token version, so every
   * token issued before stops working. Returns the new version. Revocations of the user's single
   * tokens are dropped: no token of theirs from before is valid any more.
   */
  async setPasswordHash(manager: EntityManager, id: string, passwordHash: string): Promise<number> {
    return this.updateEndingTokens(manager, id, { passwordHash });
  }

  /** Ends every token of the user issued so far (raises the token version); returns the new version. */
  async bumpTokenVersion(manager: EntityManager, id: string): Promise<number> {
    return this.updateEndingTokens(manager, id, { tokenVersion: () => 'token_version + 1' });
  }

  /** An update that ends the user's tokens (the trigger or `set` raises the version): single revocations are moot after it. */
  private async updateEndingTokens(manager: EntityManager, id: string, set: QueryDeepPartialEntity<User>): Promise<number> {
    const result = await manager.createQueryBuilder().update(User).set(set).where('id = :id', { id }).returning('token_version').execute();
    const rows = result.raw as { token_version: number }[];
    if (!rows.length) throw USER_ERRORS.error('user.not_found', 'User not found');
    await manager.query('DELETE FROM revoked_tokens WHERE user_id = $1', [id]);
    return must(rows[0], 'the user row').token_version;
  }

  /**
   * Ends one token (logout) until it would have expired; a trigger NOTIFYs the user's id so every API
   * process drops its cached identity. Revocations past their expiry are pruned here, by any logout.
   */
  async revokeToken(manager: EntityManager, token: { jti: string; userId: string; expiresAt: Date }): Promise<void> {
    await manager.query('DELETE FROM revoked_tokens WHERE expires_at <= now()');
    await manager.query('INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING', [
      token.jti,
      token.userId,
      token.expiresAt,
    ]);
  }

  /**
   * An admin's "sign out everywhere": every token the user holds stops working and their open event
   * streams end, in every API process, with an admin event. Their account is otherwise unchanged.
   */
  async adminSignOut(actor: AuthUser, id: string): Promise<void> {
    await this.users.manager.transaction(async (m) => {
      const user = await m.getRepository(User).findOneBy({ id });
      if (!user) throw USER_ERRORS.error('user.not_found', 'User not found');
      const version = await this.bumpTokenVersion(m, id);
      await this.events.record(m, {
        action: 'admin.user_signed_out',
        message: `Admin ${actor.username} signed user ${user.username} out everywhere`,
        details: { target_user_id: id, token_version: version },
        userId: id,
        actorId: actor.id,
      });
    });
    this.identities.invalidate(id);
  }

  /** The user's own quota limits; one primary-key read. */
  async quotaOverrides(id: string, manager: EntityManager = this.users.manager): Promise<QuotaOverrides> {
    const rows: QuotaOverrides[] = await manager.query(
      prepared('SELECT quota_max_vms AS vms, quota_max_cpu_cores AS cpu_cores, quota_max_ram_mb AS ram_mb FROM users WHERE id = $1'),
      [id],
    );
    const [row] = rows;
    if (!row) throw USER_ERRORS.error('user.not_found', 'User not found');
    return row;
  }

  async get(id: string, manager: EntityManager = this.users.manager): Promise<User> {
    const user = await manager.getRepository(User).findOneBy({ id });
    if (!user) throw USER_ERRORS.error('user.not_found', 'User not found');
    return user;
  }

  /** For login: the only read that selects the password hash. Email match is case-insensitive. */
  findByEmailWithHash(email: string): Promise<User | null> {
    return this.users
      .createQueryBuilder('u')
      .addSelect(['u.passwordHash', 'u.tokenVersion'])
      .where('lower(u.email) = lower(:email)', { email })
      .getOne();
  }

  /** Whether the username is in use, and the id of the user with this email in any letter case (else null). */
  async existsByEmailOrUsername(
    manager: EntityManager,
    email: string,
    username: string,
  ): Promise<{ email: string | null; username: boolean }> {
    const rows: { email: string | null; username: boolean }[] = await manager.query(
      'SELECT (SELECT id FROM users WHERE lower(email) = lower($1)) AS email, EXISTS (SELECT 1 FROM users WHERE username = $2) AS username',
      [email, username],
    );
    return must(rows[0], 'the existence row');
  }

  async list(filter: Omit<ListUsersQueryDto, keyof PageQueryDto>, page: PageQueryDto): Promise<Page<User>> {
    const like = (prefix: string) => `${prefix.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`;
    const qb = this.users.createQueryBuilder('u');
    if (filter.email_prefix) qb.andWhere('lower(u.email) LIKE :email', { email: like(filter.email_prefix) });
    if (filter.username_prefix) qb.andWhere('u.username LIKE :username', { username: like(filter.username_prefix) });
    if (filter.role) qb.andWhere('u.role = :role', { role: filter.role });
    if (filter.is_active !== undefined) qb.andWhere('u.is_active = :active', { active: filter.is_active });
    return keysetPage(qb, newestFirst('u'), page, (e) => [e.createdAt, e.id]);
  }

  /** Users by id, one query (for naming the owners of a page of rows). */
  async byIds(ids: string[]): Promise<Map<string, User>> {
    if (!ids.length) return new Map();
    const rows = await this.users
      .createQueryBuilder('u')
      .where('u.id IN (:...ids)', { ids: [...new Set(ids)] })
      .getMany();
    return new Map(rows.map((u) => [u.id, u]));
  }

  /**
   * An admin changes a user's role or active flag, with an admin event, in one transaction. An admin
   * cannot demote or deactivate themselves, and the last active admin cannot be removed (the active
   * admins are locked first, so two concurrent demotions cannot both pass the check).
   */
  async adminUpdate(actor: AuthUser, id: string, patch: UpdateUserDto): Promise<User> {
    const quotaChanges = Object.values(patch.quotas ?? {}).filter((v) => v !== undefined).length;
    if (patch.role === undefined && patch.is_active === undefined && quotaChanges === 0) {
      throw USER_ERRORS.error('user.empty_update', 'Give role, is_active and/or quotas');
    }
    const updated = await this.users.manager.transaction(async (m) => {
      const admins: { id: string }[] = await m.query(`SELECT id FROM users WHERE role = 'admin' AND is_active FOR UPDATE`);
      const user = await m.getRepository(User).createQueryBuilder('u').where('u.id = :id', { id }).setLock('pessimistic_write').getOne();
      if (!user) throw USER_ERRORS.error('user.not_found', 'User not found');
      const removesAdmin = user.role === 'admin' && user.isActive && (patch.role === 'user' || patch.is_active === false);
      if (removesAdmin && id === actor.id) {
        throw USER_ERRORS.error('user.self_demotion', 'Admins cannot demote or deactivate themselves');
      }
      if (removesAdmin && admins.length <= 1) {
        throw USER_ERRORS.error('user.last_admin', 'The last active admin cannot be demoted or deactivated');
      }
      const before = { role: user.role, is_active: user.isActive, quotas: quotaOverridesOf(user) };
      if (patch.role !== undefined) user.role = patch.role;
      if (patch.is_active !== undefined) user.isActive = patch.is_active;
      if (patch.quotas?.vms !== undefined) user.quotaMaxVms = patch.quotas.vms;
      if (patch.quotas?.cpu_cores !== undefined) user.quotaMaxCpuCores = patch.quotas.cpu_cores;
      if (patch.quotas?.ram_mb !== undefined) user.quotaMaxRamMb = patch.quotas.ram_mb;
      await m.getRepository(User).update(id, {
        role: user.role,
        isActive: user.isActive,
        quotaMaxVms: user.quotaMaxVms,
        quotaMaxCpuCores: user.quotaMaxCpuCores,
        quotaMaxRamMb: user.quotaMaxRamMb,
      });
      await this.events.record(m, {
        action: 'admin.user_updated',
        message: `Admin ${actor.username} changed user ${user.username}: ${JSON.stringify(before)} -> ${JSON.stringify(patch)}`,
        details: { before, after: { role: user.role, is_active: user.isActive, quotas: quotaOverridesOf(user) }, target_user_id: id },
        userId: id,
        actorId: actor.id,
      });
      return m.getRepository(User).findOneByOrFail({ id });
    });
    // Committed: this process stops honouring the old identity now; others hear the trigger's NOTIFY.
    this.identities.invalidate(id);
    return updated;
  }
}
