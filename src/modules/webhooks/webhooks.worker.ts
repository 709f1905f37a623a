import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource, EntityManager } from 'typeorm';
import { describeError } from '../../common/describe-error';
import type { Env } from '../../config/env.validation';
import { DATABASE_URL } from '../../database/database.tokens';
import { PgListener } from '../../database/pg-listener';
import { QueueService } from '../../queue/queue.service';
import { toUserEventView } from '../events/dto/event-response.dto';
import { EventsService } from '../events/events.service';
import { nextAttemptAt } from './backoff';
import { AttemptResult, WebhookSender } from './webhook-sender';
import { WEBHOOK_QUEUE, WEBHOOKS_CHANNEL, WebhookJob, webhookSettings, WebhookSettings } from './webhook-settings';
import { DueDelivery, FailingEndpoint, WebhooksRepository } from './webhooks.repository';
import { jobExpirySeconds } from './webhooks.service';
import { must } from '../../common/must';

/** Outbox rows handed to the queue per transaction. */
const DISPATCH_BATCH = 100;
/** Besides NOTIFY: how often the outbox is swept (a notification missed while the listener reconnected). */
const SWEEP_MS = 5_000;

/**
 * Delivers webhooks (WORKER=true processes). The dispatcher moves outbox rows (written by the
 * events trigger with the events themselves) into the job queue as the trigger's NOTIFY arrives, and
 * every few seconds; each job is one attempt. A failed attempt schedules the next one with
 * exponential backoff (backoff.ts) in the transaction that records it, until the retry window has
 * passed; an endpoint that has failed for longer than the window is disabled with an event.
 * At least once: a worker that dies mid-attempt leaves its job to expire and run again.
 */
