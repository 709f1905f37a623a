import { randomUUID } from 'node:crypto';
import fc from 'fast-check';

/** Text that PostgreSQL cannot store (NUL, lone surrogates) or that trips naive code, anywhere in a string. */
export const unsafeText = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff',
    'x\udc00y',
    'end\ud83d',
    '\udc00\ud800',
    '\ufffe\uffff',
    '\u202e\u0301',
    '\\u0000',
    '%00',
  ),
  fc
    .tuple(
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('\u0000', '\ud800', '\udc00', '\udbff'),
      fc.string({ unit: 'binary', maxLength: 12 }),
    )
    .map(([a, bad, b]) => `${a}${bad}${b}`),
);

interface Schema {
  $ref?: string;
  maximum?: number;
  type?: string;
  format?: string;
  enum?: unknown[];
  example?: unknown;
  minimum?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: unknown;
  allOf?: Schema[];
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: Schema;
}

interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  responses?: Record<string, { headers?: Record<string, unknown> }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  security?: unknown[];
}

export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

export interface FieldCase {
  /** `METHOD /path field`. */
  name: string;
  route: string;
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  secured: boolean;
  /** The request with `text` in this field and valid values elsewhere. */
  build(text: string): { path: string; query: string; body?: unknown };
}

/** Percent-encodes every UTF-16 unit, a lone surrogate as the 3 bytes a careless encoder writes (WTF-8). */
export function percentEncode(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const bytes =
      code >= 0xd800 && code <= 0xdfff
        ? Buffer.from([0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)])
        : Buffer.from(ch, 'utf8');
    for (const b of bytes)
      out +=
        /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) && b < 0x80
          ? String.fromCharCode(b)
          : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function resolve(doc: OpenApiDoc, schema: Schema | undefined): Schema {
  let s = schema ?? {};
  while (s.$ref) s = doc.components?.schemas?.[s.$ref.split('/').pop()!] ?? {};
  if (s.allOf)
    return s.allOf.reduce<Schema>((acc, part) => {
      const r = resolve(doc, part);
      return {
        ...acc,
        ...r,
        properties: { ...acc.properties, ...r.properties },
        required: [...(acc.required ?? []), ...(r.required ?? [])],
      };
    }, {});
  return s;
}

/** A valid-looking value for a schema: its example, else something of its type and format. */
function sample(doc: OpenApiDoc, raw: Schema | undefined): unknown {
  const s = resolve(doc, raw);
  if (s.example !== undefined) return s.example;
  if (s.enum?.length) return s.enum[0];
  switch (s.type) {
    case 'string':
      return s.format === 'email'
        ? 'fuzz@example.com'
        : s.format === 'uuid'
          ? randomUUID()
          : s.format === 'date-time'
            ? new Date().toISOString()
            : 'fuzz';
    case 'integer':
    case 'number':
      return Math.max(1, s.minimum ?? 1);
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, sample(doc, v)]));
    default:
      return 'fuzz';
  }
}

/**
 * One case per string field of every operation: query and path parameters (every one is text on the
 * wire), top-level body properties of type string, and both the keys and the values of free-form
 * object properties (metadata). Header parameters are left out: HTTP clients refuse such bytes there.
 */
export function stringFieldCases(doc: OpenApiDoc, ids: { vmId: string; userId: string }): FieldCase[] {
  const cases: FieldCase[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'patch', 'put', 'delete'].includes(method)) continue;
      const route = `${method.toUpperCase()} ${template}`;
      const params = op.parameters ?? [];
      const pathValue = (name: string) =>
        template.startsWith('/api/vms/') || template.startsWith('/api/admin/vms/')
          ? ids.vmId
          : template.includes('/users/')
            ? ids.userId
            : name === 'id'
              ? randomUUID()
              : 'fuzz';
      const bodySchema = resolve(doc, op.requestBody?.content?.['application/json']?.schema);
      const validBody = op.requestBody ? sample(doc, bodySchema) : undefined;
      const make =
        (over: { path?: [string, string]; query?: [string, string]; body?: (b: Record<string, unknown>, text: string) => void }) =>
        (text: string) => {
          let path = template;
          for (const p of params.filter((x) => x.in === 'path')) {
            const value = over.path?.[0] === p.name ? percentEncode(text) : encodeURIComponent(pathValue(p.name));
            path = path.replace(`{${p.name}}`, value);
          }
          const query = over.query ? `?${over.query[0]}=${percentEncode(text)}` : '';
          let body = validBody === undefined ? undefined : structuredClone(validBody);
          if (over.body) over.body(body as Record<string, unknown>, text);
          return { path, query, body };
        };
      const add = (field: string, build: FieldCase['build']) =>
        cases.push({
          name: `${route} ${field}`,
          route,
          method: method as FieldCase['method'],
          secured: !(op.security && op.security.length === 0),
          build,
        });
      for (const p of params) {
        if (p.in === 'path') add(`path ${p.name}`, make({ path: [p.name, ''] }));
        if (p.in === 'query') add(`query ${p.name}`, make({ query: [p.name, ''] }));
      }
      for (const [name, raw] of Object.entries(bodySchema.properties ?? {})) {
        const prop = resolve(doc, raw);
        if (prop.type === 'string') add(`body ${name}`, make({ body: (b, text) => (b[name] = text) }));
        if (prop.type === 'object' && !prop.properties) {
          add(`body ${name} key`, make({ body: (b, text) => (b[name] = { [text]: 'v' }) }));
          add(`body ${name} value`, make({ body: (b, text) => (b[name] = { k: text }) }));
        }
      }
    }
  }
  return cases;
}

