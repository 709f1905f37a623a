import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/** What a statement runs on: the data source (its own connection) or a transaction's manager. */
export type Db = DataSource | EntityManager;

/** A statement's rows and, for INSERT/UPDATE/DELETE, how many rows it touched. */
export interface WriteResult<T> {
  rows: T[];
  affected: number;
}

/**
 * The one place raw SQL results get their type. TypeORM's `query()` returns `any` and changes shape
 * with the command (rows for SELECT and INSERT, `[rows, count]` for UPDATE and DELETE); these run
 * the statement on the manager's own query runner (the transaction's) in structured mode, so every
 * caller gets rows of its declared shape. `text` may be a `prepared()` statement. For repositories:
 * services call repositories, not these.
 */
async function run(db: Db, text: string, params: readonly unknown[]): Promise<{ records: unknown[]; affected?: number }> {
  const manager: EntityManager = 'manager' in db ? db.manager : db;
  if (manager.queryRunner) return manager.queryRunner.query(text, [...params], true);
  const own: QueryRunner = manager.connection.createQueryRunner();
  try {
    return await own.query(text, [...params], true);
  } finally {
    await own.release();
  }
}

/** The rows of a query, typed as `T` (the column names and types the SQL selects). */
export async function typedQuery<T>(db: Db, text: string, params: readonly unknown[] = []): Promise<T[]> {
  return (await run(db, text, params)).records as T[];
}

/** The first row of a query, or undefined when it found none. */
export async function typedQueryOne<T>(db: Db, text: string, params: readonly unknown[] = []): Promise<T | undefined> {
  return (await typedQuery<T>(db, text, params))[0];
}

/** A write: the rows it RETURNs (if any) and the number of rows it touched. */
export async function typedWrite<T = never>(db: Db, text: string, params: readonly unknown[] = []): Promise<WriteResult<T>> {
  const result = await run(db, text, params);
  return { rows: result.records as T[], affected: result.affected ?? 0 };
}
