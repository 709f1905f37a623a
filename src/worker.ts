import { Logger } from '@nestjs/common';
import { describeError } from './common/describe-error';
import { bootstrapWorker, handleShutdown } from './bootstrap';

/** `npm run worker`: one VM queue consumer as its own process (one per hypervisor host). */
async function main(): Promise<void> {
  const started = await bootstrapWorker();
  handleShutdown(started);
  new Logger('Worker').log('Worker process running; SIGTERM finishes running jobs and exits');
}

main().catch((err: unknown) => {
  new Logger('Worker').fatal(`Startup failed: ${describeError(err)}`);
  process.exit(1);
});
