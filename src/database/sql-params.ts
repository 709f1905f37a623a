/**
 * The parameters of one statement composed from parts written by different services (a create's
 * placement check, VM row, events and job in one round trip): each part keeps its own `$1..$n`,
 * renumbered here to follow the parameters already taken.
 */
export class SqlParams {
  readonly values: unknown[] = [];

  /** The placeholder of one more value. */
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** `text`, written with its own `$1..$n` for `values`, numbered after the parameters so far. */
  embed(text: string, values: readonly unknown[]): string {
    const offset = this.values.length;
    this.values.push(...values);
    return text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  }
}

/** A statement (or a sub-statement for a WITH clause) and its values. */
export interface SqlPart {
  text: string;
  values: readonly unknown[];
}
