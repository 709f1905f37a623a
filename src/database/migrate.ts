import { DataSource, MigrationExecutor } from 'typeorm';

const MIGRATION_LOCK = 'vmapi.migrations';

/**
 * Runs the pending migrations holding a PostgreSQL advisory lock, on one connection: processes
 * booting together on one database take turns, the first migrates and the others find nothing
 * pending (TypeORM's own `migrationsRun` takes no lock, so two of them create the same tables).
 */
export async function migrate(dataSource: DataSource): Promise<DataSource> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query(`SELECT pg_advisory_lock(hashtext($1))`, [MIGRATION_LOCK]);
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    await executor.executePendingMigrations();
  } finally {
    await runner.query(`SELECT pg_advisory_unlock(hashtext($1))`, [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
  return dataSource;
}
