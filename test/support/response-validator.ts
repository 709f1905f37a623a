import type { onSendHookHandler } from 'fastify';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

type Json = Record<string, unknown>;
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * OpenAPI 3.0 schema -> JSON Schema Ajv checks strictly: `nullable` becomes a null alternative, and
 * every object schema that does not allow extra properties rejects them, so an undeclared field in a
 * response fails.
 */
function tighten(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tighten);
  if (!node || typeof node !== 'object') return node;
  const s: Json = {};
  for (const [k, v] of Object.entries(node as Json)) s[k] = k === 'example' || k === 'examples' ? v : tighten(v);
  if (s.type === 'object' && s.properties && s.additionalProperties === undefined) s.additionalProperties = false;
  if (s.nullable === true) {
    delete s.nullable;
    if (typeof s.type === 'string') return { ...s, type: [s.type, 'null'] };
    return { anyOf: [s, { type: 'null' }] };
  }
  return s;
}

/**
 * Headers outside the API contract: HTTP framing and caching, browser policy (helmet),
 * CORS. Every other header a response carries must be declared on that response.
 */
const TRANSPORT_HEADERS = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'etag',
  'vary',
  'content-security-policy',
  'cross-origin-embedder-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
]);

type ResponseMap = Record<string, { headers?: Record<string, unknown> }>;

/** The headers of an answer that its response object in the document does not declare. */
export function undeclaredHeaders(responses: ResponseMap | undefined, status: number, names: string[]): string[] {
  const declared = new Set(Object.keys(responses?.[String(status)]?.headers ?? {}).map((h) => h.toLowerCase()));
  return names.filter(
    (n) => !TRANSPORT_HEADERS.has(n.toLowerCase()) && !n.toLowerCase().startsWith('access-control-') && !declared.has(n.toLowerCase()),
  );
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/**
 * A Fastify onSend hook for the e2e tests: every JSON answer must match the response schema the
 * OpenAPI document declares for its route, method, status and content type. Violations are
 * collected; the test app fails its suite on close when there are any.
 */
export function createResponseValidator(getDocument: () => Json) {
  const violations: string[] = [];
  const cache = new Map<string, ValidateFunction | string>();
  let ajv: Ajv | undefined;
  let doc: {
    paths: Record<
      string,
      Record<string, { responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema?: object }> }> }>
    >;
  };

  function validatorFor(path: string, method: string, status: number, type: string): ValidateFunction | string {
    const key = `${method} ${path} ${status} ${type}`;
    let v = cache.get(key);
    if (v) return v;
    if (!ajv) {
      doc = tighten(getDocument()) as typeof doc;
      ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
      ajv.addSchema(doc as object, 'openapi');
    }
    const op = doc.paths[path]?.[method];
    if (!op) v = `undocumented route ${method.toUpperCase()} ${path}`;
    else if (!op.responses[String(status)]) v = `undeclared status ${status} for ${method.toUpperCase()} ${path}`;
    else if (!op.responses[String(status)]!.content?.[type]?.schema)
      v = `no ${type} schema for ${status} of ${method.toUpperCase()} ${path}`;
    else v = ajv.compile({ $ref: `openapi#/${pointer('paths', path, method, 'responses', String(status), 'content', type, 'schema')}` });
    cache.set(key, v);
    return v;
  }

  const onSend: onSendHookHandler = (req, reply, payload, done) => {
    const route = req.routeOptions.url;
    const type = String(reply.getHeader('content-type') ?? '').split(';')[0];
    // Unmatched routes (a 404 from the router) and Swagger UI's own routes have no operation to check.
    // Routes outside /api (GET /metrics) are not part of the documented API; only JSON answers are checked.
    if (
      route &&
      !route.includes('*') &&
      route.startsWith('/api/') &&
      !route.startsWith('/api/docs') &&
      typeof payload === 'string' &&
      (type === 'application/json' || type === 'application/problem+json')
    ) {
      const path = route.replace(/:(\w+)/g, '{$1}');
      const v = validatorFor(path, req.method.toLowerCase(), reply.statusCode, type);
      if (typeof v === 'string') violations.push(v);
      else if (!v(JSON.parse(payload))) violations.push(`${req.method} ${req.url} -> ${reply.statusCode}: ${ajv!.errorsText(v.errors)}`);
      const extra = undeclaredHeaders(
        doc.paths[path]?.[req.method.toLowerCase()]?.responses,
        reply.statusCode,
        Object.keys(reply.getHeaders()),
      );
      if (extra.length) violations.push(`${req.method} ${path} -> ${reply.statusCode}: undeclared response headers ${extra.join(', ')}`);
    }
    done(null, payload);
  };
  return { onSend, violations };
}
