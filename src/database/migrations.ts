import { Initial1795636652019 } from '../../migrations/1795636652019-Initial';
import { Vms1795636933429 } from '../../migrations/1795636933429-Vms';
import { Metrics1795638497124 } from '../../migrations/1795638497124-Metrics';

/** Every migration in order, listed explicitly so the app, the CLI and tests agree. */
export const MIGRATIONS: Function[] = [Initial1795636652019, Vms1795636933429, Metrics1795638497124];
