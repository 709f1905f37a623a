/**
 * An error as an operator needs it in a log: its stack (or name and message), its code, its
 * cause and, for an AggregateError (e.g. every address of `localhost` refused), each error inside.
 * `err.message` alone may be empty, and a rejection may not be an Error at all.
 */
export function describeError(err: unknown, depth = 0): string {
  if (!(err instanceof Error))
    return `${typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err))} (thrown as a ${typeof err}, not an Error)`;
  const code = (err as { code?: unknown }).code;
  let text = (err.stack ?? `${err.name}: ${err.message}`) + (code !== undefined ? ` [code ${String(code)}]` : '');
  if (depth >= 5) return text;
  if (err instanceof AggregateError)
    for (const inner of err.errors) text += `\n  - ${describeError(inner, depth + 1).replace(/\n/g, '\n    ')}`;
  if (err.cause !== undefined) text += `\nCaused by: ${describeError(err.cause, depth + 1)}`;
  return text;
}
