import { ApiExtension } from '@nestjs/swagger';
import type { OpenAPIObject, OperationObject, ParameterObject, ReferenceObject, ResponseObject, SchemaObject } from '@nestjs/swagger';
import { COMMON_ERRORS } from './common.errors';
import { ErrorDefinition, errorCatalog } from './error-catalog';
import { PROBLEM_BASE } from './problem.filter';
import { headerRefs, RESPONSE_HEADERS, type ResponseHeaderName } from './response-headers';
import { must } from './must';

const CODES_EXTENSION = 'x-problem-codes';
let declarations = 0;

/**
 * Declares error codes a route (or every route of a controller) can answer, each module passing
 * its own (`VM_ERRORS.of('vm.not_found')`). The codes every route of its shape can answer (rate
 * limit, bad body, bad query, bad id...) are added by completeDocument, which turns the codes into
 * one problem response per status.
 */
export function ApiProblems(...errors: (ErrorDefinition | readonly ErrorDefinition[])[]) {
  // One extension key per declaration: @nestjs/swagger keeps only one value per key.
  return ApiExtension(
    `${CODES_EXTENSION}-${++declarations}`,
    errors.flat().map((e) => e.code),
  );
}

const BODY_CODES = COMMON_ERRORS.of(
  'request.validation',
  'request.malformed_json',
  'request.body_not_object',
  'request.body_empty',
  'request.invalid',
  'request.too_deep',
  'request.reserved_key',
  'request.invalid_text',
  'request.too_large',
  'request.too_many_members',
  'request.invalid_encoding',
  'request.body_timeout',
  'request.unsupported_media_type',
  'request.unsupported_charset',
  'request.unsupported_encoding',
);
const QUERY_CODES = COMMON_ERRORS.of('request.validation', 'request.invalid_text');

/** The codes an operation can answer because of its shape (and `{id}` documented as the UUID it must be). */
function codesOfShape(op: OperationObject): ErrorDefinition[] {
  const params = (op.parameters ?? []) as ParameterObject[];
  const codes = [COMMON_ERRORS.get('request.rate_limited')];
  // /api/health answers its own 503 (a health report, not a problem).
  if (!op.responses['503']) codes.push(COMMON_ERRORS.get('service.unavailable'));
  if (op.requestBody) codes.push(...BODY_CODES);
  if (params.some((p) => p.in === 'query')) codes.push(...QUERY_CODES);
  if (params.some((p) => p.in === 'query' && p.name === 'cursor')) codes.push(COMMON_ERRORS.get('pagination.invalid_cursor'));
  if (params.some((p) => p.in === 'path')) codes.push(COMMON_ERRORS.get('request.invalid_text'));
  // Every `{id}` is a UUID checked by UuidPipe.
  const id = params.find((p) => p.in === 'path' && p.name === 'id');
  if (id) {
    id.schema = { ...id.schema, format: 'uuid' };
    codes.push(COMMON_ERRORS.get('request.invalid_id'));
  }
  return codes;
}

/** `vm.invalid_transition` -> `VmInvalidTransitionProblem`. */
export function problemSchemaName(code: string): string {
  return `${code
    .split(/[._]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}Problem`;
}

/** The RFC 9457 body of one code: its code, status and extension members exactly. */
function problemSchema(definition: ErrorDefinition): SchemaObject {
  const { code, spec } = definition;
  const extensions = spec.extensions ?? {};
  return {
    type: 'object',
    description: `${spec.title} (\`${code}\`, status ${spec.status})`,
    properties: {
      type: { type: 'string', format: 'uri', enum: [PROBLEM_BASE + code] },
      title: { type: 'string', example: spec.title },
      status: { type: 'integer', enum: [spec.status] },
      detail: { type: 'string', description: 'What happened, for people' },
      code: { type: 'string', enum: [code], description: 'Stable machine-readable code' },
      instance: { type: 'string', description: 'The request path', example: '/api/vms' },
      request_id: { type: 'string', description: 'The X-Request-Id of the request' },
      ...extensions,
    },
    required: ['type', 'title', 'status', 'detail', 'code', ...Object.keys(extensions).filter((k) => !spec.optional?.includes(k))],
  };
}

const EVERY_RESPONSE: ResponseHeaderName[] = ['X-Request-Id', 'RateLimit', 'RateLimit-Policy'];

