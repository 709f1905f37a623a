import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';
import type { Env } from '../config/env.validation';
import { DATABASE_URL } from '../database/database.tokens';
import { prepared } from '../database/prepared';

export const QUEUE_SCHEMA = 'pgboss';

export type Job<T> = PgBoss.Job<T>;

export type JobOutcome = 'completed' | 'failed';
export type JobOutcomeListener = (queue: string, outcome: JobOutcome, seconds: number) => void;

/** The cron for "every `minutes` minutes" (1..30 dividing the hour, or 60 = hourly). */
export function everyMinutesCron(minutes: number): string {
  if (minutes === 60) return '0 * * * *';
  if (minutes < 1 || minutes > 30 || 60 % minutes !== 0) throw new Error(`no even cron for every ${minutes} minutes`);
  return minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`;
}

/**
 * The job queue: pg-boss in the application's own database (schema `pgboss`). Jobs are sent inside
 * the caller's TypeORM transaction, so a job exists exactly when the rows that asked for it do.
 */
@Injectable()
export class QueueService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(QueueService.name);
  private readonly boss: PgBoss;
  private started = false;
  private lastErrorLog = 0;
  private readonly workers = new Map<string, string[]>();
  private readonly outcomeListeners: JobOutcomeListener[] = [];
  private queueCreation: Promise<void> = Promise.resolve();
  /** WORKER: whether this process consumes jobs (and so runs periodic ones). */
  private readonly consumes: boolean;

  constructor(@Inject(DATABASE_URL) url: string, config: ConfigService<Env, true>) {
    this.consumes = config.get('WORKER', { infer: true });
    this.boss = new PgBoss({
      connectionString: url,
      schema: QUEUE_SCHEMA,
      max: 4,
      application_name: 'vmapi-queue',
      maintenanceIntervalSeconds: config.get('QUEUE_MAINTENANCE_SECONDS', { infer: true }),
      // Keep finished jobs a week for audit, then let pg-boss maintenance delete them.
      deleteAfterDays: 7,
      // Cron schedules turn into jobs only where jobs are consumed: WORKER=false runs no consumer at all.
      schedule: this.consumes,
      cronMonitorIntervalSeconds: config.get('QUEUE_CRON_CHECK_SECONDS', { infer: true }),
    });
    this.boss.on('error', (err) => {
      // After stop, a lingering connection cut by the database's own shutdown is expected noise.
      if (!this.started) return this.logger.debug(`Queue error after stop: ${err.message}`);
      // The database going away makes pg-boss report every poll; log at most every 10 s.
      if (Date.now() - this.lastErrorLog > 10_000) {
        this.lastErrorLog = Date.now();
        this.logger.warn(`Queue error: ${err.message}`);
      }
    });
  }

  async onModuleInit(): Promise<void> {
    await this.boss.start();
    this.started = true;
  }

  /**
   * Before (not during) shutdown: TypeORM closes its pool in onApplicationShutdown, and running
   * handlers still need it to record their outcome.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // Graceful: running handlers finish (up to the timeout); unfinished jobs return to the queue on expiry.
    await this.boss.stop({ graceful: true, wait: true, timeout: 30_000 });
  }

  state(): 'up' | 'down' {
    return this.started ? 'up' : 'down';
  }

  /**
   * Creating a queue's partition is DDL on pg-boss's job table: two at once deadlock, so this process
   * creates one at a time, and a deadlock with another process booting is retried.
   */
  ensureQueue(name: string, options: Omit<PgBoss.Queue, 'name'> = {}): Promise<void> {
    const create = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.boss.createQueue(name, { name, ...options });
        } catch (err) {
          if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
        }
      }
    };
    const result = this.queueCreation.then(create);
    this.queueCreation = result.catch(() => undefined);
    return result;
  }

  /** Enqueues inside the given transaction (the job is visible only if it commits). */
  async send<T extends object>(manager: EntityManager, name: string, data: T, options: PgBoss.SendOptions = {}): Promise<string> {
    const id = await this.boss.send(name, data, {
      ...options,
      db: { executeSql: async (text: string, values: unknown[]) => ({ rows: await manager.query(prepared(text), values) }) },
    });
    if (!id) throw new Error(`Queue ${name} refused the job`);
    return id;
  }

  async work<T>(name: string, options: PgBoss.WorkOptions, handler: (jobs: Job<T>[]) => Promise<unknown>): Promise<string> {
    let id = '';
    id = await this.boss.work<T>(name, options, async (jobs) => {
      const started = performance.now();
      let outcome: JobOutcome = 'failed';
      try {
        const result = await handler(jobs);
        outcome = 'completed';
        return result;
      } finally {
        const seconds = (performance.now() - started) / 1000;
        for (const listener of this.outcomeListeners) listener(name, outcome, seconds);
        // pg-boss 10 sleeps out the polling interval after every fetch, even one that found work:
        // with a batch of 1 that caps a worker at one job per interval. Where there was a job,
        // there may be more: fetch again now. An empty queue still waits the full interval.
        if (jobs.length) this.boss.notifyWorker(id);
      }
    });
    this.workers.set(name, [...(this.workers.get(name) ?? []), id]);
    return id;
  }

  /** Wakes this process's workers for a queue now instead of at their next poll. */
  notify(name: string): void {
    for (const id of this.workers.get(name) ?? []) this.boss.notifyWorker(id);
  }

  /** Enqueues outside any transaction, to run no earlier than `afterSeconds` from now. */
  async sendLater<T extends object>(name: string, data: T, afterSeconds: number, options: PgBoss.SendOptions = {}): Promise<void> {
    await this.boss.sendAfter(name, data, options, afterSeconds);
  }

  /**
   * A periodic job: pg-boss turns the cron into one job per interval however many processes share
   * the schedule, and the `stately` policy keeps at most one queued and one running (a slow run
   * never piles up). `minutes` 0 removes the schedule and consumes nothing. A process that consumes
   * no jobs (WORKER=false) neither schedules nor runs them.
   */
  async periodic(name: string, minutes: number, handler: () => Promise<unknown>, expireInSeconds = 15 * 60): Promise<void> {
    if (!this.consumes) return;
    await this.ensureQueue(name, { policy: 'stately', retryLimit: 0, expireInSeconds });
    if (minutes === 0) return this.boss.unschedule(name);
    await this.boss.schedule(name, everyMinutesCron(minutes));
    await this.work(name, { batchSize: 1 }, () => handler());
  }

  /** Called after every job this process runs (service metrics). */
  onJobOutcome(listener: JobOutcomeListener): void {
    this.outcomeListeners.push(listener);
  }

  /** Jobs waiting (`created`, `retry`) and running (`active`) per queue, across all processes. */
  async depths(): Promise<{ queue: string; state: 'created' | 'retry' | 'active'; count: number }[]> {
    const { rows } = await this.boss.getDb().executeSql(
      `SELECT name AS queue, state::text AS state, count(*)::int AS count FROM ${QUEUE_SCHEMA}.job
        WHERE state IN ('created', 'retry', 'active') AND name NOT LIKE '\\_\\_pgboss%' GROUP BY name, state`,
      [],
    );
    return rows;
  }
}
