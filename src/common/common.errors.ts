import { defineErrors } from './error-catalog';

/** Errors of the HTTP layer itself, which any route can answer. */
export const COMMON_ERRORS = defineErrors({
  'request.validation': {
    status: 400,
    title: 'Invalid request fields',
    extensions: {
      errors: {
        type: 'array',
        description: 'Per-field messages',
        items: {
          type: 'object',
          properties: {
            field: { type: 'string', example: 'ram_mb' },
            messages: { type: 'array', items: { type: 'string' }, example: ['ram_mb must be an integer number'] },
          },
          required: ['field', 'messages'],
        },
      },
      errors_omitted: {
        type: 'integer',
        description: 'Present when there were more field errors than the first 20 listed in `errors`: how many more',
        example: 12,
      },
    },
    optional: ['errors_omitted'],
  },
  'request.malformed_json': { status: 400, title: 'The body is not valid JSON' },
  'request.body_not_object': { status: 400, title: 'The body is not a JSON object' },
  'request.body_empty': {
    status: 400,
    title: 'The body is empty',
    extensions: {
      required: {
        type: 'array',
        items: { type: 'string' },
        description: 'The fields the route needs that an empty body lacks',
        example: ['name', 'os_type', 'cpu', 'ram_mb', 'disk_gb'],
      },
    },
  },
  'request.invalid': { status: 400, title: 'Bad request' },
  'request.too_deep': { status: 400, title: 'JSON nested too deep' },
  'request.too_many_members': {
    status: 413,
    title: 'Too many JSON keys and elements',
    extensions: { max_members: { type: 'integer', description: "The route's limit on keys and array elements in all", example: 1000 } },
  },
  'request.invalid_encoding': { status: 400, title: 'The body does not decode' },
  'request.body_timeout': { status: 408, title: 'The body took too long' },
  'request.reserved_key': { status: 400, title: 'Reserved JSON key' },
  'request.invalid_text': {
    status: 400,
    title: 'Text that cannot be stored',
    extensions: {
      field: { type: 'string', description: 'Where the text is: a body path, a query parameter, or "path"', example: 'metadata.note' },
    },
  },
  'request.invalid_id': { status: 400, title: 'The id is not a UUID' },
  'pagination.invalid_cursor': { status: 400, title: 'Unknown cursor' },
  'route.not_found': { status: 404, title: 'No such route' },
  'request.method_not_allowed': { status: 405, title: 'Method not allowed' },
  'request.too_large': { status: 413, title: 'Body too large' },
  'request.unsupported_media_type': { status: 415, title: 'The body is not JSON' },
  'request.unsupported_charset': { status: 415, title: 'The body is not UTF-8' },
  'request.unsupported_encoding': { status: 415, title: 'Unsupported Content-Encoding' },
  'request.error': { status: 400, title: 'Request refused' },
  'request.rate_limited': { status: 429, title: 'Too many requests', headers: ['Retry-After'] },
  'internal.error': { status: 500, title: 'Internal server error' },
  'service.unavailable': { status: 503, title: 'Service unavailable', headers: ['Retry-After'] },
});
