import { Logger } from '@nestjs/common';
import { describeError } from './common/describe-error';
import { bootstrap, handleShutdown } from './bootstrap';

async function main(): Promise<void> {
  const started = await bootstrap();
  handleShutdown(started);
  const host = started.env.LISTEN_HOST;
  if (host) await started.app.listen(started.env.PORT, host);
  else await started.app.listen(started.env.PORT);
  const url = `http://${host ?? 'localhost'}:${started.env.PORT}`;
  new Logger('Main').log(`VM Platform API listening on ${url}/api (Swagger UI: ${url}/api/docs)`);
}

main().catch((err: unknown) => {
  new Logger('Main').fatal(`Startup failed: ${describeError(err)}`);
  process.exit(1);
});
