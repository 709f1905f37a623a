import 'reflect-metadata';
import type { DataSourceOptions, EntitySchema, MixedList } from 'typeorm';
import { MIGRATIONS } from './migrations';
import { ReadOnlyAwareClient } from './read-only-aware-client';

/** The connection settings for `url`; the entities come from the caller (src/entities.ts at the root). */
export function databaseOptions(url: string, entities: MixedList<Function | string | EntitySchema>, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    // gen_random_uuid() is built into PostgreSQL 13+: no extension to install.
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    // A connection that found a read-only server (a standby, during a failover) leaves the pool.
    extra: { max: poolSize, connectionTimeoutMillis: 5000, Client: ReadOnlyAwareClient },
  };
}
