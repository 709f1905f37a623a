import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyBodyParser, FastifyInstance, FastifyRequest } from 'fastify';
import { PassThrough, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { AppError } from './app-error';
import { COMMON_ERRORS } from './common.errors';
import { jsonShapeProblem, MAX_JSON_DEPTH, MAX_JSON_MEMBERS } from './json-shape';
import { storableTextProblem } from './storable-text';
import { pathOf } from './must';

/** Largest request body accepted, after decoding a Content-Encoding (413 request.too_large beyond). */
export const BODY_LIMIT_BYTES = 256 * 1024;

/** Per-route body limits, read from the route's Fastify config (see JsonBodyLimits). */
interface BodyRouteConfig {
  jsonMaxMembers?: number;
}

/**
 * A route whose body may legitimately hold more than MAX_JSON_MEMBERS keys and elements (a metrics
 * batch, free-form metadata) says how many; every other route gets the default.
 */
export const JsonBodyLimits = (limits: { maxMembers: number }) =>
  RouteConfig({ jsonMaxMembers: limits.maxMembers } satisfies BodyRouteConfig);

function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? Number(length) > 0 : req.headers['transfer-encoding'] !== undefined;
}

/** Content-Encodings a body may be sent with, and their decoders. */
const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** A charset parameter other than UTF-8 (JSON is UTF-8: RFC 8259 section 8.1); undefined when fine. */
function foreignCharset(contentType: string | undefined): string | undefined {
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType ?? '')?.[1];
  return charset !== undefined && !/^utf-?8$/i.test(charset) ? charset : undefined;
}

export interface BodyParsingOptions {
  /** How long a body may take to arrive once the headers are in; past it: 408 request.body_timeout. */
  bodyTimeoutMs: number;
}

/**
 * The body parsers and checks, in place of Fastify's own:
 * - before the body is read: a charset other than UTF-8 is refused (415 request.unsupported_charset),
 *   so is a Content-Encoding other than gzip, deflate or br (415 request.unsupported_encoding); those
 *   three are decoded, and BODY_LIMIT_BYTES applies to the decoded body. A body still arriving
 *   `bodyTimeoutMs` after its headers is cut off with 408 request.body_timeout (and the connection closed).
 * - JSON (`application/json`, any `+json` type): an object, or nothing for an empty body (some clients
 *   send the content-type on bodiless POSTs); no route takes an array or a scalar.
 * - anything else: a non-empty body is refused with one 415 before it is read (validation would
 *   otherwise see no fields and answer one error per required field); bodiless requests pass, so
 *   routes without a body work whatever content-type a client sends.
 * Then, before any guard or handler, one bounded walk of the parsed body refuses more keys and elements
 * than the route accepts, nesting deeper than MAX_JSON_DEPTH, reserved keys and text PostgreSQL cannot
 * store (query and path too): validation only ever sees bodies of a size some route accepts.
 */
export function registerBodyParsing(fastify: FastifyInstance, options: BodyParsingOptions): void {
  fastify.removeAllContentTypeParsers();
  fastify.addHook('preParsing', (req, _reply, payload, done) => {
    if (!hasBody(req)) return done(null, payload);
    const charset = foreignCharset(req.headers['content-type']);
    if (charset !== undefined) {
      return done(COMMON_ERRORS.error('request.unsupported_charset', `JSON bodies must be UTF-8 (got charset=${charset})`));
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const decoder = encoding === 'identity' ? undefined : DECODERS[encoding];
    if (encoding !== 'identity' && !decoder) {
      return done(
        COMMON_ERRORS.error(
          'request.unsupported_encoding',
          `Content-Encoding ${JSON.stringify(encoding)} is not accepted: send identity, gzip, deflate or br`,
        ),
      );
    }
    // Most bodies are in by now (they came with the headers): nothing to wait for or decode.
    if (!decoder && req.raw.complete) return done(null, payload);
    done(null, boundedBody(payload, encoding, decoder?.(), options.bodyTimeoutMs));
  });
  const json: FastifyBodyParser<string> = (_req, text, done) => {
    if (text === '') return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return done(COMMON_ERRORS.error('request.malformed_json', 'The request body is not valid JSON'), undefined);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return done(
        COMMON_ERRORS.error(
          'request.body_not_object',
          `The request body must be a JSON object, not ${Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`}`,
        ),
        undefined,
      );
    }
    done(null, value);
  };
  for (const type of ['application/json', /^application\/[\w.-]+\+json$/])
    fastify.addContentTypeParser(type, { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, json);
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
    if (body && typeof body === 'object') {
      const maxMembers = (req.routeOptions.config as BodyRouteConfig | undefined)?.jsonMaxMembers ?? MAX_JSON_MEMBERS;
      const problem = jsonShapeProblem(body, { maxDepth: MAX_JSON_DEPTH, maxMembers });
      if (problem) return done(problem);
    }
    done(storableTextProblem(req.query, pathOf(req.url)) ?? undefined);
  });
}

/**
 * The body as Fastify's parser reads it: decoded when a decoder is given (Fastify counts the decoded
 * bytes against the body limit, and `receivedEncodedLength` against Content-Length), and failed with
 * 408 when it has not fully arrived within `timeoutMs` of the headers.
 */
function boundedBody(raw: Readable, encoding: string, decoder: NodeJS.ReadWriteStream | undefined, timeoutMs: number): Readable {
  const out = new PassThrough() as PassThrough & { receivedEncodedLength?: number };
  const fail = (err: AppError) => {
    clearTimeout(timer);
    raw.unpipe();
    // Once Fastify has stopped reading (a body past the limit was answered 413) nobody listens any more.
    if (out.listenerCount('error') > 0) out.destroy(err);
    else out.destroy();
  };
  const timer = setTimeout(
    () => fail(COMMON_ERRORS.error('request.body_timeout', `The request body did not arrive within ${timeoutMs / 1000} s of its headers`)),
    timeoutMs,
  );
  timer.unref();
  for (const stream of [raw, out]) for (const event of ['end', 'close']) stream.once(event, () => clearTimeout(timer));
  if (!decoder) {
    raw.pipe(out);
    return out;
  }
  out.receivedEncodedLength = 0;
  raw.on('data', (chunk: Buffer) => (out.receivedEncodedLength! += chunk.length));
  decoder.on('error', () => {
    decoder.unpipe();
    fail(COMMON_ERRORS.error('request.invalid_encoding', `The request body is not valid ${encoding} data`));
  });
  raw.pipe(decoder).pipe(out);
  return out;
}
