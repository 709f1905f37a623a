/**
 * An error a client is meant to see. `code` is stable (clients branch on it); `detail` is for people;
 * `extensions` become extra members of the problem+json body (RFC 9457 section 3.2).
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
    /** Response headers the answer carries (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'AppError';
  }
}

export const notFound = (what: string, code = `${what.toLowerCase()}.not_found`) =>
  new AppError(404, code, `${what} not found`);

/** The stored first answer to an idempotent request, sent again as it was (see IdempotencyInterceptor). */
export class ReplayedResponse extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super('replayed response');
  }
}
