import { describe, expect, it } from '@jest/globals';
import { SCHEDULE_MINUTES } from '../config/env.validation';
import { hostQueue } from './host';
import { everyMinutesCron } from './queue.service';

describe('everyMinutesCron', () => {
  it('keeps intervals even within the hour', () => {
    expect(everyMinutesCron(1)).toBe('* * * * *');
    expect(everyMinutesCron(5)).toBe('*/5 * * * *');
    expect(everyMinutesCron(30)).toBe('*/30 * * * *');
    expect(everyMinutesCron(60)).toBe('0 * * * *');
  });

  it('has a cron for every interval the settings accept, and refuses uneven ones', () => {
    for (const m of SCHEDULE_MINUTES.filter((m) => m > 0)) expect(() => everyMinutesCron(m)).not.toThrow();
    expect(() => everyMinutesCron(7)).toThrow(/no even cron/);
    expect(() => everyMinutesCron(0)).toThrow();
  });
});

describe('hostQueue', () => {
  it('names a queue per host, keeping only safe characters', () => {
    expect(hostQueue('metrics-collect', 'hv-01.example.com')).toBe('metrics-collect.hv-01.example.com');
    expect(hostQueue('vm-reconcile', 'odd host/name')).toBe('vm-reconcile.odd_host_name');
  });
});
