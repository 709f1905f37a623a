import type { FastifyBodyParser, FastifyInstance, FastifyRequest } from 'fastify';
import { COMMON_ERRORS } from './common.errors';
import { jsonDepth, MAX_JSON_DEPTH } from './json-depth';
import { storableTextProblem } from './storable-text';

/** Largest request body accepted (413 request.too_large beyond). */
export const BODY_LIMIT_BYTES = 256 * 1024;

function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? Number(length) > 0 : req.headers['transfer-encoding'] !== undefined;
}

/**
 * The body parsers, in place of Fastify's own:
 * - JSON (`application/json`, any `+json` type): an object or array (as body-parser's strict mode), or
 *   nothing for an empty body (some clients send the content-type on bodiless POSTs);
 * - anything else: a non-empty body is refused with one 415 before it is read (validation would
 *   otherwise see no fields and answer one error per required field); bodiless requests pass, so
 *   routes without a body work whatever content-type a client sends.
 * Then, before any handler, a parsed body deeper than MAX_JSON_DEPTH, with a reserved key or with
 * text PostgreSQL cannot store (query and path included) is refused.
 */
export function registerBodyParsing(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  const json: FastifyBodyParser<string> = (_req, text, done) => {
    if (text === '') return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return done(COMMON_ERRORS.error('request.malformed_json', 'The request body is not valid JSON'), undefined);
    }
    if (value === null || typeof value !== 'object') return done(COMMON_ERRORS.error('request.malformed_json', 'The request body must be a JSON object or array'), undefined);
    done(null, value);
  };
  for (const type of ['application/json', /^application\/[\w.-]+\+json$/]) fastify.addContentTypeParser(type, { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, json);
  fastify.addContentTypeParser('*', (req, _payload, done) => {
    if (!hasBody(req)) return done(null, undefined);
    const type = req.headers['content-type'];
    done(
      COMMON_ERRORS.error(
        'request.unsupported_media_type',
        `The request body must be JSON sent with content-type: application/json${type ? ` (got ${type.split(';')[0]})` : ''}`,
      ),
      undefined,
    );
  });
  fastify.addHook('preValidation', (req, _reply, done) => {
    const body = req.body;
    if (body && typeof body === 'object' && jsonDepth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      return done(COMMON_ERRORS.error('request.too_deep', `JSON bodies may nest at most ${MAX_JSON_DEPTH} levels`));
    }
    done(storableTextProblem(body, req.query, req.url.split('?', 1)[0]) ?? undefined);
  });
}
