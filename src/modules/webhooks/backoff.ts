/** The retry schedule's settings (WEBHOOKS_RETRY_*). */
export interface RetrySchedule {
  baseMs: number;
  maxMs: number;
  windowMs: number;
}

/**
 * The wait after failed attempt `attempt` (1 = the first): base x 2^(attempt-1), capped at max,
 * then spread over its upper fifth (`random` in [0, 1)) so that the retries of many deliveries that
 * failed together (a receiver's outage) do not all arrive at the same instant.
 */
export function backoffDelayMs(attempt: number, schedule: Pick<RetrySchedule, 'baseMs' | 'maxMs'>, random: number = Math.random()): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 52);
  const capped = Math.min(schedule.maxMs, schedule.baseMs * 2 ** exponent);
  return Math.round(capped * (0.8 + 0.2 * random));
}

/**
 * When to try again after a failed attempt at `now`, or null to give up: attempts go on until the
 * window (from `windowStart`) has passed, and the last one is made at its end, so a receiver gets
 * at least the whole window to recover.
 */
export function nextAttemptAt(attempt: number, now: Date, windowStart: Date, schedule: RetrySchedule, random?: number): Date | null {
  const windowEnd = windowStart.getTime() + schedule.windowMs;
  if (now.getTime() >= windowEnd) return null;
  return new Date(Math.min(now.getTime() + backoffDelayMs(attempt, schedule, random), windowEnd));
}
