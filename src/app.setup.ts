import { INestApplication, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Env, trustedProxies } from './config/env.validation';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import { ProblemFilter } from './common/problem.filter';
import { AppValidationPipe } from './common/validation.pipe';
import { BODY_LIMIT_BYTES, registerBodyParsing } from './common/json-body';
import { connectionCap, limitConnections } from './common/connection-limits';
import { compile as compileTrust } from 'proxy-addr';
import type { Server } from 'node:http';
import { QUEUE_POOL_SIZE } from './queue/queue.service';
import { applyRateLimits } from './common/rate-limit';
import { APP_VERSION } from './common/version';
import { completeDocument } from './common/problem-responses';
import { answerWrongMethodWith405 } from './common/method-not-allowed';

/**
 * Same origin only: scripts and styles from files the app serves (no inline script), images also as
 * data: URLs (Swagger UI's icons), fetches to this API. No upgrade-insecure-requests: the service
 * itself speaks plain HTTP (TLS, if any, ends at a proxy), where that directive would break the page.
 */
export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('VM Platform API')
    .setDescription(
      'Self-service virtual machines paid with credits. VMs are provisioned asynchronously: create and ' +
        'action calls answer 202 and a worker drives the machine through Vagrant. Errors are RFC 9457 ' +
        'application/problem+json with a stable `code`.',
    )
    .setVersion(APP_VERSION)
    .setLicense('Proprietary', 'https://vm-platform.dev/terms')
    .addServer('/', 'This server')
    .addTag('auth', 'Register, sign in and out, change your password: login tokens (JWT)')
    .addTag('users', 'Your own account: profile and credit balance')
    .addTag('credits', 'Your credit ledger: every top-up, charge and adjustment')
    .addTag('vms', 'Your virtual machines: create, list, rename, start, stop, reboot, delete; sizes, quotas and OS types')
    .addTag('ssh-keys', 'Public SSH keys to install on new VMs')
    .addTag('tokens', 'API tokens (`vmp_...`) with chosen scopes and expiry, for scripts and CI')
    .addTag('events', 'Audit events of your account and VMs, as a page or a live stream')
    .addTag('webhooks', 'Endpoints your events are POSTed to, signed (Standard Webhooks), with their deliveries')
    .addTag('metrics', 'VM usage samples (CPU, memory, disk, load) and their history')
    .addTag('health', 'Whether the service is up, and the API index')
    .addTag('admin', 'Platform administration: every user, VM, event and host (admins only)')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT or vmp_ API token',
      description:
        'A login token (POST /api/auth/login; it holds every scope of your role) or an API token `vmp_...` ' +
        '(POST /api/tokens; only its scopes). Each operation names the scope it needs in `x-required-scope`: a scope, ' +
        '`none` (any valid token) or `login` (login tokens only). An API token without it gets 403 `auth.insufficient_scope`.',
    })
    .build();
  const doc = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controller, method) => method,
  });
  return completeDocument(doc);
}

/** Dedicated LISTEN connections (users, events). */
const LISTEN_CONNECTIONS = 2;

const REQUEST_ID = /^[\w.-]{1,128}$/;

// `/` is the web console (WebConsoleModule). Its CSP allows its own scripts, styles and API calls
// and nothing else; Swagger UI at /api/docs runs under the same one, plus inline styles.
// HSTS is left to `secureTransport` (below), which sends it only for requests that came over TLS.
const consolePolicy = helmet({
  contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
  strictTransportSecurity: false,
});
// Swagger UI's page carries inline <style> elements: its pages (only) may apply inline styles.
const docsPolicy = helmet({
  contentSecurityPolicy: { useDefaults: false, directives: { ...CONTENT_SECURITY_POLICY, styleSrc: ["'self'", "'unsafe-inline'"] } },
  strictTransportSecurity: false,
});

/**
 * Strict-Transport-Security (helmet's: max-age one year, includeSubDomains), per the HSTS setting of
 * each app (tests run several in one process): `auto` sends it when the request came over TLS,
 * `request.protocol === 'https'` (a TLS socket, or X-Forwarded-Proto from a TRUST_PROXY peer; the
 * header from any other peer is ignored); `always` on every answer (a proxy terminates TLS for every
 * request and does not say so); `off` never. Over plain HTTP a browser ignores it anyway (RFC 6797
 * 8.1), but it tells whoever reads it that the connection was secure when it was not.
 */
const hstsHeader = helmet.strictTransportSecurity();
const hstsModes = new WeakMap<object, Env['HSTS']>();

function secureTransport(req: FastifyRequest, reply: FastifyReply): void {
  // req.server may be a plugin's child instance: Fastify derives those from the root by prototype.
  let mode: Env['HSTS'] | undefined;
  for (let s: object | null = req.server; s && !mode; s = Object.getPrototypeOf(s) as object | null) mode = hstsModes.get(s);
  mode ??= 'auto';
  if (mode === 'always' || (mode === 'auto' && req.protocol === 'https')) hstsHeader(req.raw, reply.raw, () => undefined);
}

