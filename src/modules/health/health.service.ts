import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_VERSION } from '../../common/version';
import { QueueService } from '../../queue/queue.service';
import { VM_PROVIDER, type VmProvider } from '../vms/providers/vm-provider.interface';
import { HealthResponseDto } from './health.dto';

@Injectable()
export class HealthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: QueueService,
    @Optional() @Inject(VM_PROVIDER) private readonly provider?: VmProvider,
  ) {}

  async check(): Promise<HealthResponseDto> {
    const database = await this.ping();
    const queue = this.queue.state();
    return {
      status: database === 'up' && queue !== 'down' ? 'ok' : 'degraded',
      database,
      queue,
      provider: this.provider?.name ?? 'none',
      version: APP_VERSION,
      uptime_seconds: Math.floor(process.uptime()),
    };
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
