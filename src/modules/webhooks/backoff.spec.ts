import { backoffDelayMs, nextAttemptAt } from './backoff';

const schedule = { baseMs: 5_000, maxMs: 3_600_000, windowMs: 24 * 3600 * 1000 };

describe('backoffDelayMs', () => {
  it('doubles from the base after each failure (upper end without jitter)', () => {
    const delays = [1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, schedule, 1));
    expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 80_000]);
  });

  it('is capped at the maximum, however many failures', () => {
    expect(backoffDelayMs(20, schedule, 1)).toBe(3_600_000);
    expect(backoffDelayMs(10_000, schedule, 1)).toBe(3_600_000);
  });

  it('spreads each delay over its upper fifth', () => {
    expect(backoffDelayMs(1, schedule, 0)).toBe(4_000);
    expect(backoffDelayMs(3, schedule, 0.5)).toBe(18_000);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelayMs(2, schedule);
      expect(d).toBeGreaterThanOrEqual(8_000);
      expect(d).toBeLessThanOrEqual(10_000);
    }
  });
});

describe('nextAttemptAt', () => {
  const start = new Date('2026-01-01T00:00:00Z');
  const at = (ms: number) => new Date(start.getTime() + ms);

  it('schedules the next attempt after the backoff delay', () => {
    expect(nextAttemptAt(1, at(100), start, schedule, 1)).toEqual(at(5_100));
  });

  it('makes the last attempt at the end of the window, then gives up', () => {
    const end = schedule.windowMs;
    expect(nextAttemptAt(30, at(end - 60_000), start, schedule, 1)).toEqual(at(end));
    expect(nextAttemptAt(31, at(end), start, schedule, 1)).toBeNull();
    expect(nextAttemptAt(31, at(end + 5), start, schedule, 1)).toBeNull();
  });

  it('keeps retrying for the whole 24 hours with the default settings', () => {
    // Every attempt fails at once: count them and check that the last is at the end of the window.
    let now = start;
    let attempt = 1;
    let last = start;
    for (;;) {
      const next = nextAttemptAt(attempt, now, start, schedule, 1);
      if (!next) break;
      last = next;
      now = next;
      attempt++;
    }
    expect(last).toEqual(at(schedule.windowMs));
    expect(attempt).toBeGreaterThan(20);
    expect(attempt).toBeLessThan(40);
  });
});
