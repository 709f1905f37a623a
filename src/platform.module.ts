import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Env } from './config/env.validation';
import { dataSourceOptions } from './data-source';
import { DATABASE_URL } from './database/database.tokens';
import { migrate } from './database/migrate';
import { QueueModule } from './queue/queue.module';
import { installQueueSchemaAsOwner } from './queue/queue-schema';

/**
 * What every process stands on: the validated settings (global ConfigService), the database (migrated
 * at boot) and the queue. ApiModule and WorkerModule each import it once.
 */
@Module({})
export class PlatformModule {
  static forRoot(options: { databaseUrl: string; env: Env }): DynamicModule {
    const { databaseUrl, env } = options;
    return {
      module: PlatformModule,
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
          providers: [{ provide: DATABASE_URL, useValue: databaseUrl }],
          exports: [DATABASE_URL],
        },
        TypeOrmModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService<Env, true>) => dataSourceOptions(databaseUrl, config.get('DB_POOL_SIZE', { infer: true })),
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
      ],
    };
  }
}
