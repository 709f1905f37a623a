import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'pg';
import PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';
import { whenDatabaseAnswers } from '../common/db-errors';
import type { Env } from '../config/env.validation';
import { DATABASE_URL } from '../database/database.tokens';
import { PgListener } from '../database/pg-listener';
import { prepared } from '../database/prepared';

export const QUEUE_SCHEMA = 'pgboss';

export type Job<T> = PgBoss.Job<T>;

export type JobOutcome = 'completed' | 'failed';

export type JobOutcomeListener = (queue: string, outcome: JobOutcome, seconds: number) => void;

/** What a job handler gets besides its jobs. */
export interface JobContext {
  /**
   * Aborts when this process is shutting down and the drain window (SHUTDOWN_DRAIN_SECONDS) has
   * passed: stop the work and give the job back (`handBack`) so another worker takes it at once.
   */
  signal: AbortSignal;
  /**
   * Inside the caller's transaction: completes this job and enqueues a copy of it on the same queue,
   * available at once (no retry used up, no waiting for its expiry).
   */
  handBack(manager: EntityManager): Promise<void>;
}

/** Seconds after the drain window that handing jobs back, and recording outcomes, may take. */
const RELEASE_GRACE_SECONDS = 10;

/** What pg-boss stores as a failed job's output: PostgreSQL's jsonb refuses NUL and lone surrogates. */
function storableError(err: unknown): Error {
  const message = (err instanceof Error ? err.message : String(err)).replace(
    /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    '',
  );
  return new Error(message || 'job failed');
}

/** Connections of the queue's own pool (beside the app's DB_POOL_SIZE). */
export const QUEUE_POOL_SIZE = 4;

/** The NOTIFY channel on which `send` announces a job; its payload is the queue's name. */
export const QUEUE_CHANNEL = 'vmapi_queue';

/*
 * How often a queue is polled (QUEUE_POLL_SECONDS): every job sent through `send` wakes the consumers
 * of its queue at once (NOTIFY on commit, in every consuming process), a retry wakes them when it is
 * due (in the process whose job failed), and a lost LISTEN connection wakes every queue when it is
 * back; polling only finds what none of these announced: the retry of a job whose worker died, made
 * by pg-boss's maintenance once the job's expiry (its operation's timeout + 60 s) has passed. One
 * worker per queue and process polls (`work`'s first); the others only wake. Each poll is a statement
 * on the job table: with a worker process per hypervisor host, polling every second was what one
 * PostgreSQL gave out on first, and what was left of polling later the largest part of pg-boss's
 * cost (bench:fleet, docs/scale.md).
 */

/** The poll of a queue's other workers in a process: never, in effect (they wake with the first). */
const WAKE_ONLY_POLL_SECONDS = 24 * 3600;

/** A delayed job (`startAfter`) due within this wakes its consumers by a timer; a later one is found by a poll. */
const DELAYED_WAKE_MAX_MS = 3600_000;

/** A queue's retry policy (ensureQueue's options), for waking its workers when a failed job is retried. */
interface RetryPolicy {
  limit: number;
  delaySeconds: number;
  backoff: boolean;
}

/**
 * When pg-boss 10 makes a failed job available again (plans.js failJobs): after `retryDelay`, or with
 * backoff after retryDelay x 2^retryCount x (1 + random), so within [lo, hi] seconds of the failure.
 */
export function retryWindow(policy: RetryPolicy, retryCount: number): { lo: number; hi: number } | undefined {
  if (retryCount >= policy.limit) return undefined;
  if (!policy.backoff) return { lo: policy.delaySeconds, hi: policy.delaySeconds };
  const base = policy.delaySeconds * 2 ** Math.min(16, retryCount);
  return { lo: base, hi: 2 * base };
}

/** After a job fails, when its dead-letter queue (jobs that used up their retries) is looked at. */
const DEAD_LETTER_WAKE_MS = 1000;

