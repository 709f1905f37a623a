import type { FastifyInstance } from 'fastify';
import Router from 'find-my-way';
import { COMMON_ERRORS } from './common.errors';

/**
 * 405 with `Allow` (RFC 9110 section 15.5.6) for a path some route answers with other methods: Fastify's
 * router answers 404 for any method a path lacks (fastify/fastify#862). Every route registered after this
 * call is also put into a find-my-way router (Fastify's own router library, the same matching rules);
 * a request Fastify sends to its not-found handler is looked up there for each method before the 404.
 * Call before the routes are registered (Nest registers them at app.init()).
 */
export function answerWrongMethodWith405(fastify: FastifyInstance, options: { ignoreTrailingSlash: boolean }): void {
  const router = Router({ ignoreTrailingSlash: options.ignoreTrailingSlash });
  const methods = new Set<Router.HTTPMethod>();
  fastify.addHook('onRoute', (route) => {
    const url = route.url;
    // Catch-alls (the console's pages, static files) would make every path "known".
    if (url.includes('*')) return;
    for (const method of [route.method].flat().map((m) => m.toUpperCase() as Router.HTTPMethod)) {
      methods.add(method);
      router.on(method, url, () => undefined);
    }
  });
  fastify.addHook('onRequest', (req, _reply, done) => {
    if (!req.is404) {
      done();
      return;
    }
    const path = req.url.split('?', 1)[0] ?? req.url;
    const allow = [...methods].filter((m) => m !== req.method && router.find(m, path)).sort();
    if (!allow.length) {
      done();
      return;
    }
    done(
      COMMON_ERRORS.error(
        'request.method_not_allowed',
        `${req.method} is not allowed on ${path}: it answers ${allow.join(', ')}`,
        {},
        { Allow: allow.join(', ') },
      ),
    );
  });
}
