import { DynamicModule, Module } from '@nestjs/common';
import { validateEnv } from './config/env.validation';
import type { AppModuleOptions } from './api.module';
import { CreditsModule } from './modules/credits/credits.module';
import { EventsModule } from './modules/events/events.module';
import { HostsModule } from './modules/hosts/hosts.module';
import { IdempotencyModule } from './modules/idempotency/idempotency.module';
import { MetricsModule } from './modules/metrics/metrics.module';
import { SshKeysModule } from './modules/ssh-keys/ssh-keys.module';
import { UsersModule } from './modules/users/users.module';
import { VmsModule } from './modules/vms/vms.module';
import { WebhooksModule } from './modules/webhooks/webhooks.module';
import { PlatformModule } from './platform.module';

/**
 * The worker process (`worker.ts`, `npm run worker`): the feature service modules that consume the
 * queue and run the periodic jobs (VM operations, reconciliation, host heartbeats, metrics collection,
 * purges). No controllers, no auth guards, no bootstrap admin, no Swagger, no HTTP adapter; only the
 * METRICS_PORT scrape listener when it is on.
 */
@Module({})
export class WorkerModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    const env = validateEnv({ ...process.env, ...options.env, WORKER: true });
    return {
      module: WorkerModule,
      imports: [
        PlatformModule.forRoot({ databaseUrl: options.databaseUrl, env }),
        IdempotencyModule,
        UsersModule,
        CreditsModule,
        EventsModule,
        SshKeysModule,
        HostsModule,
        VmsModule,
        MetricsModule,
        WebhooksModule,
      ],
    };
  }
}
