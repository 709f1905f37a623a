import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source';
import { migrate } from './database/migrate';
import { Logger } from '@nestjs/common';

const logger = new Logger('db:check');

/**
 * `npm run db:check`: runs every migration on a scratch database of DATABASE_URL's server and fails
 * (exit 1, printing the statements) when TypeORM would generate anything from the entities, i.e. when
 * entities and migrations have drifted apart. The scratch database is dropped either way.
 */
async function main(): Promise<number> {
  const server = process.env.DATABASE_URL;
  if (!server) {
    logger.error('DATABASE_URL is required (a server on which it may create and drop a scratch database)');
    return 2;
  }
  const name = `vmapi_dbcheck_${Date.now().toString(36)}`;
  const scratch = new URL(server);
  scratch.pathname = `/${name}`;
  const admin = new Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  try {
    const dataSource = await migrate(await new DataSource(dataSourceOptions(scratch.toString(), 2)).initialize());
    try {
      const { upQueries } = await dataSource.driver.createSchemaBuilder().log();
      if (!upQueries.length) {
        logger.log(`${dataSource.migrations.length} migrations match the ${dataSource.entityMetadatas.length} entities`);
        return 0;
      }
      logger.error('The entities and the migrations differ; TypeORM would run:');
      for (const q of upQueries) logger.error(`  ${q.query};`);
      return 1;
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    logger.error(`failed: ${(err as Error).message}`, (err as Error).stack);
    process.exit(2);
  },
);
