import { setTimeout as sleep } from 'node:timers/promises';
import { QueryFailedError } from 'typeorm';

/** The name of the unique constraint a query violated, or null. */
export function uniqueViolation(err: unknown): string | null {
  if (err instanceof QueryFailedError) {
    const driver = err.driverError as { code?: string; constraint?: string };
    if (driver?.code === '23505') return driver.constraint ?? '';
  }
  return null;
}

/**
 * Socket errors and SQLSTATEs that say "the database is not there (now)", not "this statement is wrong".
 * During a failover the service sees each of these in turn: the old primary's sessions cut (57P01,
 * ECONNRESET), connections refused, then a standby still in recovery behind the address (25006 on
 * every write) until it is promoted.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNABORTED',
  'EADDRNOTAVAIL',
  // Out of file descriptors (this process, or the machine) on the way to the database.
  'EMFILE',
  'ENFILE',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up or shutting down)
  '53300', // too_many_connections
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08006', // connection_failure
  '55000', // object_not_in_prerequisite_state: database not accepting connections
  '25006', // read_only_sql_transaction: a standby (not promoted yet) behind the database address
]);

/** Errors from the database driver that mean "the database is unreachable", not a bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  // TypeORM wraps the driver's error (QueryFailedError.driverError).
  const driverError = (err as { driverError?: unknown }).driverError;
  if (driverError && driverError !== err && isDatabaseUnavailable(driverError)) return true;
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message ?? '';
  return (
    (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|terminating connection|not queryable|EMFILE|ENFILE/i.test(
      message,
    )
  );
}

/** Seconds a client is told to wait (Retry-After) when the database is unavailable: a failover takes a few. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

export interface WaitOptions {
  /** Stop waiting (rethrow the last error) once this aborts. */
  signal?: AbortSignal;
  /** Called on each failed attempt while the database is unreachable. */
  onUnavailable?(err: unknown): void;
}

/**
 * Runs `work`; while it fails because the database is unreachable, runs it again after a growing
 * pause (0.25 s to 5 s) until it succeeds or `signal` aborts. Any other error is thrown at once.
 * `work` must be safe to repeat: a conditional write or a whole transaction.
 */
export async function whenDatabaseAnswers<T>(work: () => Promise<T>, options: WaitOptions = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!isDatabaseUnavailable(err) || options.signal?.aborted) throw err;
      options.onUnavailable?.(err);
      try {
        await sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)), undefined, { signal: options.signal });
      } catch {
        throw err;
      }
    }
  }
}
