import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { prepared } from '../../database/prepared';
import { Db, typedQueryOne, typedWrite } from '../../database/typed-query';
import { IdempotencyKey } from './entities/idempotency-key.entity';

/** What identifies one keyed request. */
export interface IdempotencyClaim {
  userId: string;
  key: string;
  endpoint: string;
  requestHash: string;
}

/** The idempotency_keys table: claims, stored answers, expiry. */
@Injectable()
export class IdempotencyRepository {
  constructor(@InjectRepository(IdempotencyKey) private readonly keys: Repository<IdempotencyKey>) {}

  get manager(): EntityManager {
    return this.keys.manager;
  }

  /** The live (unexpired) row of (user, key), if any. */
  async findLive(userId: string, key: string): Promise<IdempotencyKey | undefined> {
    const row = await this.keys
      .createQueryBuilder('k')
      .where('k.user_id = :userId AND k.key = :key AND k.expires_at >= now()', { userId, key })
      .getOne();
    return row ?? undefined;
  }

  /**
   * One INSERT ... ON CONFLICT: the primary key makes a concurrent claim of the same key wait for
   * this transaction; an expired row is taken over. False when a live row exists.
   */
  async claim(m: EntityManager, r: IdempotencyClaim, ttlHours: number): Promise<boolean> {
    const claimed = await typedQueryOne<{ key: string }>(
      m,
      prepared(`INSERT INTO idempotency_keys (user_id, key, endpoint, request_hash, expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5))
       ON CONFLICT (user_id, key) DO UPDATE
         SET endpoint = EXCLUDED.endpoint, request_hash = EXCLUDED.request_hash, response_status = NULL,
             response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE idempotency_keys.expires_at < now()
       RETURNING key`),
      [r.userId, r.key, r.endpoint, r.requestHash, ttlHours],
    );
    return claimed !== undefined;
  }

  /** Stores the answer: updates a claimed row still without one, or inserts the row when there is none. */
  async saveAnswer(db: Db, r: IdempotencyClaim, status: number, body: unknown, ttlHours: number): Promise<void> {
    await typedWrite(
      db,
      prepared(`INSERT INTO idempotency_keys (user_id, key, endpoint, request_hash, response_status, response_body, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(hours => $7))
       ON CONFLICT (user_id, key) DO UPDATE
         SET response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body
         WHERE idempotency_keys.response_status IS NULL`),
      [r.userId, r.key, r.endpoint, r.requestHash, status, JSON.stringify(body ?? null), ttlHours],
    );
  }

  /** Deletes expired rows; returns how many. */
  async purgeExpired(): Promise<number> {
    return (await typedWrite(this.keys.manager, 'DELETE FROM idempotency_keys WHERE expires_at < now()')).affected;
  }
}
