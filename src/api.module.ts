import { DynamicModule, Module } from '@nestjs/common';
import { validateEnv } from './config/env.validation';
import { AdminHttpModule } from './modules/admin/admin-http.module';
import { AuthModule } from './modules/auth/auth.module';
import { CreditsHttpModule } from './modules/credits/credits-http.module';
import { EventsHttpModule } from './modules/events/events-http.module';
import { HealthHttpModule } from './modules/health/health-http.module';
import { HostsHttpModule } from './modules/hosts/hosts-http.module';
import { IdempotencyModule } from './modules/idempotency/idempotency.module';
import { MetricsHttpModule } from './modules/metrics/metrics-http.module';
import { SshKeysHttpModule } from './modules/ssh-keys/ssh-keys-http.module';
import { TokensHttpModule } from './modules/tokens/tokens-http.module';
import { UsersHttpModule } from './modules/users/users-http.module';
import { VmsHttpModule } from './modules/vms/vms-http.module';
import { WebConsoleModule } from './modules/web-console/web-console.module';
import { WebhooksHttpModule } from './modules/webhooks/webhooks-http.module';
import { PlatformModule } from './platform.module';

export interface AppModuleOptions {
  /** Resolved before Nest starts: DATABASE_URL or the embedded server's URL. */
  databaseUrl: string;
  /** Settings that win over process.env (tests, the worker entry point). */
  env?: Record<string, string | number | boolean>;
}

/**
 * The API process (`main.ts`): every feature with its routes, the auth guards, the web console. With
 * WORKER=true (the default) the same feature modules also consume the queue here, as WorkerModule does.
 */
@Module({})
export class ApiModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    // Validated once here from process.env plus overrides; process.env is neither read later nor written.
    const env = validateEnv({ ...process.env, ...options.env });
    return {
      module: ApiModule,
      imports: [
        PlatformModule.forRoot({ databaseUrl: options.databaseUrl, env }),
        IdempotencyModule,
        UsersHttpModule,
        AuthModule,
        CreditsHttpModule,
        EventsHttpModule,
        SshKeysHttpModule,
        TokensHttpModule,
        HostsHttpModule,
        VmsHttpModule,
        AdminHttpModule,
        HealthHttpModule,
        MetricsHttpModule.forRoot(env),
        WebhooksHttpModule,
        WebConsoleModule.forRoot(),
      ],
    };
  }
}
