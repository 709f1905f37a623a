import { describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import type { EventsService } from '../events/events.service';
import { CreditsService } from './credits.service';
import type { CreditsRepository } from './credits.repository';

describe('CreditsService.calculateCost', () => {
  const credits = new CreditsService({} as CreditsRepository, {} as DataSource, {} as EventsService);

  it.each([
    [{ ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }, 34],
    [{ ram_mb: 512, disk_gb: 10, cpu_cores: 1 }, 17],
    [{ ram_mb: 65536, disk_gb: 2048, cpu_cores: 32 }, 640 + 410 + 320],
    [{ ram_mb: 700, disk_gb: 11, cpu_cores: 1 }, 20], // 6.836 + 2.2 + 10 = 19.04 -> 20
  ])('prices %j at %i credits', (spec, cost) => {
    expect(credits.calculateCost(spec)).toBe(cost);
  });

  it('never charges less than 10', () => {
    expect(credits.calculateCost({ ram_mb: 0, disk_gb: 0, cpu_cores: 0 })).toBe(10);
  });
});
