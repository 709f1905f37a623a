import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';
import type { Env } from '../config/env.validation';
import { DATABASE_URL } from '../database/database.tokens';

export const QUEUE_SCHEMA = 'pgboss';

export type Job<T> = PgBoss.Job<T>;

/**
 * The job queue: pg-boss in the application's own database (schema `pgboss`). Jobs are sent inside
 * the caller's TypeORM transaction, so a job exists exactly when the rows that asked for it do.
 */
@Injectable()
export class QueueService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(QueueService.name);
  private readonly boss: PgBoss;
  private started = false;
  private lastErrorLog = 0;
  private readonly workers = new Map<string, string[]>();

  constructor(@Inject(DATABASE_URL) url: string, config: ConfigService<Env, true>) {
    this.boss = new PgBoss({
      connectionString: url,
      schema: QUEUE_SCHEMA,
      max: 4,
      application_name: 'vmapi-queue',
      maintenanceIntervalSeconds: config.get('QUEUE_MAINTENANCE_SECONDS', { infer: true }),
      // Keep finished jobs a week for audit, then let pg-boss maintenance delete them.
      deleteAfterDays: 7,
    });
    this.boss.on('error', (err) => {
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

  async onApplicationShutdown(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // Graceful: running handlers finish (up to the timeout); unfinished jobs return to the queue on expiry.
    await this.boss.stop({ graceful: true, wait: true, timeout: 30_000 });
  }

  state(): 'up' | 'down' {
    return this.started ? 'up' : 'down';
  }

  ensureQueue(name: string, options: Omit<PgBoss.Queue, 'name'> = {}): Promise<void> {
    return this.boss.createQueue(name, { name, ...options });
  }

  /** Enqueues inside the given transaction (the job is visible only if it commits). */
  async send<T extends object>(manager: EntityManager, name: string, data: T, options: PgBoss.SendOptions = {}): Promise<string> {
    const id = await this.boss.send(name, data, {
      ...options,
      db: { executeSql: async (text: string, values: unknown[]) => ({ rows: await manager.query(text, values) }) },
    });
    if (!id) throw new Error(`Queue ${name} refused the job`);
    return id;
  }

  async work<T>(name: string, options: PgBoss.WorkOptions, handler: (jobs: Job<T>[]) => Promise<unknown>): Promise<string> {
    let id = '';
    id = await this.boss.work<T>(name, options, async (jobs) => {
      try {
        return await handler(jobs);
      } finally {
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

  schedule(name: string, cron: string, data: object = {}, options: PgBoss.ScheduleOptions = {}): Promise<void> {
    return this.boss.schedule(name, cron, data, options);
  }

  getQueueSize(name: string): Promise<number> {
    return this.boss.getQueueSize(name);
  }
}
