import { QueryFailedError } from 'typeorm';

/** The name of the unique constraint a query violated, or null. */
export function uniqueViolation(err: unknown): string | null {
  if (err instanceof QueryFailedError) {
    const driver = err.driverError as { code?: string; constraint?: string };
    if (driver?.code === '23505') return driver.constraint ?? '';
  }
  return null;
}
