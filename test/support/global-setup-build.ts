import globalSetup from './global-setup';
import { buildIfStale } from './build';

/** The database setup, then `npm run build`'s outputs (where stale), once, before the tiers that run them. */
export default async function globalSetupWithBuild(): Promise<void> {
  buildIfStale();
  await globalSetup();
}
