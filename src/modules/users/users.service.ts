import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { Page, PageQueryDto } from '../../common/pagination';
import type { AuthUser, UserRole } from '../../common/auth';
import { EventsService } from '../events/events.service';
import { UpdateUserDto } from './dto/admin-user.dto';
import type { QuotaOverrides } from './quotas';
import { User } from './entities/user.entity';
import { Identity, IdentityCache } from './identity-cache';
import { USER_ERRORS } from './users.errors';
import { UserFilter, UsersRepository } from './users.repository';
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
    private readonly dataSource: DataSource,
    private readonly users: UsersRepository,
    private readonly events: EventsService,
    private readonly identities: IdentityCache,
  ) {}

  /** Inserts a user with a zero balance inside the caller's transaction; credits come from the ledger. */
  async create(manager: EntityManager, input: NewUser): Promise<User> {
    return this.users.insert(manager, { ...input, credits: 0, isActive: true });
  }

  /**
   * The identity of an active user, for the JWT strategy on every authenticated request: from the
   * IdentityCache, else one primary-key read of four columns.
   */
  findActiveIdentity(id: string): Promise<Identity | null> {
    return this.identities.get(id, async (userId) => (await this.users.activeIdentity(userId)) ?? null);
  }

  /** Forgets this process's cached identity of the user (after a change of theirs commits). */
  forgetIdentity(id: string): void {
    this.identities.invalidate(id);
  }

  /** The user's password hash and token version (for a password change), or null when inactive or gone. */
  async findActiveWithHash(id: string): Promise<{ passwordHash: string; tokenVersion: number } | null> {
    return (await this.users.activeWithHash(id)) ?? null;
  }

  /**
   * Stores a new password hash; the users_password_changed trigger raises the token version, so every
   * token issued before stops working. Returns the new version. Revocations of the user's single
   * tokens are dropped: no token of theirs from before is valid any more.
   */
  async setPasswordHash(manager: EntityManager, id: string, passwordHash: string): Promise<number> {
    return this.updateEndingTokens(manager, id, () => this.users.setPasswordHash(manager, id, passwordHash));
  }

  /** Ends every token of the user issued so far (raises the token version); returns the new version. */
  async bumpTokenVersion(manager: EntityManager, id: string): Promise<number> {
    return this.updateEndingTokens(manager, id, () => this.users.bumpTokenVersion(manager, id));
  }

  /** An update that ends the user's tokens (the trigger or `set` raises the version): single revocations are moot after it. */
  private async updateEndingTokens(manager: EntityManager, id: string, update: () => Promise<number | undefined>): Promise<number> {
    const version = await update();
    if (version === undefined) throw USER_ERRORS.error('user.not_found', 'User not found');
    await this.users.dropRevocations(manager, id);
    return version;
  }

  /**
   * Ends one token (logout) until it would have expired; a trigger NOTIFYs the user's id so every API
   * process drops its cached identity. Revocations past their expiry are pruned here, by any logout.
   */
  async revokeToken(manager: EntityManager, token: { jti: string; userId: string; expiresAt: Date }): Promise<void> {
    await this.users.revoke(manager, token);
  }

  /**
   * An admin's "sign out everywhere": every token the user holds stops working and their open event
   * streams end, in every API process, with an admin event. Their account is otherwise unchanged.
   */
  async adminSignOut(actor: AuthUser, id: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const user = await this.users.findById(id, m);
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
  async quotaOverrides(id: string, manager?: EntityManager): Promise<QuotaOverrides> {
    const row = await this.users.quotaOverrides(id, manager);
    if (!row) throw USER_ERRORS.error('user.not_found', 'User not found');
    return row;
  }

  async get(id: string, manager?: EntityManager): Promise<User> {
    const user = await this.users.findById(id, manager);
    if (!user) throw USER_ERRORS.error('user.not_found', 'User not found');
    return user;
  }

  /** For login: the only read that selects the password hash. Email match is case-insensitive. */
  async findByEmailWithHash(email: string): Promise<User | null> {
    return (await this.users.findByEmailWithHash(email)) ?? null;
  }

  /** Whether the username is in use, and the id of the user with this email in any letter case (else null). */
  async existsByEmailOrUsername(
    manager: EntityManager,
    email: string,
    username: string,
  ): Promise<{ email: string | null; username: boolean }> {
    return this.users.emailOrUsernameTaken(manager, email, username);
  }

  list(filter: UserFilter, page: PageQueryDto): Promise<Page<User>> {
    return this.users.list(filter, page);
  }

  /** Users by id, one query (for naming the owners of a page of rows). */
  async byIds(ids: string[]): Promise<Map<string, User>> {
    if (!ids.length) return new Map();
    const rows = await this.users.byIds(ids);
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
    const updated = await this.dataSource.transaction(async (m) => {
      const admins = await this.users.lockActiveAdmins(m);
      const user = await this.users.lockById(m, id);
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
      await this.users.update(m, id, {
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
      return must(await this.users.findById(id, m), 'the updated user');
    });
    // Committed: this process stops honouring the old identity now; others hear the trigger's NOTIFY.
    this.identities.invalidate(id);
    return updated;
  }
}
