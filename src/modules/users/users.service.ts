import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { notFound } from '../../common/app-error';
import { User, UserRole } from './entities/user.entity';

export interface NewUser {
  username: string;
  email: string;
  passwordHash: string;
  role: UserRole;
}

@Injectable()
export class UsersService {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  /** Inserts a user with a zero balance inside the caller's transaction; credits come from the ledger. */
  async create(manager: EntityManager, input: NewUser): Promise<User> {
    const repo = manager.getRepository(User);
    return repo.save(repo.create({ ...input, credits: 0, isActive: true }));
  }

  /**
   * The identity (and balance) of an active user, for the JWT strategy on every authenticated
   * request: one primary-key read of five columns, without building an ORM query each time.
   */
  async findActiveIdentity(id: string): Promise<Pick<User, 'id' | 'role' | 'username' | 'email' | 'credits'> | null> {
    const rows: Pick<User, 'id' | 'role' | 'username' | 'email' | 'credits'>[] = await this.users.query(
      'SELECT id, role, username, email, credits FROM users WHERE id = $1 AND is_active',
      [id],
    );
    return rows[0] ?? null;
  }

  async get(id: string): Promise<User> {
    const user = await this.users.findOneBy({ id });
    if (!user) throw notFound('User');
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
}
