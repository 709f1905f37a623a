import type { ErrorDefinition } from './error-catalog';

/**
 * An error a client is meant to see. Made through a module's catalog (ErrorCodes.error), so its
 * `code` is declared: clients branch on it; `detail` is for people; `extensions` become extra members
 * of the problem+json body (RFC 9457 section 3.2).
 */
export class AppError extends Error {
  constructor(
    readonly definition: ErrorDefinition,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
    /** Response headers the answer carries (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'AppError';
  }

  get status(): number {
    return this.definition.status;
  }

  get code(): string {
    return this.definition.code;
  }
}

/** The stored first answer to an idempotent request, sent again as it was (see IdempotencyInterceptor). */
export class ReplayedResponse extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super('replayed response');
  }
}
