/**
 * `value`, or an Error naming `what` when it is undefined: for an index the code knows exists
 * (a row a query just returned, a capture group of a regex that matched), under noUncheckedIndexedAccess.
 */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`Expected ${what}, found nothing`);
  return value;
}

/** The path of a request URL: what precedes its query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
