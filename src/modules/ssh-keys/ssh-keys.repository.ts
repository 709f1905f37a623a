import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, Repository } from 'typeorm';
import { keysetPage, newestFirst, Page, PageQueryDto } from '../../common/pagination';
import { typedQueryOne, typedWrite } from '../../database/typed-query';
import { SshKey } from './entities/ssh-key.entity';

/** The ssh_keys table, through TypeORM's repository where it serves, typed SQL where it does not. */
@Injectable()
export class SshKeysRepository {
  constructor(@InjectRepository(SshKey) private readonly keys: Repository<SshKey>) {}

  /**
   * Locks the owner's users row (NO KEY UPDATE: rows that reference the user, VMs and events, can
   * still be inserted meanwhile), so one user's concurrent adds run one after another.
   */
  async lockOwner(m: EntityManager, userId: string): Promise<void> {
    await typedQueryOne(m, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [userId]);
  }

  count(m: EntityManager, userId: string): Promise<number> {
    return m.getRepository(SshKey).countBy({ userId });
  }

  insert(m: EntityManager, key: SshKey): Promise<SshKey> {
    const repo = m.getRepository(SshKey);
    return repo.save(repo.create(key));
  }

  /** The user's keys, newest first. */
  list(userId: string, page: PageQueryDto): Promise<Page<SshKey>> {
    return keysetPage(this.keys.createQueryBuilder('k').where('k.user_id = :userId', { userId }), newestFirst('k'), page, (k) => [
      k.createdAt,
      k.id,
    ]);
  }

  async findOwn(userId: string, id: string): Promise<SshKey | undefined> {
    return (await this.keys.findOneBy({ id, userId })) ?? undefined;
  }

  /** The user's keys among `ids` (any order). */
  findOwnMany(m: EntityManager, userId: string, ids: readonly string[]): Promise<SshKey[]> {
    return m.getRepository(SshKey).findBy({ userId, id: In([...ids]) });
  }

  /** Deletes one of the user's keys, returning what it was, or undefined when there was none. */
  async deleteOwn(m: EntityManager, userId: string, id: string): Promise<Pick<SshKey, 'id' | 'name' | 'type' | 'fingerprint'> | undefined> {
    const { rows } = await typedWrite<Pick<SshKey, 'id' | 'name' | 'type' | 'fingerprint'>>(
      m,
      `DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2 RETURNING id, name, type, fingerprint`,
      [id, userId],
    );
    return rows[0];
  }
}
