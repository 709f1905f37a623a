import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Builds the tests need before they start the app the way users run it. */

const ROOT = process.cwd();

export function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newestMtime(join(path, entry))));
}

/** Builds the web console into dist/web (vite) when it is missing or older than its sources. */
export function ensureWebBuilt(): void {
  const index = join(ROOT, 'dist/web/index.html');
  const sources = Math.max(newestMtime(join(ROOT, 'web')), newestMtime(join(ROOT, 'sdk')), newestMtime(join(ROOT, 'openapi.json')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  execFileSync(join(ROOT, 'node_modules/.bin/vite'), ['build', '--config', 'web/vite.config.mts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
}

/** Builds the SDK (sdk/dist) and vmctl (cli/dist) when missing or older than their sources: the CLI runs from its build, as users get it. */
export function ensureCliBuilt(): string {
  const bin = join(ROOT, 'cli/dist/vmctl.js');
  const sources = Math.max(newestMtime(join(ROOT, 'cli/src')), newestMtime(join(ROOT, 'sdk/index.ts')), newestMtime(join(ROOT, 'sdk/schema.d.ts')));
  if (!existsSync(bin) || statSync(bin).mtimeMs < sources) {
    for (const workspace of ['@vm-platform/sdk', '@vm-platform/cli']) execFileSync('npm', ['run', 'build', '--silent', '-w', workspace], { cwd: ROOT, stdio: 'inherit' });
  }
  return bin;
}