/**
 * The request id and helmet's security headers, on the Node response so that every answer carries
 * them: errors, 404s and event streams included.
 */
function identifyAndSecure(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
  reply.raw.setHeader('X-Request-Id', req.id);
  secureTransport(req, reply);
  (req.url.startsWith('/api/docs') ? docsPolicy : consolePolicy)(req.raw, reply.raw, (err?: unknown) => done(err as Error | undefined));
}

/**
 * The HTTP layer: Fastify (NestJS's Fastify adapter). TRUST_PROXY names the peers whose
 * X-Forwarded-For is believed (request.ip: rate-limit key, audited IP); default none. Each request's
 * id is a well-formed incoming X-Request-Id, else a fresh UUID. Paths match with or without a trailing
 * slash. Used by main.ts AND by the tests.
 */
export function createHttpAdapter(
  env: Pick<Env, 'TRUST_PROXY' | 'REQUEST_HEADERS_TIMEOUT_SECONDS' | 'REQUEST_BODY_TIMEOUT_SECONDS' | 'CONNECTION_IDLE_TIMEOUT_SECONDS'>,
): FastifyAdapter {
  return new FastifyAdapter({
    trustProxy: trustedProxies(env.TRUST_PROXY) || false,
    bodyLimit: BODY_LIMIT_BYTES,
    // Slow clients: headers must be in within REQUEST_HEADERS_TIMEOUT_SECONDS (checked every second, not
    // Node's default 30 s), a body within REQUEST_BODY_TIMEOUT_SECONDS (registerBodyParsing answers 408;
    // requestTimeout is the backstop for the whole request), and a silent connection is closed.
    http: { headersTimeout: env.REQUEST_HEADERS_TIMEOUT_SECONDS * 1000, connectionsCheckingInterval: 1000 },
    requestTimeout: (env.REQUEST_HEADERS_TIMEOUT_SECONDS + env.REQUEST_BODY_TIMEOUT_SECONDS + 5) * 1000,
    connectionTimeout: env.CONNECTION_IDLE_TIMEOUT_SECONDS * 1000,
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true },
    // While draining on shutdown, a request on a connection still open is answered as usual (the
    // server refuses new connections and closes idle ones: see handleShutdown), not with Fastify's
    // own 503 body, which is not problem+json.
    return503OnClosing: false,
    // An undecodable URL is refused by the router, before any route and its hooks: the same problem+json 400.
    frameworkErrors: (err: Error, req: FastifyRequest, reply: FastifyReply) =>
      identifyAndSecure(req, reply, () => new ProblemFilter().send(err, req, reply)),
  });
}

/** Everything that makes the app answer like the product: used by main.ts AND by the tests. */
export function configureApp(app: NestFastifyApplication): void {
  app.setGlobalPrefix('api', { exclude: ['metrics'] });
  const fastify = app.getHttpAdapter().getInstance();
  const config = app.get(ConfigService<Env, true>);
  hstsModes.set(fastify, config.get('HSTS', { infer: true }));
  fastify.addHook('onRequest', (req, reply, done) => identifyAndSecure(req, reply, done));
  answerWrongMethodWith405(fastify, { ignoreTrailingSlash: true });
  // CORS is closed unless CORS_ORIGINS names the browser origins allowed to call the API.
  const origins = config.get('CORS_ORIGINS', { infer: true });
  if (origins) app.enableCors({ origin: origins.split(',').map((o) => o.trim()), exposedHeaders: ['X-Request-Id'] });
  applyRateLimits(fastify, {
    authPerMin: config.get('RATE_LIMIT_AUTH_PER_MIN', { infer: true }),
    perMin: config.get('RATE_LIMIT_PER_MIN', { infer: true }),
  });
  registerBodyParsing(fastify, { bodyTimeoutMs: config.get('REQUEST_BODY_TIMEOUT_SECONDS', { infer: true }) * 1000 });
  const trust = trustedProxies(config.get('TRUST_PROXY', { infer: true }));
  const isProxy = trust ? compileTrust(trust) : () => false;
  const { cap, fileLimit } = connectionCap(
    config.get('MAX_CONNECTIONS', { infer: true }),
    config.get('DB_POOL_SIZE', { infer: true }) + QUEUE_POOL_SIZE + LISTEN_CONNECTIONS,
  );
  const perIp = config.get('MAX_CONNECTIONS_PER_IP', { infer: true });
  // One address never holds more than a quarter of all connections, however low the overall cap.
  const perAddress = perIp > 0 && cap > 0 ? Math.min(perIp, Math.ceil(cap / 4)) : perIp;
  limitConnections(app.getHttpServer() as Server, { max: cap, perAddress, exempt: (address) => isProxy(address, 0) });
  new Logger('Connections').log(
    `At most ${cap || 'unlimited'} open connections${fileLimit ? ` (open-file limit ${fileLimit})` : ''}, ${perAddress || 'unlimited'} per client address`,
  );
  app.useGlobalPipes(new AppValidationPipe());
  app.useGlobalFilters(new ProblemFilter());
  SwaggerModule.setup('api/docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'api/docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
}
