import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `npm run build` produces, for the tiers that run it (multiprocess: `node dist/src/main.js`;
 * browser: the console in dist/web; vmctl in cli/dist). test/support/global-setup-build.ts builds it once before those
 * tiers' first file; test files only check that it is there and current.
 */

const ROOT = process.cwd();

export function newestMtime(path: string): number {
  if (!existsSync(path) || path.endsWith('/node_modules')) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newestMtime(join(path, entry))));
}

// The stamps scripts/build.mjs (`npm run build`) writes, and the sources it compares them with: an
// incremental build leaves unchanged outputs (dist/src/main.js) as old as they were.
const APP = { output: 'dist/.api-built', sources: ['src', 'migrations'] };
// Not all of sdk/: the CLI's build writes sdk/dist after the console's.
const WEB = { output: 'dist/web/index.html', sources: ['web', 'sdk/index.ts', 'sdk/schema.d.ts', 'openapi.json'] };
const CLI = { output: 'cli/dist/vmctl.js', sources: ['cli/src', 'sdk/index.ts', 'sdk/schema.d.ts'] };
/** npm install / npm ci link the workspaces (node_modules/@vm-platform/sdk -> sdk); a node_modules from before has no links. */
const WORKSPACES_LINKED = () => existsSync(join(ROOT, 'node_modules/@vm-platform/sdk/package.json'));

/** Why `output` cannot be used as it is (missing, or older than a source), or null. */
function staleness({ output, sources }: { output: string; sources: string[] }): string | null {
  const file = join(ROOT, output);
  if (!existsSync(file)) return `${output} is missing`;
  const newest = Math.max(...sources.map((s) => newestMtime(join(ROOT, s))));
  return statSync(file).mtimeMs >= newest ? null : `${output} is older than its sources (${sources.join(', ')})`;
}

/** Builds the service and the console where missing or stale (`npm run build`). Global setup only. */
export function buildIfStale(): void {
  if (staleness(APP) || staleness(WEB)) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  // The CLI test says what is missing when the links are (ensureCliBuilt); the other files need no CLI.
  if (staleness(CLI) && WORKSPACES_LINKED()) execFileSync('npm', ['run', 'build:cli', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

function assertCurrent(what: { output: string; sources: string[] }): void {
  if (what === CLI && !WORKSPACES_LINKED())
    throw new Error(
      'node_modules/@vm-platform/sdk is missing: run `npm install` (or `npm ci`) once so npm links the sdk and cli workspaces',
    );
  const problem = staleness(what);
  if (problem) throw new Error(`${problem}: run \`npm run build\`, or the test through its tier (npm run test:<tier> builds first)`);
}

/** Fails unless dist/ holds the service built from the current sources. */
export function ensureBuilt(): void {
  assertCurrent(APP);
}

/** Fails unless dist/web holds the console built from the current sources. */
export function ensureWebBuilt(): void {
  assertCurrent(WEB);
}

/** vmctl as users run it: its bin in cli/dist (built with the SDK's dist). */
export function ensureCliBuilt(): string {
  assertCurrent(CLI);
  return join(ROOT, CLI.output);
}
