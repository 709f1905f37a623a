import type { HeaderObject } from '@nestjs/swagger';

/**
 * The response headers the API itself sends (components.headers of the document). Transport and
 * browser-policy headers (Content-Type, Content-Length, Date, ETag, Vary, helmet's security headers,
 * CORS) are not part of the contract and are not listed.
 */
export const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description:
      'The request’s id: the X-Request-Id the client sent (1-128 characters of A-Z a-z 0-9 _ . -) or a new UUID. ' +
      'Also the `request_id` of a problem; quote it when reporting one.',
    schema: { type: 'string', example: '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f' },
  },
  RateLimit: {
    description:
      'What is left of this client’s limit (IETF draft-ietf-httpapi-ratelimit-headers-08), e.g. `"api";r=99;t=42`: ' +
      '99 requests in the next 42 s. Sent when the limit is on (RATE_LIMIT_PER_MIN, or RATE_LIMIT_AUTH_PER_MIN on register and login).',
    schema: { type: 'string', example: '"api";r=99;t=42' },
  },
  'RateLimit-Policy': {
    description: 'The limit itself, e.g. `"api";q=100;w=60`: 100 requests a 60 s window. Sent with RateLimit.',
    schema: { type: 'string', example: '"api";q=100;w=60' },
  },
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    schema: { type: 'integer', minimum: 0, example: 30 },
  },
  'WWW-Authenticate': {
    description:
      'The RFC 6750 bearer challenge of a 401: `Bearer realm="vm-platform"` when no token was sent; with ' +
      '`error="invalid_token"` and an `error_description` when the token is malformed, unknown, revoked or expired.',
    schema: { type: 'string', example: 'Bearer realm="vm-platform", error="invalid_token", error_description="The token has expired"' },
  },
  'Idempotent-Replayed': {
    description: 'Present (`true`) when this is the stored answer to an earlier request with the same Idempotency-Key, sent again.',
    schema: { type: 'string', enum: ['true'] },
  },
  Location: {
    description: 'The URL of the resource created.',
    schema: { type: 'string', format: 'uri-reference', example: '/api/vms/019ab1c2-7d3e-7f00-9a1b-2c3d4e5f6a7b' },
  },
  'X-Accel-Buffering': {
    description: 'Always `no`: tells nginx-style proxies not to buffer the stream.',
    schema: { type: 'string', enum: ['no'] },
  },
  'Cache-Control': {
    description: 'Always `no-cache, no-transform`: a stream is never cached or rewritten by proxies.',
    schema: { type: 'string', example: 'no-cache, no-transform' },
  },
} satisfies Record<string, HeaderObject>;

export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS;

/** `headers` of a response object: references to the components above. */
export function headerRefs(...names: ResponseHeaderName[]): Record<string, { $ref: string }> {
  return Object.fromEntries(names.map((n) => [n, { $ref: `#/components/headers/${n}` }]));
}
