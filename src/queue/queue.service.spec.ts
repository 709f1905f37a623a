import { describe, expect, it } from '@jest/globals';
import { hostQueue } from './host';
import { nextRunAt, phaseMs } from './periodic.service';
import { retryWindow } from './queue.service';

describe('periodic phases', () => {
  const minute = 60_000;

  it('fixes a task’s phase by its name, within its interval', () => {
    expect(phaseMs('vm-reconcile.hv-01', minute)).toBe(phaseMs('vm-reconcile.hv-01', minute));
    for (const name of ['a', 'b', 'metrics-collect.hv-01', 'host-watch']) {
      const p = phaseMs(name, minute);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(minute);
    }
  });

  it('spreads a fleet’s hosts over the interval instead of bunching them at its start', () => {
    const phases = Array.from({ length: 1000 }, (_, i) => phaseMs(`metrics-collect.fleet-${i + 1}`, minute));
    // Every 6-second slice of the minute holds about a tenth of the hosts.
    const slices = Array.from({ length: 10 }, (_, s) => phases.filter((p) => Math.floor(p / 6000) === s).length);
    for (const n of slices) expect(n).toBeGreaterThan(60);
    for (const n of slices) expect(n).toBeLessThan(140);
  });

  it('runs next on the grid phase + k * interval, strictly after now', () => {
    expect(nextRunAt(0, minute, 5000)).toBe(5000);
    expect(nextRunAt(5000, minute, 5000)).toBe(65_000);
    expect(nextRunAt(64_999, minute, 5000)).toBe(65_000);
    expect(nextRunAt(1_000_000_000_123, minute, 0) % minute).toBe(0);
    expect(nextRunAt(1_000_000_000_123, minute, 0)).toBeGreaterThan(1_000_000_000_123);
  });
});

describe('hostQueue', () => {
  it('names a queue per host, keeping only safe characters', () => {
    expect(hostQueue('metrics-collect', 'hv-01.example.com')).toBe('metrics-collect.hv-01.example.com');
    expect(hostQueue('vm-reconcile', 'odd host/name')).toBe('vm-reconcile.odd_host_name');
  });
});

describe('retryWindow', () => {
  it('is when pg-boss makes a failed job available again: the delay, or with backoff delay x 2^retries x (1..2)', () => {
    expect(retryWindow({ limit: 3, delaySeconds: 5, backoff: false }, 1)).toEqual({ lo: 5, hi: 5 });
    expect(retryWindow({ limit: 3, delaySeconds: 5, backoff: true }, 0)).toEqual({ lo: 5, hi: 10 });
    expect(retryWindow({ limit: 3, delaySeconds: 5, backoff: true }, 2)).toEqual({ lo: 20, hi: 40 });
  });

  it('is none once the retries are used up (the job goes to its dead-letter queue)', () => {
    expect(retryWindow({ limit: 3, delaySeconds: 5, backoff: true }, 3)).toBeUndefined();
  });
});
