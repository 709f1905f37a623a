/** The logical hosts of `npm run bench:fleet`: prefix plus a zero-padded number from 1 (SQL seeds the same names). */
export function fleetHostName(prefix: string, n: number): string {
  return `${prefix}${String(n).padStart(5, '0')}`;
}

/** The same name in SQL, for the host numbered by the expression `n`. */
export function fleetHostNameSql(prefix: string, n: string): string {
  return `'${prefix.replace(/'/g, "''")}' || lpad((${n})::text, 5, '0')`;
}
