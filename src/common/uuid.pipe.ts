import { ParseUUIDPipe } from '@nestjs/common';
import { AppError } from './app-error';

/** For `:id` route params: a malformed id is a 400, not a database error. */
export const UuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => new AppError(400, 'request.invalid_id', 'The id must be a UUID'),
});
