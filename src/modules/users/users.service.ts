import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';

import { Page, paginate, PageQueryDto } from '../../common/pagination';
import type { AuthUser } from '../auth/auth.decorators';
import { EventsService } from '../events/events.service';
import { ListUsersQueryDto, UpdateUserDto } from './dto/admin-user.dto';
import type { QuotaResource } from '../vms/quotas';
import { User, UserRole } from './entities/user.entity';
import { Identity, IdentityCache } from './identity-cache';
import { prepared } from '../../database/prepared';
import { USER_ERRORS } from './users.errors';

/** A user's own quota limits per resource; null: the QUOTA_* default applies. */
export type QuotaOverrides = Record<QuotaResource, number | null>;

export const quotaOverridesOf = (u: User): QuotaOverrides => ({ vms: u.quotaMaxVms, cpu_cores: u.quotaMaxCpuCores, ram_mb: u.quotaMaxRamMb });

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
      const rows: Identity[] = await this.users.query(prepared('SELECT id, role, username, email FROM users WHERE id = $1 AND is_active'), [userId]);
      return rows[0] ?? null;
    });
  }

  /** The user's own quota limits; one primary-key read. */
  async quotaOverrides(id: string, manager: EntityManager = this.users.manager): Promise<QuotaOverrides> {
    const rows: QuotaOverrides[] = await manager.query(
      prepared('SELECT quota_max_vms AS vms, quota_max_cpu_cores AS cpu_cores, quota_max_ram_mb AS ram_mb FROM users WHERE id = $1'),
      [id],
    );
    if (!rows.length) throw USER_ERRORS.error('user.not_found', 'User not found');
    return rows[0];
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
      .addSelect('u.passwordHash')
      .where('lower(u.email) = lower(:email)', { email })
      .getOne();
  }

  async existsByEmailOrUsername(manager: EntityManager, email: string, username: string): Promise<'email' | 'username' | null> {
    const row = await manager
      .getRepository(User)
      .createQueryBuilder('u')
      .select(['u.email', 'u.username'])
      .where('lower(u.email) = lower(:email) OR u.username = :username', { email, username })
      .getOne();
    if (!row) return null;
    return row.email.toLowerCase() === email.toLowerCase() ? 'email' : 'username';
  }

  async list(filter: Omit<ListUsersQueryDto, keyof PageQueryDto>, page: PageQueryDto): Promise<Page<User>> {
    const like = (prefix: string) => `${prefix.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`;
    const qb = this.users.createQueryBuilder('u');
    if (filter.email_prefix) qb.andWhere('lower(u.email) LIKE :email', { email: like(filter.email_prefix) });
    if (filter.username_prefix) qb.andWhere('u.username LIKE :username', { username: like(filter.username_prefix) });
    if (filter.role) qb.andWhere('u.role = :role', { role: filter.role });
    if (filter.is_active !== undefined) qb.andWhere('u.is_active = :active', { active: filter.is_active });
    return paginate(qb, page);
  }

  /** Users by id, one query (for naming the owners of a page of rows). */
  async byIds(ids: string[]): Promise<Map<string, User>> {
    if (!ids.length) return new Map();
    const rows = await this.users.createQueryBuilder('u').where('u.id IN (:...ids)', { ids: [...new Set(ids)] }).getMany();
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
