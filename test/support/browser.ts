import { describe } from '@jest/globals';
import { existsSync } from 'node:fs';
import type { LaunchOptions } from 'playwright-core';

/** Debian's chromium (CI installs it in .ci/run); playwright-core drives it and downloads nothing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/run installs it`);

/** `describe` where Chromium exists; elsewhere the block is skipped with one message saying why. */
export function describeInBrowser(name: string, fn: () => void): void {
  if (haveChromium) return describe(name, fn);
  console.warn(`Skipping "${name}": no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  describe.skip(name, fn);
}

/**
 * Headless, and kept off the network (the machine has none): no background updates, sync or QUIC.
 * launch() gives each browser a fresh temporary profile; launchPersistentContext takes its own folder.
 */
export const CHROMIUM_OPTIONS: LaunchOptions = {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};
