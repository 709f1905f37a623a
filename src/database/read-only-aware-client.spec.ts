import { afterAll, describe, expect, it } from '@jest/globals';
import { Pool } from 'pg';
import { ReadOnlyAwareClient } from './read-only-aware-client';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('ReadOnlyAwareClient', () => {
  const pool = new Pool({ connectionString: url, max: 2, Client: ReadOnlyAwareClient });
  afterAll(() => pool.end());

  it('leaves the pool after a write refused as read-only (25006), and only then', async () => {
    const client = await pool.connect();
    const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    // What a standby answers every write: a read-only session stands in for one.
    await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    await client.query('BEGIN');
    await expect(client.query('CREATE TEMP TABLE t (x int)')).rejects.toMatchObject({ code: '25006' });
    await expect(client.query('ROLLBACK')).rejects.toThrow(/not queryable/);
    client.release();
    // The next connection is a new session, not the read-only one.
    const next = await pool.connect();
    try {
      expect((await next.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).not.toBe(pid);
      // Other errors leave the connection in the pool.
      await expect(next.query('SELEC 1')).rejects.toMatchObject({ code: '42601' });
      expect((await next.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      next.release();
    }
    expect(pool.totalCount).toBe(1);
  });
});
