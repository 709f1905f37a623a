import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { validateEnv, type Env } from './config/env.validation';
import { dataSourceOptions } from './database/data-source';
import { DATABASE_URL } from './database/database.tokens';
import { migrate } from './database/migrate';
import { AdminModule } from './modules/admin/admin.module';
import { AuthModule } from './modules/auth/auth.module';
import { CreditsModule } from './modules/credits/credits.module';
import { EventsModule } from './modules/events/events.module';
import { HostsModule } from './modules/hosts/hosts.module';
import { HealthModule } from './modules/health/health.module';
import { IdempotencyModule } from './modules/idempotency/idempotency.module';
import { MetricsModule } from './modules/metrics/metrics.module';
import { SshKeysModule } from './modules/ssh-keys/ssh-keys.module';
import { UsersModule } from './modules/users/users.module';
import { VmsModule } from './modules/vms/vms.module';
import { WebConsoleModule } from './modules/web-console/web-console.module';
import { QueueModule } from './queue/queue.module';
import { installQueueSchemaAsOwner } from './queue/queue-schema';

export interface AppModuleOptions {
  /** Resolved before Nest starts: DATABASE_URL or the embedded server's URL. */
  databaseUrl: string;
  /** Settings that win over process.env (tests, the worker entry point). */
  env?: Record<string, string | number | boolean>;
}

@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    // Validated once here from process.env plus overrides; process.env is neither read later nor written.
    const env = validateEnv({ ...process.env, ...options.env });
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          ignoreEnvVars: true,
          skipProcessEnv: true,
          load: [() => ({ ...env })],
        }),
        {
          module: class DatabaseUrlModule {},
          global: true,
          providers: [{ provide: DATABASE_URL, useValue: options.databaseUrl }],
          exports: [DATABASE_URL],
        },
        TypeOrmModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService<Env, true>) => dataSourceOptions(options.databaseUrl, config.get('DB_POOL_SIZE', { infer: true })),
          // Migrations at boot, one process at a time (several may start together on one database). With
          // MIGRATIONS_DATABASE_URL they (and pg-boss's schema) run as the schema owner, on a connection
          // of their own; the service's role then only reads and writes.
          dataSourceFactory: async (dsOptions) => {
            const ownerUrl = env.MIGRATIONS_DATABASE_URL;
            if (!ownerUrl) return migrate(await new DataSource(dsOptions!).initialize());
            const owner = await migrate(await new DataSource(dataSourceOptions(ownerUrl, 1)).initialize());
            await owner.destroy();
            await installQueueSchemaAsOwner(ownerUrl);
            return new DataSource(dsOptions!).initialize();
          },
        }),
        QueueModule,
        IdempotencyModule,
        UsersModule,
        AuthModule,
        CreditsModule,
        EventsModule,
        SshKeysModule,
        HostsModule,
        VmsModule,
        AdminModule,
        HealthModule,
        MetricsModule.forRoot(env),
        WebConsoleModule.forRoot(),
      ],
    };
  }
}