/** Statuses an Idempotency-Key replay can have: the route's own answers (not the guards' or the body parser's). */
const replayable = (status: string) => /^[24]/.test(status) && !['401', '413', '415', '429'].includes(status);

/**
 * The problem responses of every operation, from the codes declared on it and those of its shape,
 * one response per status with a code enum per problem schema; and the headers every response
 * carries. Run on the document @nestjs/swagger builds.
 */
export function completeDocument(doc: OpenAPIObject): OpenAPIObject {
  const catalog = errorCatalog();
  const used = new Map<string, ErrorDefinition>();
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item) as OperationObject[]) {
      if (!op || typeof op !== 'object' || !op.operationId) continue;
      // Public routes say so explicitly (security: []) rather than leaving it undefined.
      op.security ??= [];
      const record = op as unknown as Record<string, unknown>;
      const declared = Object.keys(record)
        .filter((k) => k.startsWith(CODES_EXTENSION))
        .flatMap((k) => {
          const codes = record[k] as string[];
          delete record[k];
          return codes.map((c) => {
            const d = catalog.get(c);
            if (!d) throw new Error(`${op.operationId} declares ${c}, which no module defines`);
            return d;
          });
        });
      const byStatus = new Map<number, ErrorDefinition[]>();
      for (const d of new Set([...declared, ...codesOfShape(op)])) {
        used.set(d.code, d);
        byStatus.set(d.status, [...(byStatus.get(d.status) ?? []), d]);
      }
      for (const [status, defs] of [...byStatus].sort(([a], [b]) => a - b)) {
        if (op.responses[status]) throw new Error(`${op.operationId}: ${status} is declared both as problems and as a response`);
        defs.sort((a, b) => a.code.localeCompare(b.code));
        const refs = defs.map((d) => ({ $ref: `#/components/schemas/${problemSchemaName(d.code)}` }));
        const schema: SchemaObject | ReferenceObject =
          refs.length === 1
            ? must(refs[0], 'a problem schema reference')
            : {
                oneOf: refs,
                discriminator: {
                  propertyName: 'code',
                  mapping: Object.fromEntries(defs.map((d, i) => [d.code, must(refs[i], 'a problem schema reference').$ref])),
                },
              };
        op.responses[status] = {
          description: defs.map((d) => `\`${d.code}\`: ${d.spec.title}`).join('; '),
          headers: headerRefs(...new Set(defs.flatMap((d) => d.spec.headers ?? []))),
          content: { 'application/problem+json': { schema } },
        };
      }
      const idempotent = (op.parameters as ParameterObject[] | undefined)?.some((p) => p.in === 'header' && p.name === 'Idempotency-Key');
      const statuses = Object.keys(op.responses).sort();
      op.responses = Object.fromEntries(
        statuses.map((status) => {
          const response = op.responses[status] as ResponseObject;
          const extra: ResponseHeaderName[] = [
            ...EVERY_RESPONSE,
            ...(idempotent && replayable(status) ? (['Idempotent-Replayed'] as const) : []),
          ];
          return [status, { ...response, headers: { ...response.headers, ...headerRefs(...extra) } }];
        }),
      );
    }
  }
  doc.components ??= {};
  doc.components.headers = { ...doc.components.headers, ...RESPONSE_HEADERS };
  const schemas = { ...doc.components.schemas };
  for (const d of [...used.values()].sort((a, b) => a.code.localeCompare(b.code))) schemas[problemSchemaName(d.code)] = problemSchema(d);
  doc.components.schemas = schemas;
  return unwrapLoneAllOf(doc);
}

/**
 * @nestjs/swagger writes an enum property that references its named enum as `allOf: [{ $ref }]`.
 * With nothing beside it, that is the `$ref` itself: written so (Redocly's recommended
 * no-illogical-composition-keywords; generators give the same types either way).
 */
function unwrapLoneAllOf<T>(node: T): T {
  if (Array.isArray(node)) return node.map(unwrapLoneAllOf) as T;
  if (!node || typeof node !== 'object') return node;
  const entries = Object.entries(node);
  const [only] = entries;
  if (entries.length === 1 && only?.[0] === 'allOf' && Array.isArray(only[1]) && only[1].length === 1) {
    return unwrapLoneAllOf(only[1][0]);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, unwrapLoneAllOf(v)])) as T;
}
