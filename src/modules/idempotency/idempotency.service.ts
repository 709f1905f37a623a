import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Request } from 'express';
import { Repository } from 'typeorm';
import { ProblemFilter } from '../../common/problem.filter';
import { QueueService } from '../../queue/queue.service';
import { IdempotencyKey } from './entities/idempotency-key.entity';
import { prepared } from '../../database/prepared';

export const IDEMPOTENCY_TTL_HOURS = 24;
const PURGE_QUEUE = 'idempotency-purge';

export type Claim =
  | { kind: 'new' }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  | { kind: 'in_flight' };

@Injectable()
export class IdempotencyService implements OnApplicationBootstrap {
  private readonly logger = new Logger(IdempotencyService.name);
  private readonly problems = new ProblemFilter();

  constructor(
    @InjectRepository(IdempotencyKey) private readonly keys: Repository<IdempotencyKey>,
    private readonly queue: QueueService,
  ) {}

  /** Hourly purge, once per interval across all processes (pg-boss schedule), run where workers run. */
  async onApplicationBootstrap(): Promise<void> {
    await this.queue.periodic(PURGE_QUEUE, 60, () => this.purgeExpired());
  }

  /**
   * Claims (user, key) with one INSERT ... ON CONFLICT: the unique key decides which of two concurrent
   * requests runs; an expired row is taken over. Otherwise the existing row says replay, mismatch or in flight.
   */
  async claim(userId: string, key: string, endpoint: string, requestHash: string): Promise<Claim> {
    const [inserted] = await this.keys.query(
      prepared(`INSERT INTO idempotency_keys (user_id, key, endpoint, request_hash, expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5))
       ON CONFLICT (user_id, key) DO UPDATE
         SET endpoint = EXCLUDED.endpoint, request_hash = EXCLUDED.request_hash, response_status = NULL,
             response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE idempotency_keys.expires_at < now()
       RETURNING key`),
      [userId, key, endpoint, requestHash, IDEMPOTENCY_TTL_HOURS],
    );
    if (inserted) return { kind: 'new' };
    const row = await this.keys.findOneBy({ userId, key });
    if (!row) return this.claim(userId, key, endpoint, requestHash); // purged in between
    if (row.requestHash !== requestHash || row.endpoint !== endpoint) return { kind: 'mismatch' };
    if (row.responseStatus === null) return { kind: 'in_flight' };
    return { kind: 'replay', status: row.responseStatus, body: row.responseBody };
  }

  async complete(userId: string, key: string, status: number, body: unknown): Promise<void> {
    await this.keys.update({ userId, key }, { responseStatus: status, responseBody: JSON.parse(JSON.stringify(body ?? null)) });
  }

  /** Stores a 4xx answer as the problem body the client saw. */
  async completeWithError(userId: string, key: string, err: unknown, req: Request): Promise<void> {
    const problem = this.problems.toProblem(err, req);
    await this.complete(userId, key, problem.status, problem);
  }

  /** The request ended without a definite answer (5xx): let a retry with the same key run it. */
  async release(userId: string, key: string): Promise<void> {
    await this.keys.delete({ userId, key });
  }

  async purgeExpired(): Promise<number> {
    const [, count] = await this.keys.query('DELETE FROM idempotency_keys WHERE expires_at < now()');
    if (count) this.logger.log(`Purged ${count} expired idempotency keys`);
    return count as number;
  }
}
