import { Logger } from '@nestjs/common';
import { bootstrap, handleShutdown } from './bootstrap';

async function main(): Promise<void> {
  const started = await bootstrap();
  handleShutdown(started);
  await started.app.listen(started.env.PORT);
  new Logger('Main').log(
    `VM Platform API listening on http://localhost:${started.env.PORT}/api (Swagger UI: http://localhost:${started.env.PORT}/api/docs)`,
  );
}

main().catch((err: Error) => {
  new Logger('Main').fatal(err.message);
  process.exit(1);
});
