import { Logger } from '@nestjs/common';
import { describeError } from './common/describe-error';
import { bootstrap, handleShutdown, type Started } from './bootstrap';

/**
 * Every interface: `::` (IPv6 and, dual-stack, IPv4), or `0.0.0.0` where the machine has no IPv6.
 * (Fastify, unlike Node's own server, would bind to localhost only without a host.)
 */
async function listenEverywhere(app: Started['app'], port: number): Promise<void> {
  try {
    await app.listen(port, '::');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT' && (err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') throw err;
    await app.listen(port, '0.0.0.0');
  }
}

async function main(): Promise<void> {
  const started = await bootstrap();
  handleShutdown(started);
  const host = started.env.LISTEN_HOST;
  if (host) await started.app.listen(started.env.PORT, host);
  else await listenEverywhere(started.app, started.env.PORT);
  const url = `http://${host ?? 'localhost'}:${started.env.PORT}`;
  new Logger('Main').log(`VM Platform API listening on ${url}/api (Swagger UI: ${url}/api/docs)`);
}

main().catch((err: unknown) => {
  new Logger('Main').fatal(`Startup failed: ${describeError(err)}`);
  process.exit(1);
});
