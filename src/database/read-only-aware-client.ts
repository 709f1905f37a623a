import { Client } from 'pg';

/** SQLSTATE read_only_sql_transaction: the server behind the database address is a standby. */
const READ_ONLY = '25006';

/**
 * A pg Client that leaves its pool once the server has refused a write as read-only. A connection made
 * while the database address pointed at a standby keeps reaching that server: fine if that standby is
 * the one promoted (its sessions can write once it is), a dead end if the address has moved on to
 * another server, and under steady load such a pooled connection is never idle long enough to be
 * closed. Marked not queryable, the pool closes it on release (pg-pool's own test for a broken
 * client) and the next connect goes through the address again. The caller's transaction still fails
 * (its ROLLBACK is refused at once as "not queryable"; the server ends it with the connection) and
 * answers 503 (isDatabaseUnavailable).
 */
export class ReadOnlyAwareClient extends Client {
  // Every overload of pg's query (text, config, callback, submittable) passes through unchanged.
  override query(...args: unknown[]): any {
    const result = (Client.prototype.query as (...a: unknown[]) => any).apply(this, args);
    if (result && typeof result.catch === 'function') {
      // Registered first, so it runs before the caller's own handler issues its next statement.
      result.catch((err: { code?: unknown } | null) => {
        if (err?.code === READ_ONLY) (this as unknown as { _queryable: boolean })._queryable = false;
      });
    }
    return result;
  }
}
