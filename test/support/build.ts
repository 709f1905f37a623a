import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `npm run build` produces, for the tiers that run it (multiprocess: `node dist/src/main.js`;
 * browser: the console in dist/web). test/support/global-setup-build.ts builds it once before those
 * tiers' first file; test files only check that it is there and current.
 */

const ROOT = process.cwd();

export function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newestMtime(join(path, entry))));
}

const APP = { output: 'dist/src/main.js', sources: ['src', 'migrations'] };
const WEB = { output: 'dist/web/index.html', sources: ['web', 'sdk', 'openapi.json'] };

/** Why `output` cannot be used as it is (missing, or older than a source), or null. */
function staleness({ output, sources }: { output: string; sources: string[] }): string | null {
  const file = join(ROOT, output);
  if (!existsSync(file)) return `${output} is missing`;
  const newest = Math.max(...sources.map((s) => newestMtime(join(ROOT, s))));
  return statSync(file).mtimeMs >= newest ? null : `${output} is older than its sources (${sources.join(', ')})`;
}

/** Builds the service (nest build) and the console (vite) where missing or stale. Global setup only. */
export function buildIfStale(): void {
  if (staleness(APP)) {
    // nest build empties dist/, the console included: it is rebuilt below.
    execFileSync(join(ROOT, 'node_modules/.bin/nest'), ['build'], { cwd: ROOT, stdio: 'inherit' });
  }
  if (staleness(WEB)) {
    execFileSync(join(ROOT, 'node_modules/.bin/vite'), ['build', '--config', 'web/vite.config.mts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
  }
}

function assertCurrent(what: { output: string; sources: string[] }): void {
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

/** Builds the SDK (sdk/dist) and vmctl (cli/dist) when missing or older than their sources: the CLI runs from its build, as users get it. */
export function ensureCliBuilt(): string {
  const bin = join(ROOT, 'cli/dist/vmctl.js');
  // The workspaces' links (node_modules/@vm-platform/sdk -> sdk) are made by npm install / npm ci.
  if (!existsSync(join(ROOT, 'node_modules/@vm-platform/sdk/package.json'))) {
    throw new Error('node_modules/@vm-platform/sdk is missing: run `npm install` (or `npm ci`) once so npm links the sdk and cli workspaces');
  }
  const sources = Math.max(newestMtime(join(ROOT, 'cli/src')), newestMtime(join(ROOT, 'sdk/index.ts')), newestMtime(join(ROOT, 'sdk/schema.d.ts')));
  if (!existsSync(bin) || statSync(bin).mtimeMs < sources) {
    for (const workspace of ['@vm-platform/sdk', '@vm-platform/cli']) execFileSync('npm', ['run', 'build', '--silent', '-w', workspace], { cwd: ROOT, stdio: 'inherit' });
  }
  return bin;
}
