import type { SchemaObject, ReferenceObject } from '@nestjs/swagger';
import type { ResponseHeaderName } from './response-headers';

/** One problem type as a module declares it: what a client sees besides `detail`. */
export interface ErrorSpec {
  status: number;
  /** The problem's `title`: a short summary of the problem type, the same for every occurrence. */
  title: string;
  /**
   * Extension members (RFC 9457 section 3.2) the problem carries, as OpenAPI schemas: always present
   * unless listed in `optional`.
   */
  extensions?: Record<string, SchemaObject | ReferenceObject>;
  optional?: string[];
  /** Response headers every answer with this code carries. */
  headers?: ResponseHeaderName[];
}

/** A declared error code; made only by defineErrors, so an AppError cannot carry an undeclared code. */
export class ErrorDefinition {
  /** @internal */
  constructor(
    readonly code: string,
    readonly spec: Readonly<ErrorSpec>,
  ) {}

  get status(): number {
    return this.spec.status;
  }
}

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

const catalog = new Map<string, ErrorDefinition>();

/** A module's error codes: each module declares its own, in its own `<feature>.errors.ts`. */
export class ErrorCodes<C extends string> {
  /** @internal */
  constructor(private readonly definitions: Record<C, ErrorDefinition>) {}

  /** The error to throw: `throw VM_ERRORS.error('vm.not_found', 'VM not found')`. */
  error(code: C, detail: string, extensions: Record<string, unknown> = {}, headers: Record<string, string> = {}): AppError {
    return new AppError(this.definitions[code], detail, extensions, headers);
  }

  /** Definitions to declare on a route (ApiProblems, ApiAuth). */
  of(...codes: C[]): ErrorDefinition[] {
    return codes.map((c) => this.definitions[c]);
  }

  get(code: C): ErrorDefinition {
    return this.definitions[code];
  }
}

/**
 * Registers error codes in the one catalog the OpenAPI document and the problem filter read.
 * A code is `<area>.<reason>`; declaring one twice throws at import time.
 */
export function defineErrors<const T extends Record<string, ErrorSpec>>(specs: T): ErrorCodes<Extract<keyof T, string>> {
  const definitions = {} as Record<Extract<keyof T, string>, ErrorDefinition>;
  for (const [code, spec] of Object.entries(specs) as [Extract<keyof T, string>, ErrorSpec][]) {
    if (!/^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/.test(code)) throw new Error(`Error code ${code} is not <area>.<reason> in snake_case`);
    if (catalog.has(code)) throw new Error(`Error code ${code} is declared twice`);
    for (const name of spec.optional ?? []) if (!spec.extensions?.[name]) throw new Error(`${code}: optional ${name} is not an extension`);
    const definition = new ErrorDefinition(code, Object.freeze({ ...spec }));
    catalog.set(code, definition);
    definitions[code] = definition;
  }
  return new ErrorCodes(definitions);
}

/** Every declared code (those of modules whose errors file has been imported). */
export function errorCatalog(): ReadonlyMap<string, ErrorDefinition> {
  return catalog;
}