export interface NumericCase {
  /** `METHOD /path body|query field`. */
  name: string;
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** The document says integer (else number). */
  integer: boolean;
  /** A whole value the field accepts. */
  wholeValue: number;
  /** The request with `value` in this field and valid values elsewhere. */
  build(value: number): { path: string; query: string; body?: unknown };
}

/** A whole value inside the schema's range: its example (rounded down), else its minimum, else 1. */
function wholeValueOf(s: Schema): number {
  if (typeof s.example === 'number') return Math.floor(s.example);
  return Math.max(s.minimum ?? 1, 1);
}

/**
 * One case per numeric request field (at any depth of the JSON body, first item of arrays) and
 * numeric query parameter of every operation, with the document's type. Path parameters take
 * `pathValue(name)`; required query parameters take their sample.
 */
export function numericFieldCases(doc: OpenApiDoc, pathValue: (name: string) => string): NumericCase[] {
  const cases: NumericCase[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'patch', 'put', 'delete'].includes(method)) continue;
      const params = op.parameters ?? [];
      const path = params
        .filter((p) => p.in === 'path')
        .reduce((t, p) => t.replace(`{${p.name}}`, encodeURIComponent(pathValue(p.name))), template);
      const requiredQuery = params.filter((p) => p.in === 'query' && p.required);
      const queryWith = (name?: string, value?: number) =>
        [
          ...requiredQuery.filter((p) => p.name !== name).map((p) => `${p.name}=${encodeURIComponent(String(sample(doc, p.schema)))}`),
          ...(name ? [`${name}=${value}`] : []),
        ]
          .join('&')
          .replace(/^(?=.)/, '?');
      const add = (field: string, s: Schema, build: NumericCase['build']) =>
        cases.push({
          name: `${method.toUpperCase()} ${template} ${field}`,
          method: method as NumericCase['method'],
          integer: s.type === 'integer',
          wholeValue: wholeValueOf(s),
          build,
        });
      for (const p of params.filter((x) => x.in === 'query')) {
        const s = resolve(doc, p.schema);
        if (s.type === 'integer' || s.type === 'number') add(`query ${p.name}`, s, (value) => ({ path, query: queryWith(p.name, value) }));
      }
      const bodySchema = op.requestBody?.content?.['application/json']?.schema;
      if (!bodySchema) continue;
      const base = sample(doc, bodySchema);
      const walk = (raw: Schema | undefined, at: (string | number)[]) => {
        const s = resolve(doc, raw);
        if (s.type === 'integer' || s.type === 'number') {
          add(`body ${at.join('.')}`, s, (value) => ({ path, query: queryWith(), body: withValue(doc, bodySchema, base, at, value) }));
        } else if (s.type === 'array' && s.items) walk(s.items, [...at, 0]);
        else for (const [name, prop] of Object.entries(s.properties ?? {})) walk(prop, [...at, name]);
      };
      walk(bodySchema, []);
    }
  }
  return cases;
}

/** A copy of `base` with `value` at `at`, filling the objects and arrays on the way from their schemas. */
function withValue(doc: OpenApiDoc, schema: Schema, base: unknown, at: (string | number)[], value: number): unknown {
  if (!at.length) return value;
  const s = resolve(doc, schema);
  const [head, ...rest] = at;
  if (typeof head === 'number') {
    const items = Array.isArray(base) && base.length ? [...base] : [sample(doc, s.items)];
    items[0] = withValue(doc, s.items ?? {}, items[0], rest, value);
    return items;
  }
  const obj = base && typeof base === 'object' && !Array.isArray(base) ? { ...(base as Record<string, unknown>) } : {};
  const prop = s.properties?.[head!] ?? {};
  obj[head!] = withValue(doc, prop, obj[head!] ?? sample(doc, prop), rest, value);
  return obj;
}
