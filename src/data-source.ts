import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { databaseOptions } from './database/data-source';
import { ENTITIES } from './entities';

/** The service's data source settings: database/'s connection settings with every entity. */
export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return databaseOptions(url, ENTITIES, poolSize);
}

/** For the TypeORM CLI (`npm run migration:*`): needs DATABASE_URL. */
export default new DataSource(dataSourceOptions(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vmapi'));
