import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Scratch TypeScript projects outside the repository, as a client developer would have them: the
 * SDK tarball test and the generator test compile and run code there with the repository's `tsc`.
 */

export const ROOT = process.cwd();
export const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a command without blocking the event loop (the API under test is served by this process),
 * resolving with its exit code and output instead of throwing.
 */
export function run(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Fails with the command's output when it did not exit 0. */
export function check(what: string, result: RunResult): RunResult {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/**
 * The environment for a child `npm`: ours without what `npm test` put there about the repository's
 * own package (npm_package_*, npm_lifecycle_*, npm_config_local_prefix ...), which would make the
 * child act on the repository instead of the scratch project. Registry, cache and proxy settings stay.
 */
export function npmEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(registry|cache|userconfig|globalconfig|proxy|https_proxy|noproxy|strict_ssl|cafile|prefer_offline|offline)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || keep.test(k)) env[k] = v;
  return env;
}

export type Resolution = 'nodenext' | 'bundler';

/**
 * Writes `tsconfig.<resolution>.json` in `dir`: `--strict`, NodeNext (emitting to `out/`, to run)
 * or Bundler resolution (check only). `typeRoots` lets a scratch project with no @types of its own
 * use the repository's @types/node.
 */
export async function writeTsconfig(dir: string, resolution: Resolution, include: string[], typeRoots?: string[]): Promise<string> {
  const file = `tsconfig.${resolution}.json`;
  const compilerOptions = {
    strict: true,
    target: 'ES2022',
    lib: ['ES2023', 'DOM', 'DOM.Iterable'],
    types: ['node'],
    ...(typeRoots ? { typeRoots } : {}),
    // Only the generated and hand-written code is under test, not the libraries' own declarations.
    skipLibCheck: true,
    ...(resolution === 'nodenext'
      ? { module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out', rootDir: '.' }
      : { module: 'esnext', moduleResolution: 'bundler', noEmit: true }),
  };
  await writeFile(join(dir, file), JSON.stringify({ compilerOptions, include }, null, 2));
  return file;
}

/** `{"type":"module"}` package.json, so NodeNext treats the project's .ts files as ES modules. */
export async function writeModulePackage(dir: string, name: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }, null, 2));
}

/** Runs the repository's `tsc -p <tsconfig>` in `dir`; returns its error lines (`file(l,c): error TSxxxx: ...`). */
export async function tscErrors(dir: string, tsconfig: string): Promise<{ errors: string[]; ms: number }> {
  const result = await run(process.execPath, [bin('tsc'), '-p', tsconfig, '--pretty', 'false'], { cwd: dir });
  const errors = result.stdout.split('\n').filter((line) => / error TS\d+/.test(line));
  if (result.code !== 0 && errors.length === 0) throw new Error(`tsc -p ${tsconfig} failed:\n${result.stdout}\n${result.stderr}`);
  return { errors, ms: result.ms };
}

/** Runs a compiled client program with node; it prints one JSON line, which is returned parsed. */
export async function runClient(dir: string, script: string, env: Record<string, string>): Promise<unknown> {
  const result = check(`node ${script}`, await run(process.execPath, [script], { cwd: dir, env: { ...process.env, ...env } }));
  const last = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`node ${script} printed no JSON:\n${result.stdout}\n${result.stderr}`);
  }
}
