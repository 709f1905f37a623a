import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource, QueryFailedError } from 'typeorm';
import { dataSourceOptions } from '../../src/data-source';
import { prepared } from '../../src/database/prepared';
import { createTestDatabase, TestDatabase } from '../support/test-app';

/** prepared() relies on TypeORM handing the query object to node-postgres unchanged: this holds it to that. */
describe('prepared(): named prepared statements through TypeORM (real PostgreSQL)', () => {
  let database: TestDatabase;
  let ds: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase();
    ds = await new DataSource(dataSourceOptions(database.url, 2)).initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await database?.drop();
  });

  it('prepares once per connection and reuses the statement, inside and outside transactions', async () => {
    const text = 'SELECT $1::int + 1 AS n';
    const runner = ds.createQueryRunner();
    try {
      expect(await runner.query(prepared(text), [41])).toEqual([{ n: 42 }]);
      expect(await runner.query(prepared(text), [1])).toEqual([{ n: 2 }]);
      const rows: { name: string }[] = await runner.query('SELECT name FROM pg_prepared_statements WHERE statement = $1', [text]);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.name).toMatch(/^vmapi_[0-9a-f]{24}$/);
    } finally {
      await runner.release();
    }
    const inTx = await ds.transaction(async (m) => {
      await m.query(prepared(text), [2]);
      return m.query('SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1', [text]);
    });
    expect(inTx).toEqual([{ n: 1 }]);
  });

  it('gives one text one name, and different texts different names', () => {
    expect(prepared('SELECT 1')).toBe(prepared('SELECT 1'));
    expect((prepared('SELECT 1') as unknown as { name: string }).name).not.toBe((prepared('SELECT 2') as unknown as { name: string }).name);
  });

  it('still fails as a QueryFailedError carrying the driver error', async () => {
    let error: unknown;
    try {
      await ds.query(prepared('SELECT 1 / $1::int AS n'), [0]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).driverError).toMatchObject({ code: '22012' });
  });
});
