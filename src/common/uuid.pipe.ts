import { ParseUUIDPipe } from '@nestjs/common';
import { COMMON_ERRORS } from './common.errors';

/** For `:id` route params: a malformed id is a 400, not a database error. */
export const UuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => COMMON_ERRORS.error('request.invalid_id', 'The id must be a UUID'),
});
