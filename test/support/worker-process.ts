import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

/**
 * `npm run worker` as real child processes, for tests with several hosts. The sources are
 * transpiled (no type check: `npm run typecheck` does that) under the project's .test-build/, so the
 * children resolve node_modules as the built app does.
 */
export interface WorkerBuild {
  entry: string;
  remove(): void;
}

export function buildWorker(): WorkerBuild {
  const root = process.cwd();
  mkdirSync(join(root, '.test-build'), { recursive: true });
  const out = mkdtempSync(join(root, '.test-build', 'worker-'));
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2022,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    esModuleInterop: true,
  };
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, f.name);
      if (f.isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.spec.ts')) {
        const target = join(out, relative(root, path)).replace(/\.ts$/, '.js');
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, ts.transpileModule(readFileSync(path, 'utf8'), { compilerOptions: options, fileName: path }).outputText);
      }
    }
  };
  walk(join(root, 'src'));
  walk(join(root, 'migrations'));
  return { entry: join(out, 'src', 'worker.js'), remove: () => rmSync(out, { recursive: true, force: true }) };
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it printed (for the failure message of a test). */
  output: string[];
  exited: Promise<number | null>;
  /** SIGTERM (graceful) or SIGKILL (a crash), then waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** One worker process with these settings (its own DATA_DIR unless given). */
export function startWorker(build: WorkerBuild, env: Record<string, string | number>): WorkerProcess {
  const dataDir = mkdtempSync(join(tmpdir(), 'vmapi-worker-'));
  const child = spawn(process.execPath, [build.entry], {
    env: { ...process.env, DATA_DIR: dataDir, VAGRANT_WORKDIR: join(dataDir, 'vagrant'), LOG_LEVEL: 'info', ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => output.push(b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
