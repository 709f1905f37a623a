import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Env } from '../config/env.validation';
import { PeriodicRunsRepository } from './periodic-runs.repository';
import { QueueService } from './queue.service';

/** A run may start this much of its interval early (timers and clocks of different processes drift). */
const EARLY_FRACTION = 0.1;

/** A periodic task's first run after boot: within this many seconds (its next ones keep its phase). */
const FIRST_RUN_WITHIN_MS = 5000;

/** Seconds a run may take before another process may start one (its process presumably died). */
export const PERIODIC_EXPIRE_SECONDS = 15 * 60;

/**
 * Where a task's runs fall within its interval, fixed by its name: the hosts of a fleet sample and
 * reconcile spread over the minute instead of all at its start, and every process serving one host
 * has the same phase (restarting them all at once does not bunch them up).
 */
export function phaseMs(name: string, periodMs: number): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % periodMs;
}

/** The next run time strictly after `now` on the grid `phase + k * period`. */
export function nextRunAt(now: number, periodMs: number, phase: number): number {
  return (Math.floor((now - phase) / periodMs) + 1) * periodMs + phase;
}

interface Task {
  name: string;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
}

/**
 * Periodic work (a host's reconcile and sampling passes, fleet-wide sweeps), run once per interval
 * however many processes share it, without the job queue: each process that consumes jobs
 * (WORKER=true) keeps a timer per task and, when it fires, claims the run with one statement on
 * `periodic_runs` (PeriodicRunsRepository.claim); the first claimant runs it, the others skip. A run
 * holds its claim until it finishes (or PERIODIC_EXPIRE_SECONDS pass, when its process is presumed
 * dead), so runs never overlap. pg-boss schedules did this before at the cost of a queue (a partition
 * of its job table), a cron job and polling per task: two per host (docs/scale.md).
 */
@Injectable()
export class PeriodicService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(PeriodicService.name);
  private readonly consumes: boolean;
  private readonly drainSeconds: number;
  private readonly runBy: string;
  private readonly tasks: Task[] = [];
  private stopped = false;
  private lastClaimError = 0;

  constructor(
    private readonly runs: PeriodicRunsRepository,
    private readonly queue: QueueService,
    config: ConfigService<Env, true>,
  ) {
    this.consumes = config.get('WORKER', { infer: true });
    this.drainSeconds = config.get('SHUTDOWN_DRAIN_SECONDS', { infer: true });
    this.runBy = `${config.get('HOST_NAME', { infer: true })}:${process.pid}`;
  }

  /**
   * Runs `handler` every `minutes` (0: never) in one of the processes that call this with `name`:
   * the first run within seconds of boot, then at the task's phase of each interval. A process that
   * consumes no jobs (WORKER=false) runs no periodic work.
   */
  every(name: string, minutes: number, handler: () => Promise<unknown>, expireSeconds = PERIODIC_EXPIRE_SECONDS): void {
    // One timer per task and process (the claim decides between processes).
    if (!this.consumes || minutes === 0 || this.stopped || this.tasks.some((t) => t.name === name)) return;
    const periodMs = minutes * 60_000;
    const phase = phaseMs(name, periodMs);
    const task: Task = { name };
    this.tasks.push(task);
    const arm = (at: number) => {
      if (this.stopped) return;
      task.timer = setTimeout(
        () => {
          if (!task.running) {
            task.running = this.runOnce(name, periodMs, expireSeconds, handler).finally(() => {
              task.running = undefined;
            });
          }
          arm(nextRunAt(Date.now(), periodMs, phase));
        },
        Math.max(0, at - Date.now()),
      );
      task.timer.unref();
    };
    arm(Date.now() + Math.random() * Math.min(FIRST_RUN_WITHIN_MS, periodMs));
  }

  /** The tasks this process runs (their names), in the order they were set up. */
  scheduled(): string[] {
    return this.tasks.map((t) => t.name);
  }

  /** One claimed run: skipped when another process ran it within the interval or runs it now. */
  private async runOnce(name: string, periodMs: number, expireSeconds: number, handler: () => Promise<unknown>): Promise<void> {
    let startedAt: Date | undefined;
    try {
      startedAt = await this.runs.claim(name, this.runBy, (periodMs / 1000) * (1 - EARLY_FRACTION), expireSeconds);
    } catch (err) {
      // The database blinking skips this run; the next tick claims again.
      if (Date.now() - this.lastClaimError > 10_000) {
        this.lastClaimError = Date.now();
        this.logger.warn(`Periodic ${name} skipped: ${(err as Error).message}`);
      }
      return;
    }
    if (!startedAt) return;
    const t0 = performance.now();
    let outcome: 'completed' | 'failed' = 'failed';
    try {
      await handler();
      outcome = 'completed';
    } catch (err) {
      this.logger.warn(`Periodic ${name} failed: ${(err as Error).message}`);
    } finally {
      this.queue.reportOutcome(name, outcome, (performance.now() - t0) / 1000);
      const claimed = startedAt;
      // Until recorded, no other process runs it (for up to its expiry): wait out an outage.
      await this.queue
        .untilDatabaseAnswers(() => this.runs.finish(name, claimed))
        .catch((err: unknown) => {
          this.logger.warn(`Periodic ${name}: end not recorded (${(err as Error).message}); it runs again after ${expireSeconds} s`);
        });
    }
  }

  /** Before the queue stops: no new runs; running ones get the drain window to finish. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const task of this.tasks) clearTimeout(task.timer);
    const running = this.tasks.flatMap((t) => (t.running ? [t.running] : []));
    if (running.length) await Promise.race([Promise.allSettled(running), sleep(this.drainSeconds * 1000)]);
  }
}
