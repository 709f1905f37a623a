import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_VERSION } from '../../common/version';
import { QueueService } from '../../queue/queue.service';
import { VM_PROVIDER, type VmProvider } from '../vms/providers/vm-provider.interface';
import { HostsService } from '../hosts/hosts.service';
import type { AdminHealthReport, HealthReport } from './health.dto';

@Injectable()
export class HealthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: QueueService,
    private readonly hosts: HostsService,
    @Optional() @Inject(VM_PROVIDER) private readonly provider?: VmProvider,
  ) {}

  async check(): Promise<HealthReport> {
    const database = await this.ping();
    const queue = this.queue.state();
    return {
      status: database === 'up' && queue !== 'down' ? 'ok' : 'degraded',
      database,
      queue,
      version: APP_VERSION,
      uptime_seconds: Math.floor(process.uptime()),
    };
  }

  /** The public health plus the provider, why it was chosen, and the hosts by status (admins only). */
  async detail(): Promise<AdminHealthReport> {
    const report = await this.check();
    return {
      ...report,
      provider: this.provider?.name ?? 'none',
      provider_requested: this.provider?.choice?.requested ?? null,
      provider_reason: this.provider?.choice?.reason ?? null,
      host: this.hosts.name,
      hosts: report.database === 'up' ? await this.hostCounts() : null,
    };
  }

  private async hostCounts(): Promise<AdminHealthReport['hosts']> {
    try {
      const all = await this.hosts.all();
      const online = all.filter((h) => h.status === 'online');
      return {
        total: all.length,
        online: online.length,
        offline: all.length - online.length,
        schedulable: online.filter((h) => h.schedulable).length,
      };
    } catch {
      return null;
    }
  }

  private async ping(): Promise<'up' | 'down'> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.dataSource.query('SELECT 1'),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), 2000))),
      ]);
      return 'up';
    } catch {
      return 'down';
    } finally {
      clearTimeout(timer);
    }
  }
}
