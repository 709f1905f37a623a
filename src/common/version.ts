import { readFileSync } from 'node:fs';
import { join } from 'node:path';

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** npm sets npm_package_version for `npm start`/`npm test`; otherwise read package.json. */
export const APP_VERSION = process.env.npm_package_version ?? readVersion();
