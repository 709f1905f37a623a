import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { keysetPage, newestFirst, Page, PageQueryDto } from '../../common/pagination';
import { typedQuery, typedQueryOne, typedWrite } from '../../database/typed-query';
import { WebhookAttempt } from './entities/webhook-attempt.entity';
import { DeliveryStatus, WebhookDelivery } from './entities/webhook-delivery.entity';
import { WebhookEndpoint, WebhookScope } from './entities/webhook-endpoint.entity';

/** What an endpoint's create writes; the rest of the row is the table's defaults. */
export type NewWebhookEndpoint = Pick<WebhookEndpoint, 'id' | 'userId' | 'url' | 'events' | 'scope' | 'description' | 'secret' | 'enabled'>;

/** The columns an update may set. */
export type WebhookEndpointPatch = Partial<
  Pick<WebhookEndpoint, 'url' | 'events' | 'description' | 'enabled' | 'failingSince' | 'disabledAt' | 'disabledReason'>
>;

/** A delivery whose attempt is due, with what sending it needs from its endpoint. */
export interface DueDelivery {
  id: string;
  endpoint_id: string;
  event_id: string;
  url: string;
  secret: string;
  scope: WebhookScope;
}

/** An endpoint's state after a failed attempt marked it failing. */
export interface FailingEndpoint {
  enabled: boolean;
  failing_since: Date;
  user_id: string;
  url: string;
}

/** One attempt's outcome as its row records it. */
export interface AttemptRow {
  deliveryId: string;
  attempt: number;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  nextAttemptAt: Date | null;
  attemptedAt: Date;
}

/**
 * The webhook tables: endpoints (webhook_endpoints), the outbox of deliveries the events trigger
 * fills (webhook_deliveries) and the attempts' log (webhook_attempts). Every statement on them lives
 * here; methods that take a manager run in the caller's transaction. Lock order, as a deletion's
 * cascade takes them: the endpoint's row, then its deliveries'.
 */
@Injectable()
export class WebhooksRepository {
  constructor(
    private readonly dataSource: DataSource,
    @InjectRepository(WebhookEndpoint) private readonly endpoints: Repository<WebhookEndpoint>,
  ) {}

  // ------------------------------------------------------------ endpoints

