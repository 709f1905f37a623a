import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { ConfigService } from '@nestjs/config';
import { validateEnv, type Env } from '../../config/env.validation';
import { ALLOCATED_RECOUNT_MS, HostHeartbeatService } from './host-heartbeat.service';
import type { HostRegistration, HostsRepository } from './hosts.repository';

describe('HostHeartbeatService', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('beats every HOST_HEARTBEAT_SECONDS and sums the RAM its VMs hold again only once a minute', async () => {
    jest.useFakeTimers();
    const recounts: boolean[] = [];
    const hosts = {
      upsert: (_h: HostRegistration, recount: boolean) => {
        recounts.push(recount);
        return Promise.resolve();
      },
    } as unknown as HostsRepository;
    const config = new ConfigService<Env, true>(
      validateEnv({ HOST_NAME: 'hv-1', HOST_HEARTBEAT_SECONDS: '10', HOST_CPU_CORES: '4', HOST_RAM_MB: '8192', HOST_DISK_GB: '100' }),
    );
    const heartbeat = new HostHeartbeatService(hosts, config);
    await heartbeat.register();
    await jest.advanceTimersByTimeAsync(ALLOCATED_RECOUNT_MS * 2);
    heartbeat.beforeApplicationShutdown();
    // Registration, then 12 beats of 10 s: a recount at registration and one a minute after.
    expect(recounts).toHaveLength(13);
    expect(recounts.filter(Boolean)).toHaveLength(3);
    expect(recounts.slice(0, 7)).toEqual([true, false, false, false, false, false, true]);
  });
});