@Injectable()
export class WebhooksWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhooksWorker.name);
  private readonly settings: WebhookSettings;
  private readonly sender: WebhookSender;
  private listener?: PgListener;
  private sweep?: NodeJS.Timeout;
  private dispatching: Promise<void> | null = null;
  private dispatchAgain = false;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: QueueService,
    private readonly events: EventsService,
    private readonly repo: WebhooksRepository,
    private readonly config: ConfigService<Env, true>,
    @Inject(DATABASE_URL) private readonly databaseUrl: string,
  ) {
    this.settings = webhookSettings(config);
    this.sender = new WebhookSender(this.settings);
  }

  async onApplicationBootstrap(): Promise<void> {
    // Every process may enqueue (a manual retry): the queue exists wherever the API runs.
    await this.queue.ensureQueue(WEBHOOK_QUEUE, {
      retryLimit: 3,
      retryDelay: 10,
      retryBackoff: true,
      expireInSeconds: jobExpirySeconds(this.settings),
    });
    if (!this.config.get('WORKER', { infer: true })) return;
    for (let i = 0; i < this.settings.concurrency; i++) {
      // The dispatcher's (and any process's) sends wake these workers; they poll only as a safety net.
      await this.queue.work<WebhookJob>(WEBHOOK_QUEUE, { batchSize: 1 }, ([job]) => this.attempt(must(job, 'a job').data));
    }
    this.listener = new PgListener({
      url: this.databaseUrl,
      applicationName: 'vmapi-webhooks',
      channel: WEBHOOKS_CHANNEL,
      onNotification: () => this.dispatch(),
      onReconnected: () => this.dispatch(),
    });
    await this.listener
      .start()
      .catch((err: unknown) =>
        this.logger.warn(`Not listening for new deliveries yet (${describeError(err)}); sweeping every ${SWEEP_MS / 1000} s`),
      );
    this.sweep = setInterval(() => this.dispatch(), SWEEP_MS);
    this.sweep.unref();
    this.dispatch();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweep);
    await this.listener?.close();
    await this.dispatching?.catch(() => undefined);
    await this.sender.close();
  }

  /** Runs the dispatcher now, or once more after the run in progress. */
  dispatch(): void {
    if (this.stopped) return;
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = (async () => {
      try {
        do {
          this.dispatchAgain = false;
          let moved: number;
          do {
            moved = await this.dispatchBatch();
            if (moved) this.queue.notify(WEBHOOK_QUEUE);
          } while (moved === DISPATCH_BATCH && !this.stopped);
        } while (this.dispatchAgain && !this.stopped);
      } catch (err) {
        this.logger.warn(`Dispatching webhook deliveries failed (${describeError(err)}); the next sweep tries again`);
      } finally {
        this.dispatching = null;
      }
    })();
  }

  /** One batch of outbox rows into the queue, each marked queued in the same transaction as its job. */
  private dispatchBatch(): Promise<number> {
    return this.dataSource.transaction(async (m) => {
      const rows = await this.repo.claimUnqueued(m, DISPATCH_BATCH);
      for (const row of rows) {
        await this.queue.send<WebhookJob>(
          m,
          WEBHOOK_QUEUE,
          { deliveryId: row.id, attempt: row.attempts + 1 },
          { expireInSeconds: jobExpirySeconds(this.settings) },
        );
      }
      await this.repo.markQueued(
        m,
        rows.map((r) => r.id),
      );
      return rows.length;
    });
  }

  /** One attempt of one delivery: sends it and records the outcome (and the next attempt, or the end). */
  async attempt(job: WebhookJob): Promise<void> {
    // Fetched while this process shuts down: back to the outbox (another process's dispatcher enqueues it
    // again) rather than a job whose outcome pg-boss may no longer be able to record.
    if (this.stopped) return this.giveBack(job);
    try {
      await this.run(job);
    } catch (err) {
      if (!this.stopped) throw err;
      this.logger.warn(
        `Delivery ${job.deliveryId}: attempt ${job.attempt} interrupted by shutdown (${describeError(err)}); handed back to the outbox`,
      );
      await this.giveBack(job);
    }
  }

  private async giveBack(job: WebhookJob): Promise<void> {
    await this.repo.unqueue(job.deliveryId, job.attempt - 1).catch(() => undefined);
  }

  private async run(job: WebhookJob): Promise<void> {
    const claimed = await this.queue.untilDatabaseAnswers(() => this.load(job));
    if (!claimed) return;
    const event = await this.queue.untilDatabaseAnswers(() => this.events.get(claimed.event_id));
    if (!event) return;
    // Standard Webhooks payload: type, timestamp, data. An endpoint of its owner's events gets them as their feed shows them.
    const payload = JSON.stringify({
      type: event.action,
      timestamp: event.created_at,
      data: claimed.scope === 'own' ? toUserEventView(event) : event,
    });
    const startedAt = new Date();
    const result = await this.sender.send(claimed.url, { id: event.id, payload, secret: claimed.secret });
    try {
      await this.queue.untilDatabaseAnswers(() => this.dataSource.transaction((m) => this.record(m, job, claimed, result, startedAt)));
    } catch (err) {
      // The job fails and pg-boss runs it again (the attempt is then repeated: at least once).
      this.logger.error(`Delivery ${job.deliveryId}: recording attempt ${job.attempt} failed: ${describeError(err)}`);
      throw err;
    }
  }

  /** The delivery and its endpoint, when this job's attempt is still due (pending, enabled, not made yet). */
  private async load(job: WebhookJob): Promise<DueDelivery | null> {
    return (await this.repo.due(job.deliveryId, job.attempt - 1)) ?? null;
  }

  private async record(m: EntityManager, job: WebhookJob, claimed: DueDelivery, result: AttemptResult, startedAt: Date): Promise<void> {
    // The endpoint's row first, then the delivery's: the order of DELETE's cascade (no deadlock with a deletion).
    await this.repo.lockEndpointForDelivery(m, claimed.endpoint_id);
    const d = await this.repo.lockDelivery(m, job.deliveryId);
    // Deleted meanwhile, or this attempt already recorded (a repeat of the job after a crash).
    if (!d || d.status !== 'pending' || d.attempts !== job.attempt - 1) return;
    const attempt = job.attempt;
    const insertAttempt = (next: Date | null) =>
      this.repo.insertAttempt(m, {
        deliveryId: job.deliveryId,
        attempt,
        statusCode: result.statusCode,
        durationMs: result.durationMs,
        error: result.error,
        nextAttemptAt: next,
        attemptedAt: startedAt,
      });
    if (result.ok) {
      await insertAttempt(null);
      await this.repo.delivered(m, job.deliveryId, attempt);
      await this.repo.endpointDelivered(m, claimed.endpoint_id);
      return;
    }
    // Failing since the oldest undelivered event, or the last success if that is later.
    const w = await this.repo.endpointFailing(m, claimed.endpoint_id, d.window_started_at);
    const now = new Date();
    if (w && w.enabled && now.getTime() - w.failing_since.getTime() >= this.settings.retry.windowMs) {
      await insertAttempt(null);
      await this.disable(m, claimed.endpoint_id, w, result);
      await this.repo.countAttempts(m, job.deliveryId, attempt);
      return;
    }
    const next = w?.enabled ? nextAttemptAt(attempt, now, d.window_started_at, this.settings.retry) : null;
    await insertAttempt(next);
    if (!next) {
      await this.repo.failed(m, job.deliveryId, attempt);
      return;
    }
    await this.repo.scheduleNext(m, job.deliveryId, attempt, next);
    await this.queue.send<WebhookJob>(
      m,
      WEBHOOK_QUEUE,
      { deliveryId: job.deliveryId, attempt: attempt + 1 },
      { startAfter: next, expireInSeconds: jobExpirySeconds(this.settings) },
    );
  }

  /** Turns the endpoint off (its pending deliveries end as failed) and tells its owner with an event. */
  private async disable(
    m: EntityManager,
    endpointId: string,
    w: Pick<FailingEndpoint, 'failing_since' | 'user_id' | 'url'>,
    last: AttemptResult,
  ): Promise<void> {
    const windowSeconds = this.settings.retry.windowMs / 1000;
    const reason = `deliveries failed for more than ${windowSeconds} s; last error: ${last.error ?? 'none'}`;
    await this.repo.disableEndpoint(m, endpointId, reason);
    await this.repo.failPending(m, endpointId);
    const u = new URL(w.url);
    await this.events.record(m, {
      action: 'webhook.disabled',
      message: `Webhook endpoint ${u.origin}${u.pathname} disabled: ${reason}`,
      details: {
        webhook_id: endpointId,
        url: `${u.origin}${u.pathname}`,
        failing_since: w.failing_since.toISOString(),
        last_error: last.error,
        last_status_code: last.statusCode,
      },
      userId: w.user_id,
    });
    this.logger.warn(`Webhook endpoint ${endpointId} disabled: ${reason}`);
  }
}