/**
 * The job queue: pg-boss in the application's own database (schema `pgboss`). Jobs are sent inside
 * the caller's TypeORM transaction, so a job exists exactly when the rows that asked for it do.
 */

@Injectable()
export class QueueService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(QueueService.name);
  private readonly pool: Pool;
  private readonly boss: PgBoss;
  private started = false;
  private lastErrorLog = 0;
  /** Since when pg-boss's statements have found the database unreachable; null while it answers. */
  private unreachableSince: number | null = null;
  private readonly workers = new Map<string, string[]>();
  private readonly outcomeListeners: JobOutcomeListener[] = [];
  private queueCreation: Promise<void> = Promise.resolve();
  /** Handlers running in this process right now. */
  private readonly running = new Set<Promise<unknown>>();
  /** Aborts when the drain window has passed: running handlers give their jobs back. */
  private readonly drainOver = new AbortController();
  /** Aborts when shutdown stops waiting for the database. */
  private readonly givingUp = new AbortController();
  /** WORKER: whether this process consumes jobs. */
  private readonly consumes: boolean;
  private readonly drainSeconds: number;
  /** QUEUE_POLL_SECONDS: the safety poll of each queue's first worker in this process. */
  private readonly pollSeconds: number;
  /** In consuming processes: hears `send`'s notifications and wakes the queue's workers here. */
  private readonly listener?: PgListener;
  /** Each queue's dead-letter queue (ensureQueue's `deadLetter`). */
  private readonly deadLetters = new Map<string, string>();
  /** Each queue's retry policy (ensureQueue's options), where it retries. */
  private readonly retries = new Map<string, RetryPolicy>();

  constructor(@Inject(DATABASE_URL) url: string, config: ConfigService<Env, true>) {
    this.consumes = config.get('WORKER', { infer: true });
    this.drainSeconds = config.get('SHUTDOWN_DRAIN_SECONDS', { infer: true });
    this.pollSeconds = config.get('QUEUE_POLL_SECONDS', { infer: true });
    // The queue's own pool, so that every statement pg-boss runs goes through executeSql below.
    this.pool = new Pool({ connectionString: url, max: QUEUE_POOL_SIZE, application_name: 'vmapi-queue', connectionTimeoutMillis: 10_000 });
    // A connection dropped while idle is reported here; an 'error' nobody listens to would end the process.
    this.pool.on('error', (err) => this.reportError(err));
    this.boss = new PgBoss({
      db: { executeSql: (text: string, values?: unknown[]) => this.executeSql(text, values) },
      schema: QUEUE_SCHEMA,
      maintenanceIntervalSeconds: config.get('QUEUE_MAINTENANCE_SECONDS', { infer: true }),
      // Keep finished jobs a week for audit, then let pg-boss maintenance delete them.
      deleteAfterDays: 7,
      // No cron: periodic work is PeriodicService's (a claim per interval, not a queue per task).
      schedule: false,
    });
    this.boss.on('error', (err) => this.reportError(err));
    if (this.consumes) {
      this.listener = new PgListener({
        url,
        applicationName: 'vmapi-queue-listen',
        channel: QUEUE_CHANNEL,
        onNotification: (payload) => {
          this.wake(payload);
        },
        // Jobs sent while the connection was down were announced to nobody: look at every queue now.
        onReconnected: () => {
          for (const name of this.workers.keys()) this.notify(name);
        },
      });
    }
  }

  /**
   * Every statement of pg-boss's own (polling, recording a job's outcome, maintenance, cron) waits
   * out a database outage instead of failing. pg-boss 10 records a finished job's outcome without
   * awaiting it (manager.js `watch`: `this.complete(...)` / `this.fail(...)`), so a failure there is
   * an unhandled rejection that ends the process; waiting instead also records the outcome as soon
   * as the database is back. Its fetch loops block meanwhile: consumption pauses and resumes by itself.
   * Repeating a statement is safe: outcomes are conditional on the job's state, and a fetch whose
   * answer was lost leaves a job active until its expiry, when it is retried.
   */
  private async executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }> {
    const result = await whenDatabaseAnswers(() => this.pool.query(text, values), {
      signal: this.givingUp.signal,
      onUnavailable: (err) => {
        if (this.unreachableSince !== null) return;
        this.unreachableSince = Date.now();
        this.logger.warn(`Database unreachable (${(err as Error).message}): the queue pauses until it answers`);
      },
    });
    if (this.unreachableSince !== null) {
      this.logger.log(`Database reachable again after ${((Date.now() - this.unreachableSince) / 1000).toFixed(1)} s: the queue resumes`);
      this.unreachableSince = null;
    }
    return result;
  }

  private reportError(err: Error): void {
    // After stop, a lingering connection cut by the database's own shutdown is expected noise.
    if (!this.started) return this.logger.debug(`Queue error after stop: ${err.message}`);
    // The database going away makes pg-boss report every poll; log at most every 10 s.
    if (Date.now() - this.lastErrorLog > 10_000) {
      this.lastErrorLog = Date.now();
      this.logger.warn(`Queue error: ${err.message}`);
    }
  }

  async onModuleInit(): Promise<void> {
    await this.boss.start();
    this.started = true;
    // Not listening yet only delays jobs to the safety poll; the listener keeps reconnecting.
    await this.listener?.start().catch((err: unknown) => {
      this.logger.warn(`Not hearing new jobs yet (${(err as Error).message}); polling every ${this.pollSeconds} s`);
    });
  }

  /**
   * Before (not during) shutdown: TypeORM closes its pool in onApplicationShutdown, and running
   * handlers still need it to record their outcome. No new job starts here; running ones have the
   * drain window to finish, then are told (JobContext.signal) to give their job back.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.started) return;
    await this.listener?.close();
    for (const name of this.workers.keys()) await this.boss.offWork(name);
    const settled = () => Promise.allSettled([...this.running]);
    if (this.running.size) {
      this.logger.log(`Draining: ${this.running.size} running job(s) have ${this.drainSeconds} s to finish`);
      await Promise.race([settled(), sleep(this.drainSeconds * 1000)]);
    }
    if (this.running.size) {
      this.logger.warn(`${this.running.size} job(s) still running after the drain window: handing them back`);
      this.drainOver.abort();
      await Promise.race([settled(), sleep(RELEASE_GRACE_SECONDS * 1000)]);
    }
    this.started = false;
    // What is still active (nothing, normally) pg-boss fails back to its queue; then stop waiting for the database.
    const stopped = this.boss
      .stop({ graceful: true, wait: true, timeout: 1000 })
      .catch((err: Error) => this.logger.warn(`Queue stop: ${err.message}`));
    await Promise.race([stopped, sleep(RELEASE_GRACE_SECONDS * 1000)]);
    this.givingUp.abort();
    await stopped;
    // A query still running (a stopping worker's last fetch) finishes first: one cut off by the pool's
    // end would never settle, and its worker would never stop.
    const idleBy = Date.now() + 5000;
    while ((this.pool.waitingCount > 0 || this.pool.idleCount < this.pool.totalCount) && Date.now() < idleBy) await sleep(20);
    await this.pool.end().catch(() => undefined);
  }

  /** `down` while not started, or while pg-boss finds the database unreachable (consumption paused). */
  state(): 'up' | 'down' {
    return this.started && this.unreachableSince === null ? 'up' : 'down';
  }

  /**
   * Runs `work` (a conditional write or a whole transaction), again and again while the database is
   * unreachable, until it answers or shutdown gives up: for outcomes that must not be lost.
   */
  untilDatabaseAnswers<T>(work: () => Promise<T>): Promise<T> {
    return whenDatabaseAnswers(work, { signal: this.givingUp.signal });
  }

  /**
   * Creating a queue's partition is DDL on pg-boss's job table: two at once deadlock. One process
   * creates one at a time, and processes booting together take turns (a session advisory lock).
   */
  ensureQueue(name: string, options: Omit<PgBoss.Queue, 'name'> = {}): Promise<void> {
    const create = async () => {
      const lock = await this.pool.connect();
      try {
        await lock.query(`SELECT pg_advisory_lock(hashtext('vmapi.pgboss.create_queue'))`);
        await this.boss.createQueue(name, { name, ...options });
        if (options.deadLetter) this.deadLetters.set(name, options.deadLetter);
        if (options.retryLimit)
          this.retries.set(name, {
            limit: options.retryLimit,
            delaySeconds: options.retryDelay ?? 0,
            backoff: options.retryBackoff ?? false,
          });
      } finally {
        await lock.query(`SELECT pg_advisory_unlock(hashtext('vmapi.pgboss.create_queue'))`).catch(() => undefined);
        lock.release();
      }
    };
    const result = this.queueCreation.then(create);
    this.queueCreation = result.catch(() => undefined);
    return result;
  }

  /**
   * Enqueues inside the given transaction (the job is visible only if it commits): pg-boss's public
   * `send` with its `db` option bound to the transaction's query runner, so its own INSERT runs as
   * one statement of that transaction. Its NOTIFY, delivered on commit, wakes the queue's workers
   * in every consuming process.
   */
  async send<T extends object>(manager: EntityManager, name: string, data: T, options: PgBoss.SendOptions = {}): Promise<string> {
    const id = await this.boss.send(name, data, { ...options, db: executor(manager) });
    if (!id) throw new Error(`Queue ${name} refused the job`);
    const at = availableAt(options.startAfter);
    await manager.query(prepared('SELECT pg_notify($1, $2)'), [QUEUE_CHANNEL, at === undefined ? name : `${name}@${at}`]);
    return id;
  }

  /**
   * Consumes `name`. `pollingIntervalSeconds` defaults to the safety poll (QUEUE_POLL_SECONDS)
   * for the queue's first worker in this process; the others do not poll: jobs sent through `send`,
   * and retries of jobs that failed here, wake them all.
   */
  async work<T>(
    name: string,
    options: PgBoss.WorkOptions,
    handler: (jobs: Job<T>[], context: JobContext) => Promise<unknown>,
  ): Promise<string> {
    const first = !this.workers.has(name);
    const polling = {
      pollingIntervalSeconds: first ? this.pollSeconds : WAKE_ONLY_POLL_SECONDS,
      // A job's retry count (for its retry's wake-up) only where the queue retries.
      includeMetadata: this.retries.has(name),
      ...options,
    };
    const id = await this.boss.work<T>(name, polling, async (jobs) => {
      const started = performance.now();
      let outcome: JobOutcome = 'failed';
      const context: JobContext = {
        signal: this.drainOver.signal,
        handBack: async (manager) => {
          for (const job of jobs) {
            await this.boss.complete(name, job.id, { handed_back: true }, { db: executor(manager) });
            await this.send(manager, name, job.data as object, {
              expireInSeconds: Number((job as { expireInSeconds?: unknown }).expireInSeconds) || undefined,
            });
          }
        },
      };
      // A handler that throws before its first await fails its job like one that rejects.
      const run = (async () => handler(jobs, context))();
      this.running.add(run);
      try {
        const result = await run;
        outcome = 'completed';
        return result;
      } catch (err) {
        // pg-boss stores the error as the job's jsonb output, which must be storable.
        throw storableError(err);
      } finally {
        this.running.delete(run);
        this.reportOutcome(name, outcome, (performance.now() - started) / 1000);
        // A failure may have used up the job's retries: pg-boss moves it to the dead-letter queue
        // (no NOTIFY) as it records the failure, just after this.
        const dead = this.deadLetters.get(name);
        if (outcome === 'failed' && dead) this.notifyIn(dead, DEAD_LETTER_WAKE_MS);
        // Its retry becomes available after a delay, announced to nobody: look then (and halfway).
        const policy = this.retries.get(name);
        if (outcome === 'failed' && policy) {
          for (const job of jobs) {
            const window = retryWindow(policy, Number((job as { retryCount?: unknown }).retryCount) || 0);
            if (!window) continue;
            for (const s of new Set([window.lo, (window.lo + window.hi) / 2, window.hi])) this.notifyIn(name, s * 1000 + 50);
          }
        }
        // pg-boss 10 sleeps out the polling interval after every fetch, even one that found work:
        // with a batch of 1 that caps a worker at one job per interval. Where there was a job,
        // there may be more: fetch again now, and wake this queue's other workers here (they do not
        // poll), so a backlog that only a poll found is worked at full concurrency. An empty queue
        // still waits the full interval.
        if (jobs.length) this.notify(name);
      }
    });
    this.workers.set(name, [...(this.workers.get(name) ?? []), id]);
    return id;
  }

  /** `send`'s notification: the queue's workers here look now, or when a delayed job becomes available. */
  private wake(payload: string): void {
    const split = payload.lastIndexOf('@');
    if (split < 0) {
      this.notify(payload);
      return;
    }
    const name = payload.slice(0, split);
    const wait = Number(payload.slice(split + 1)) - Date.now();
    // A job due much later is found by a poll.
    if (wait > DELAYED_WAKE_MAX_MS) return;
    this.notifyIn(name, Math.max(0, wait) + 50);
  }

  /** Wakes this process's workers for a queue in `ms`. */
  private notifyIn(name: string, ms: number): void {
    setTimeout(() => {
      this.notify(name);
    }, ms).unref();
  }

  /** Wakes this process's workers for a queue now instead of at their next poll. */
  notify(name: string): void {
    for (const id of this.workers.get(name) ?? []) this.boss.notifyWorker(id);
  }

  /**
   * Enqueues outside any transaction, to run no earlier than `afterSeconds` from now; this process's
   * workers of the queue look for it then (others find it at their safety poll).
   */
  async sendLater<T extends object>(name: string, data: T, afterSeconds: number, options: PgBoss.SendOptions = {}): Promise<void> {
    await this.boss.sendAfter(name, data, options, afterSeconds);
    this.notifyIn(name, afterSeconds * 1000 + 50);
  }

  /** Called after every job this process runs, and every periodic run (service metrics). */
  onJobOutcome(listener: JobOutcomeListener): void {
    this.outcomeListeners.push(listener);
  }

  /** A job's or periodic run's outcome, to the listeners. */
  reportOutcome(name: string, outcome: JobOutcome, seconds: number): void {
    for (const listener of this.outcomeListeners) listener(name, outcome, seconds);
  }

  /** Jobs waiting (`created`, `retry`) and running (`active`) per queue, across all processes. */
  async depths(): Promise<{ queue: string; state: 'created' | 'retry' | 'active'; count: number }[]> {
    // Straight to the pool: a scrape during an outage fails at once instead of waiting.
    const { rows } = await this.pool.query(
      `SELECT name AS queue, state::text AS state, count(*)::int AS count FROM ${QUEUE_SCHEMA}.job
        WHERE state IN ('created', 'retry', 'active') AND name NOT LIKE '\\_\\_pgboss%' GROUP BY name, state`,
      [],
    );
    return rows;
  }
}

/** When a job sent with `startAfter` becomes available (epoch ms); undefined: at once. */
function availableAt(startAfter: PgBoss.SendOptions['startAfter']): number | undefined {
  if (startAfter === undefined) return undefined;
  const at =
    startAfter instanceof Date
      ? startAfter.getTime()
      : typeof startAfter === 'number'
        ? Date.now() + startAfter * 1000
        : Date.parse(startAfter);
  return Number.isFinite(at) && at > Date.now() ? at : undefined;
}

/** pg-boss's `db` option for statements that belong to the caller's TypeORM transaction. */
function executor(manager: EntityManager): PgBoss.Db {
  return { executeSql: async (text: string, values: unknown[]) => ({ rows: await manager.query(prepared(text), values) }) };
}
