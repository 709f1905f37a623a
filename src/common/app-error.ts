// AppError lives beside the catalog that makes it (error-catalog.ts); imported from here as well.
export { AppError } from './error-catalog';

/** The stored first answer to an idempotent request, sent again as it was (see IdempotencyInterceptor). */
export class ReplayedResponse extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super('replayed response');
  }
}
