import { describe, expect, it } from '@jest/globals';
import { QueryFailedError } from 'typeorm';
import { isDatabaseUnavailable } from './db-errors';

function driverError(code: string, message = 'x'): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

describe('isDatabaseUnavailable', () => {
  it.each([
    ['25006', 'cannot execute INSERT in a read-only transaction'],
    ['57P01', 'terminating connection due to administrator command'],
    ['57P02', 'terminating connection due to crash of another server process'],
    ['57P03', 'the database system is starting up'],
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
    ['ECONNRESET', 'read ECONNRESET'],
    ['EMFILE', 'connect EMFILE 127.0.0.1:5432 - Local (undefined:undefined)'],
    ['ENFILE', 'connect ENFILE 127.0.0.1:5432 - Local (undefined:undefined)'],
  ])('%s is unavailable, bare and wrapped by TypeORM', (code, message) => {
    const err = driverError(code, message);
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect(isDatabaseUnavailable(new QueryFailedError('INSERT ...', [], err))).toBe(true);
  });

  it('knows a cut connection by its message', () => {
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Client has encountered a connection error and is not queryable'))).toBe(true);
  });

  it.each([
    ['23505', 'duplicate key value violates unique constraint'],
    ['42601', 'syntax error at or near "SELEC"'],
    ['22P02', 'invalid input syntax for type uuid'],
  ])('%s is a statement error, not unavailability', (code, message) => {
    expect(isDatabaseUnavailable(driverError(code, message))).toBe(false);
    expect(isDatabaseUnavailable(new QueryFailedError('SELECT ...', [], driverError(code, message)))).toBe(false);
  });

  it('is false for things that are not errors', () => {
    expect(isDatabaseUnavailable(undefined)).toBe(false);
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false);
  });
});
