#!/usr/bin/env node
// `npm run build`: the API (TypeScript with the @nestjs/swagger plugin, into dist/) and the web console
// (vite, into dist/web), each only when a source is newer than what was last built: on an unchanged
// tree it does nothing, so `npm start` (prestart) is up within seconds. The API compile is incremental
// (dist/tsconfig.build.tsbuildinfo): only changed files are emitted again.
//   node scripts/build.mjs [--force] [--api] [--watch]
//   --force  clean dist/ and build both            --api  the API only (db:check, openapi)
//   --watch  rebuild the API on change and restart `node dist/src/main.js` after each good build
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(ROOT, 'package.json'));
const args = new Set(process.argv.slice(2));

/** What each part is built from, and the file whose age says when it was last built. */
const PARTS = {
  api: {
    stamp: 'dist/.api-built',
    sources: ['src', 'migrations', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'],
  },
  web: {
    stamp: 'dist/web/index.html',
    sources: ['web', 'sdk/index.ts', 'sdk/schema.d.ts', 'openapi.json', 'package-lock.json'],
  },
};

function newestMtime(path) {
  // web/ is a workspace: its node_modules (if any) is no source.
  if (!existsSync(path) || path.endsWith('/node_modules')) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newestMtime(join(path, entry))));
}

/** Why `part` must be built (its stamp missing or older than a source), or null. */
function staleness({ stamp, sources }) {
  const file = join(ROOT, stamp);
  if (!existsSync(file)) return `${stamp} is missing`;
  const newest = Math.max(...sources.map((s) => newestMtime(join(ROOT, s))));
  return statSync(file).mtimeMs >= newest ? null : `${stamp} is older than its sources`;
}

const SWAGGER_PLUGIN_OPTIONS = { classValidatorShim: true, introspectComments: true };

function tsConfig(ts) {
  const path = join(ROOT, 'tsconfig.build.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(path, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail(ts, [d]) });
  if (parsed.errors.length) fail(ts, parsed.errors);
  return parsed;
}

function fail(ts, diagnostics) {
  process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, formatHost(ts)));
  process.exit(1);
}

const formatHost = (ts) => ({
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => ROOT,
  getNewLine: () => '\n',
});

/** The swagger plugin's transformer for a program: DTO properties into the OpenAPI metadata. */
function transformers(program) {
  const plugin = require('@nestjs/swagger/plugin');
  return { before: [plugin.before(SWAGGER_PLUGIN_OPTIONS, program)] };
}

/** tsc -p tsconfig.build.json, incremental, with the swagger plugin; fails on any type error. */
function buildApi() {
  const ts = require('typescript');
  const config = tsConfig(ts);
  // tsc trusts its build info: without the outputs it would emit nothing.
  if (!existsSync(join(ROOT, 'dist/src/main.js'))) rmSync(join(ROOT, 'dist/tsconfig.build.tsbuildinfo'), { force: true });
  const builder = ts.createIncrementalProgram({
    rootNames: config.fileNames,
    options: config.options,
    configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(config),
    projectReferences: config.projectReferences,
  });
  const diagnostics = [
    ...builder.getConfigFileParsingDiagnostics(),
    ...builder.getOptionsDiagnostics(),
    ...builder.getGlobalDiagnostics(),
    ...builder.getSyntacticDiagnostics(),
    ...builder.getSemanticDiagnostics(),
  ];
  if (diagnostics.some((d) => d.category === ts.DiagnosticCategory.Error)) fail(ts, diagnostics);
  const emitted = builder.emit(undefined, undefined, undefined, false, transformers(builder.getProgram()));
  if (emitted.diagnostics.length) fail(ts, emitted.diagnostics);
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  writeFileSync(join(ROOT, PARTS.api.stamp), `${new Date().toISOString()}\n`);
}

/** The console workspace's own build (type check, then vite into dist/web). */
function buildWeb() {
  execFileSync('npm', ['run', 'build:web', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

/** `npm run start:dev`: the API rebuilt on every change, and restarted after each good build. */
function watch() {
  const ts = require('typescript');
  let server;
  const restart = () => {
    server?.kill('SIGTERM');
    server = spawn(process.execPath, ['--env-file=node-options.env', 'dist/src/main.js'], { cwd: ROOT, stdio: 'inherit' });
  };
  const host = ts.createWatchCompilerHost(
    join(ROOT, 'tsconfig.build.json'),
    {},
    ts.sys,
    ts.createEmitAndSemanticDiagnosticsBuilderProgram,
    (d) => process.stderr.write(ts.formatDiagnosticsWithColorAndContext([d], formatHost(ts))),
    (d) => console.log(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
  );
  host.afterProgramCreate = (builder) => {
    const errors = [...builder.getSyntacticDiagnostics(), ...builder.getSemanticDiagnostics()].filter(
      (d) => d.category === ts.DiagnosticCategory.Error,
    );
    if (errors.length) return process.stderr.write(ts.formatDiagnosticsWithColorAndContext(errors, formatHost(ts)));
    builder.emit(undefined, undefined, undefined, false, transformers(builder.getProgram()));
    restart();
  };
  ts.createWatchProgram(host);
}

if (args.has('--watch')) {
  watch();
} else {
  const force = args.has('--force');
  // A clean build: outputs of deleted sources go too.
  if (force) rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
  for (const [name, part] of Object.entries(PARTS)) {
    if (name === 'web' && args.has('--api')) continue;
    const why = force ? 'forced' : staleness(part);
    if (!why) {
      console.log(`build: ${name} is up to date`);
      continue;
    }
    const t0 = Date.now();
    if (name === 'api') buildApi();
    else buildWeb();
    console.log(`build: ${name} built in ${((Date.now() - t0) / 1000).toFixed(1)} s (${why})`);
  }
}
