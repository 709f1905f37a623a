import { INestApplication } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Env, trustedProxies } from './config/env.validation';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { randomUUID } from 'node:crypto';
import helmet from 'helmet';
import type { NextFunction, Request, Response } from 'express';
import { ProblemFilter } from './common/problem.filter';
import { AppValidationPipe } from './common/validation.pipe';
import { jsonDepthLimit } from './common/json-depth';
import { requireJsonBody } from './common/json-body';
import { storableTextOnly } from './common/storable-text';
import { applyRateLimits } from './common/rate-limit';
import { APP_VERSION } from './common/version';
import { completeDocument } from './common/problem-responses';

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
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  const doc = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controller, method) => method,
  });
  return completeDocument(doc);
}

/** Everything that makes the app answer like the product: used by main.ts AND by the tests. */
export function configureApp(app: NestExpressApplication): void {
  app.setGlobalPrefix('api', { exclude: ['metrics'] });
  // `/` is the web console (WebConsoleModule). Its CSP allows its own scripts, styles and API calls
  // and nothing else; Swagger UI at /api/docs runs under the same one, plus inline styles.
  const consolePolicy = helmet({ contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY } });
  // Swagger UI's page carries inline <style> elements: its pages (only) may apply inline styles.
  const docsPolicy = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { ...CONTENT_SECURITY_POLICY, styleSrc: ["'self'", "'unsafe-inline'"] } },
  });
  app.use((req: Request, res: Response, next: NextFunction) => (req.url.startsWith('/api/docs') ? docsPolicy : consolePolicy)(req, res, next));
  // CORS is closed unless CORS_ORIGINS names the browser origins allowed to call the API.
  const config = app.get(ConfigService<Env, true>);
  // req.ip (rate-limit key, audited IP) honours X-Forwarded-For only from these peers: default none.
  app.set('trust proxy', trustedProxies(config.get('TRUST_PROXY', { infer: true })));
  const origins = config.get('CORS_ORIGINS', { infer: true });
  if (origins) app.enableCors({ origin: origins.split(',').map((o) => o.trim()), exposedHeaders: ['X-Request-Id'] });
  app.use((req: Request & { id?: string }, res: Response, next: NextFunction) => {
    const incoming = req.header('x-request-id');
    req.id = incoming && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    next();
  });
  applyRateLimits(app, {
    authPerMin: config.get('RATE_LIMIT_AUTH_PER_MIN', { infer: true }),
    perMin: config.get('RATE_LIMIT_PER_MIN', { infer: true }),
  });
  app.use(requireJsonBody);
  app.useBodyParser('json', { limit: '256kb' });
  app.use(jsonDepthLimit);
  app.use(storableTextOnly);
  app.disable('x-powered-by');
  app.useGlobalPipes(new AppValidationPipe());
  app.useGlobalFilters(new ProblemFilter());
  SwaggerModule.setup('api/docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'api/docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
}
