import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { EntityManager } from 'typeorm';
import { ProblemFilter } from '../../common/problem.filter';
import { PeriodicService } from '../../queue/periodic.service';
import { IdempotencyRepository } from './idempotency.repository';

export const IDEMPOTENCY_TTL_HOURS = 24;
const PURGE_TASK = 'idempotency-purge';

/** What a stored key says about a request that presents it. */
export type StoredAnswer =
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  /** Only rows written before answers were committed with their work (see migration IdempotencyAnswerWithWork). */
  | { kind: 'in_flight' };

/** Thrown by IdempotentRequest.claim when another request with the key has committed its answer. */
export class IdempotencyKeyTaken extends Error {
  constructor() {
    super('idempotency key already answered');
  }
}

/**
 * An Idempotency-Key presented with a request, which the use case settles INSIDE its own transaction:
 * `claim` is the transaction's first statement and `answer` stores the response beside the work, so
 * they commit together or not at all. A crash (or kill -9) mid-request rolls back both, and the key is
 * free for the retry at once. A concurrent request with the same key waits on the primary key until
 * this transaction ends, then replays its answer (or, after a rollback, does the work itself).
 */
export class IdempotentRequest {
  answered = false;

  constructor(
    private readonly store: IdempotencyService,
    readonly userId: string,
    readonly key: string,
    readonly endpoint: string,
    readonly requestHash: string,
    /** The route's success status (its answer is rendered before Nest sets the status). */
    readonly status: number,
  ) {}

  claim(m: EntityManager): Promise<void> {
    return this.store.claim(m, this);
  }

  async answer(m: EntityManager, body: unknown): Promise<void> {
    await this.store.save(m, this, this.status, body);
    this.answered = true;
  }
}

@Injectable()
export class IdempotencyService implements OnApplicationBootstrap {
  private readonly logger = new Logger(IdempotencyService.name);
  private readonly problems = new ProblemFilter();

  constructor(
    private readonly keys: IdempotencyRepository,
    private readonly periodic: PeriodicService,
  ) {}

  /** Hourly purge, once per interval across all processes, run where workers run. */
  onApplicationBootstrap(): void {
    this.periodic.every(PURGE_TASK, 60, () => this.purgeExpired());
  }

  /** The live stored answer for (user, key), judged against this request; null when there is none. */
  async find(userId: string, key: string, endpoint: string, requestHash: string): Promise<StoredAnswer | null> {
    const row = await this.keys.findLive(userId, key);
    if (!row) return null;
    if (row.requestHash !== requestHash || row.endpoint !== endpoint) return { kind: 'mismatch' };
    if (row.responseStatus === null) return { kind: 'in_flight' };
    return { kind: 'replay', status: row.responseStatus, body: row.responseBody };
  }

  /**
   * Claims the key in the caller's transaction with one INSERT ... ON CONFLICT: the primary key makes a
   * concurrent claim of the same key wait for this transaction; an expired row is taken over. A live
   * row means another request has answered: IdempotencyKeyTaken (the caller's transaction rolls back).
   */
  async claim(m: EntityManager, r: IdempotentRequest): Promise<void> {
    if (!(await this.keys.claim(m, r, IDEMPOTENCY_TTL_HOURS))) throw new IdempotencyKeyTaken();
  }

  /**
   * Stores the answer. In a use case's transaction after `claim`, it updates the claimed row; on its
   * own (a 4xx answer: nothing was done, so nothing to commit with) it inserts the row unless another
   * request with the key answered first.
   */
  async save(m: EntityManager, r: IdempotentRequest, status: number, body: unknown): Promise<void> {
    await this.keys.saveAnswer(m, r, status, body, IDEMPOTENCY_TTL_HOURS);
  }

  /** Stores an answer on its own, after the request (see `save`). */
  saveAfterwards(r: IdempotentRequest, status: number, body: unknown): Promise<void> {
    return this.save(this.keys.manager, r, status, body);
  }

  /** Stores a 4xx answer as the problem body the client saw (no work was committed). */
  async saveError(r: IdempotentRequest, err: unknown, req: FastifyRequest): Promise<void> {
    const problem = this.problems.toProblem(err, req);
    await this.saveAfterwards(r, problem.status, problem);
  }

  async purgeExpired(): Promise<number> {
    const count = await this.keys.purgeExpired();
    if (count) this.logger.log(`Purged ${count} expired idempotency keys`);
    return count;
  }
}