  /**
   * Locks the owner's users row (NO KEY UPDATE: rows that reference the user can still be inserted
   * meanwhile), so one user's concurrent creates run one after another.
   */
  async lockOwner(m: EntityManager, userId: string): Promise<void> {
    await typedQueryOne(m, 'SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [userId]);
  }

  countEndpoints(m: EntityManager, userId: string): Promise<number> {
    return m.getRepository(WebhookEndpoint).countBy({ userId });
  }

  insertEndpoint(m: EntityManager, endpoint: NewWebhookEndpoint): Promise<WebhookEndpoint> {
    const repo = m.getRepository(WebhookEndpoint);
    return repo.save(repo.create(endpoint));
  }

  /** The user's endpoints, newest first (never a secret: `select: false`). */
  listEndpoints(userId: string, page: PageQueryDto): Promise<Page<WebhookEndpoint>> {
    return keysetPage(this.endpoints.createQueryBuilder('w').where('w.user_id = :userId', { userId }), newestFirst('w'), page, (w) => [
      w.createdAt,
      w.id,
    ]);
  }

  /** One of the user's endpoints (never its secret), or undefined. */
  async findOwnEndpoint(userId: string, id: string): Promise<WebhookEndpoint | undefined> {
    return (await this.endpoints.findOneBy({ id, userId })) ?? undefined;
  }

  /** One of the user's endpoints, its row locked FOR UPDATE (an update of it), or undefined. */
  lockOwnEndpoint(m: EntityManager, userId: string, id: string): Promise<{ enabled: boolean } | undefined> {
    return typedQueryOne<{ enabled: boolean }>(m, 'SELECT enabled FROM webhook_endpoints WHERE id = $1 AND user_id = $2 FOR UPDATE', [
      id,
      userId,
    ]);
  }

  /**
   * An endpoint's row locked FOR NO KEY UPDATE (before one of its deliveries' rows is locked, so no
   * deadlock with a deletion), scoped to `ownerId` when given; undefined when there is none.
   */
  lockEndpointForDelivery(m: EntityManager, id: string, ownerId?: string): Promise<{ enabled: boolean } | undefined> {
    return typedQueryOne<{ enabled: boolean }>(
      m,
      `SELECT enabled FROM webhook_endpoints WHERE id = $1${ownerId ? ' AND user_id = $2' : ''} FOR NO KEY UPDATE`,
      ownerId ? [id, ownerId] : [id],
    );
  }

  async updateEndpoint(m: EntityManager, id: string, patch: WebhookEndpointPatch): Promise<void> {
    await m.getRepository(WebhookEndpoint).update({ id }, patch);
  }

  /** Deletes one of the user's endpoints (its deliveries cascade), returning what it was, or undefined. */
  async deleteOwnEndpoint(m: EntityManager, userId: string, id: string): Promise<{ url: string; events: string[] } | undefined> {
    const { rows } = await typedWrite<{ url: string; events: string[] }>(
      m,
      'DELETE FROM webhook_endpoints WHERE id = $1 AND user_id = $2 RETURNING id, url, events',
      [id, userId],
    );
    return rows[0];
  }

  /** After a delivered attempt: the endpoint is failing no more. */
  async endpointDelivered(m: EntityManager, id: string): Promise<void> {
    await typedWrite(m, 'UPDATE webhook_endpoints SET failing_since = NULL, last_delivered_at = now() WHERE id = $1', [id]);
  }

  /**
   * After a failed attempt: the endpoint is failing since the oldest undelivered event (the
   * delivery's window start), or its last success if that is later; undefined when it is gone.
   */
  async endpointFailing(m: EntityManager, id: string, windowStartedAt: Date): Promise<FailingEndpoint | undefined> {
    const { rows } = await typedWrite<FailingEndpoint>(
      m,
      `UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, GREATEST($2::timestamptz, COALESCE(last_delivered_at, '-infinity')))
        WHERE id = $1 RETURNING enabled, failing_since, user_id, url`,
      [id, windowStartedAt],
    );
    return rows[0];
  }

  async disableEndpoint(m: EntityManager, id: string, reason: string): Promise<void> {
    await typedWrite(
      m,
      'UPDATE webhook_endpoints SET enabled = false, disabled_at = now(), disabled_reason = $2, updated_at = now() WHERE id = $1',
      [id, reason],
    );
  }

  // ------------------------------------------------------------ deliveries (the outbox) and attempts

  /** The endpoint's deliveries still being attempted end as failed (their queued jobs find them so and do nothing). */
  async failPending(m: EntityManager, endpointId: string): Promise<void> {
    await typedWrite(
      m,
      `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, queued = false WHERE endpoint_id = $1 AND status = 'pending'`,
      [endpointId],
    );
  }

  /** An endpoint's deliveries, newest first, optionally of one status. */
  listDeliveries(endpointId: string, status: DeliveryStatus | undefined, page: PageQueryDto): Promise<Page<WebhookDelivery>> {
    const qb = this.dataSource.getRepository(WebhookDelivery).createQueryBuilder('d').where('d.endpoint_id = :endpointId', { endpointId });
    if (status) qb.andWhere('d.status = :status', { status });
    return keysetPage(qb, newestFirst('d'), page, (d) => [d.createdAt, d.id]);
  }

  findDelivery(id: string): Promise<WebhookDelivery> {
    return this.dataSource.getRepository(WebhookDelivery).findOneByOrFail({ id });
  }

  /** The attempts of these deliveries, each delivery's in order. */
  attemptsOf(deliveryIds: readonly string[]): Promise<WebhookAttempt[]> {
    if (!deliveryIds.length) return Promise.resolve([]);
    return this.dataSource.getRepository(WebhookAttempt).find({ where: { deliveryId: In([...deliveryIds]) }, order: { attempt: 'ASC' } });
  }

  /** A delivery's row locked FOR UPDATE, scoped to `endpointId` when given (lock its endpoint first), or undefined. */
  lockDelivery(
    m: EntityManager,
    id: string,
    endpointId?: string,
  ): Promise<{ status: DeliveryStatus; attempts: number; window_started_at: Date } | undefined> {
    return typedQueryOne(
      m,
      `SELECT status, attempts, window_started_at FROM webhook_deliveries WHERE id = $1${endpointId ? ' AND endpoint_id = $2' : ''} FOR UPDATE`,
      endpointId ? [id, endpointId] : [id],
    );
  }

  /** A manual retry: pending again, due now, with a new retry window (its job is enqueued in the same transaction). */
  async restartDelivery(m: EntityManager, id: string): Promise<void> {
    await typedWrite(
      m,
      `UPDATE webhook_deliveries SET status = 'pending', window_started_at = now(), next_attempt_at = now(), queued = true, delivered_at = NULL WHERE id = $1`,
      [id],
    );
  }

  /** Up to `limit` outbox rows with no job yet, oldest first, locked (rows other dispatchers hold are skipped). */
  claimUnqueued(m: EntityManager, limit: number): Promise<{ id: string; attempts: number }[]> {
    return typedQuery(
      m,
      `SELECT id, attempts FROM webhook_deliveries WHERE status = 'pending' AND NOT queued ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
  }

  async markQueued(m: EntityManager, ids: readonly string[]): Promise<void> {
    if (!ids.length) return;
    await typedWrite(m, 'UPDATE webhook_deliveries SET queued = true WHERE id = ANY($1::uuid[])', [[...ids]]);
  }

  /** A job that will not run: its delivery back to the outbox, if it still awaits that attempt. */
  async unqueue(id: string, attemptsMade: number): Promise<void> {
    await typedWrite(
      this.dataSource,
      `UPDATE webhook_deliveries SET queued = false WHERE id = $1 AND status = 'pending' AND attempts = $2`,
      [id, attemptsMade],
    );
  }

  /** The delivery and its endpoint when the attempt after `attemptsMade` is still due (pending, enabled, not made yet). */
  due(id: string, attemptsMade: number): Promise<DueDelivery | undefined> {
    return typedQueryOne<DueDelivery>(
      this.dataSource,
      `SELECT d.id, d.endpoint_id, d.event_id, w.url, w.secret, w.scope
         FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
        WHERE d.id = $1 AND d.status = 'pending' AND d.attempts = $2 AND w.enabled`,
      [id, attemptsMade],
    );
  }

  async insertAttempt(m: EntityManager, a: AttemptRow): Promise<void> {
    await typedWrite(
      m,
      `INSERT INTO webhook_attempts (id, delivery_id, attempt, status_code, duration_ms, error, next_attempt_at, attempted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [uuidv7(), a.deliveryId, a.attempt, a.statusCode, a.durationMs, a.error, a.nextAttemptAt, a.attemptedAt],
    );
  }

  async delivered(m: EntityManager, id: string, attempts: number): Promise<void> {
    await typedWrite(
      m,
      `UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, delivered_at = now(), next_attempt_at = NULL, queued = false WHERE id = $1`,
      [id, attempts],
    );
  }

  /** Counts an attempt, nothing else (the endpoint's disabling ended the delivery). */
  async countAttempts(m: EntityManager, id: string, attempts: number): Promise<void> {
    await typedWrite(m, 'UPDATE webhook_deliveries SET attempts = $2 WHERE id = $1', [id, attempts]);
  }

  /** No more attempts: the delivery failed. */
  async failed(m: EntityManager, id: string, attempts: number): Promise<void> {
    await typedWrite(
      m,
      `UPDATE webhook_deliveries SET status = 'failed', attempts = $2, next_attempt_at = NULL, queued = false WHERE id = $1`,
      [id, attempts],
    );
  }

  /** The next attempt at `next` (its job is enqueued in the same transaction). */
  async scheduleNext(m: EntityManager, id: string, attempts: number, next: Date): Promise<void> {
    await typedWrite(m, 'UPDATE webhook_deliveries SET attempts = $2, next_attempt_at = $3, queued = true WHERE id = $1', [
      id,
      attempts,
      next,
    ]);
  }
}
