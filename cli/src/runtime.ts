import { createVmPlatformClient, type VmPlatformClient } from '@vm-platform/sdk';
import type { Command } from 'commander';
import { resolveContext } from './config.js';
import { CliError, EXIT } from './errors.js';

export type OutputFormat = 'table' | 'json';

export interface GlobalOptions {
  context?: string;
  output: OutputFormat;
  requestTimeout: string;
}

/** What every command needs: the global options, the API client of the chosen context, and output. */
export class Runtime {
  constructor(private readonly program: Command) {}

  get options(): GlobalOptions {
    return this.program.opts<GlobalOptions>();
  }

  get json(): boolean {
    return this.options.output === 'json';
  }

  async client(): Promise<VmPlatformClient> {
    const context = await resolveContext(this.options.context);
    return createVmPlatformClient({
      baseUrl: context.url,
      token: context.token,
      timeoutMs: seconds(this.options.requestTimeout, '--request-timeout') * 1000,
    });
  }

  /** Data for scripts (-o json) or a table for people. */
  print(data: unknown, table: () => Table): void {
    if (this.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else process.stdout.write(renderTable(table()));
  }

  /** Progress and notes for people: stderr, so stdout stays the result. */
  note(message: string): void {
    process.stderr.write(`${message}\n`);
  }
}

export interface Table {
  head: string[];
  rows: (string | number | boolean | null | undefined)[][];
}

/** Columns padded to their widest cell; the last column is not padded. */
export function renderTable({ head, rows }: Table): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

/** A whole number of seconds from an option, or a usage error naming the option. */
export function seconds(value: string, option: string): number {
  return integer(value, option, 0);
}

export function integer(value: string, option: string, min = 1): number {
  if (!/^-?\d+$/.test(value) || Number(value) < min)
    throw new CliError(EXIT.usage, `${option} must be a whole number >= ${min}, not "${value}"`);
  return Number(value);
}

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Every item of an async iterable (Array.fromAsync arrives with Node 22). */
export async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
