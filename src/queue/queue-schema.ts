import PgBoss from 'pg-boss';
import { Client } from 'pg';
import { QUEUE_SCHEMA } from './queue.service';

/**
 * Installs (or upgrades) pg-boss's schema as the schema owner (MIGRATIONS_DATABASE_URL), so that the
 * service's own role never runs DDL. One thing pg-boss does at run time is DDL: `createQueue` (each
 * new host's queue) creates a partition table and attaches it to `pgboss.job`, which
 * only the owner of that table may do. Its two functions therefore run with their owner's rights
 * (SECURITY DEFINER, with a fixed search_path: they name every table with its schema); the new
 * partition belongs to the owner and the app role reads and writes it by the owner's default
 * privileges (scripts/db/create-roles.sql). Repeated at every boot: a pg-boss upgrade recreates them.
 */
export async function installQueueSchemaAsOwner(ownerUrl: string): Promise<void> {
  const boss = new PgBoss({ connectionString: ownerUrl, schema: QUEUE_SCHEMA, max: 1, supervise: false, schedule: false, migrate: true });
  const errors: Error[] = [];
  boss.on('error', (err) => errors.push(err));
  await boss.start();
  await boss.stop({ graceful: false, wait: true });
  if (errors.length) throw errors[0];
  const client = new Client({ connectionString: ownerUrl, application_name: 'vmapi-migrations' });
  await client.connect();
  try {
    for (const fn of ['create_queue(text, json)', 'delete_queue(text)']) {
      await client.query(`ALTER FUNCTION ${QUEUE_SCHEMA}.${fn} SECURITY DEFINER SET search_path = pg_catalog, pg_temp`);
    }
  } finally {
    await client.end();
  }
}
