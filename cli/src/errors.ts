import { isApiError, WaitError } from '@vm-platform/sdk';

/** vmctl's exit codes (docs/automation.md, "SDK helpers and vmctl"): stable, for scripts to branch on. */
export const EXIT = {
  ok: 0,
  /** Anything else: a server error, the network, a VM that failed while waited for. */
  other: 1,
  /** Bad command line or input the API refused as invalid (400, 422). */
  usage: 2,
  /** No context, or the token is refused (401) or not allowed (403). */
  auth: 3,
  notFound: 4,
  /** The resource's state forbids it (409): an action the status does not allow, a name taken. */
  conflict: 5,
  /** Not enough credits (402) or quota. */
  insufficient: 6,
  /** --wait's deadline passed, or a request timed out. */
  timeout: 7,
} as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The exit code and message for any error a command threw. */
export function describeFailure(err: unknown): { exitCode: number; message: string; details?: unknown } {
  if (err instanceof CliError) return { exitCode: err.exitCode, message: err.message, details: err.details };
  if (isApiError(err)) {
    const code = err.code as string;
    const exitCode =
      code === 'quota.exceeded' || err.status === 402
        ? EXIT.insufficient
        : err.status === 401 || err.status === 403
          ? EXIT.auth
          : err.status === 404
            ? EXIT.notFound
            : err.status === 409
              ? EXIT.conflict
              : err.status === 400 || err.status === 422
                ? EXIT.usage
                : EXIT.other;
    return { exitCode, message: `${err.detail} (${code})`, details: err.problem };
  }
  if (err instanceof WaitError)
    return { exitCode: err.reason === 'timeout' ? EXIT.timeout : EXIT.other, message: err.message, details: err.last };
  if (err instanceof Error && err.name === 'TimeoutError') return { exitCode: EXIT.timeout, message: 'the request timed out' };
  if (err instanceof TypeError && err.message === 'fetch failed') {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return { exitCode: EXIT.other, message: `cannot reach the API${cause ? `: ${cause}` : ''}` };
  }
  return { exitCode: EXIT.other, message: err instanceof Error ? err.message : String(err) };
}
