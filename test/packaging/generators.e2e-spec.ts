import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, check, ROOT, run, runClient, tscErrors, writeModulePackage, writeTsconfig } from '../support/client-projects';
import { listen } from '../support/sse';
import { createTestApp, TestContext } from '../support/test-app';

const SPEC = join(ROOT, 'openapi.json');

/**
 * Independent generators from npm (pinned devDependencies), each run on the committed openapi.json as a
 * client developer would run it. Each one's output goes to `<dir>/<generator>/generated/`, beside a
 * short hand-written flow (`test/clients/<generator>.ts`) that uses it.
 */
const GENERATORS: { name: string; pkg: string; generate(out: string, dir: string, baseUrl: string): Promise<[string, string[]]> }[] = [
  {
    name: 'openapi-typescript',
    pkg: 'openapi-typescript',
    // Types only (requests go through openapi-fetch); written as .ts so skipLibCheck does not skip them.
    generate: async (out) => [bin('openapi-typescript'), [SPEC, '-o', join(out, 'schema.ts')]],
  },
  {
    name: 'hey-api',
    pkg: '@hey-api/openapi-ts',
    generate: async (out) => [bin('openapi-ts'), ['-i', SPEC, '-o', out]],
  },
  {
    name: 'swagger-typescript-api',
    pkg: 'swagger-typescript-api',
    generate: async (out) => [bin('swagger-typescript-api'), ['generate', '-p', SPEC, '-o', out, '-n', 'api.ts', '--silent']],
  },
  {
    name: 'orval',
    pkg: 'orval',
    // Its fetch client takes the server's address at generation time (a mutator would be imported
    // without a .js extension, which NodeNext refuses).
    generate: async (out, dir, baseUrl) => {
      const config = join(dir, 'orval.config.cjs');
      const options = {
        vmapi: { input: { target: SPEC }, output: { target: join(out, 'api.ts'), client: 'fetch', mode: 'single', baseUrl } },
      };
      await writeFile(config, `module.exports = ${JSON.stringify(options)};\n`);
      return [bin('orval'), ['--config', config]];
    },
  },
];

interface Outcome {
  version: string;
  generateMs: number;
  nodenext: string[];
  bundler: string[];
}

describe('clients from independent generators compile under --strict and drive the API (e2e)', () => {
  let ctx: TestContext;
  let baseUrl: string;
  let dir: string;
  const outcomes: Record<string, Outcome> = {};

  beforeAll(async () => {
    ctx = await createTestApp({ env: { INITIAL_CREDITS: 100 } });
    baseUrl = await listen(ctx);
    dir = await mkdtemp(join(tmpdir(), 'vmapi-generators-'));
    await writeModulePackage(dir, 'generated-clients');
    // openapi-fetch and @types/node, as the repository has them.
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    for (const g of GENERATORS) {
      const out = join(dir, g.name, 'generated');
      const [file, args] = await g.generate(out, dir, baseUrl);
      const result = check(`${g.name} generator`, await run(file, args, { cwd: dir }));
      const version = (JSON.parse(await readFile(join(ROOT, 'node_modules', g.pkg, 'package.json'), 'utf8')) as { version: string })
        .version;
      outcomes[g.name] = { version, generateMs: result.ms, nodenext: [], bundler: [] };
      await copyFile(join(ROOT, 'test/clients', `${g.name}.ts`), join(dir, g.name, 'flow.ts'));
    }
    // One compilation per resolution mode for all of them; errors are attributed by folder.
    const include = GENERATORS.map((g) => `${g.name}/**/*.ts`);
    const timings: string[] = [];
    for (const resolution of ['nodenext', 'bundler'] as const) {
      const { errors, ms } = await tscErrors(dir, await writeTsconfig(dir, resolution, include));
      timings.push(`tsc ${resolution} ${ms} ms`);
      for (const line of errors) {
        const owner = outcomes[line.split('/')[0]!] ?? (outcomes.other ??= { version: '', generateMs: 0, nodenext: [], bundler: [] });
        owner[resolution].push(line);
      }
    }
    console.log(
      [
        ...Object.entries(outcomes).map(
          ([name, o]) =>
            `${name} ${o.version}: generated in ${o.generateMs} ms, ${o.nodenext.length} errors (NodeNext), ${o.bundler.length} (Bundler)`,
        ),
        timings.join(', '),
      ].join('\n'),
    );
  }, 600_000);
  afterAll(async () => {
    await ctx?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(GENERATORS.map((g) => g.name))(
    '%s: generated client and its flow compile with no error under NodeNext and Bundler resolution',
    (name) => {
      expect(outcomes.other).toBeUndefined();
      expect({ nodenext: outcomes[name]!.nodenext, bundler: outcomes[name]!.bundler }).toEqual({ nodenext: [], bundler: [] });
    },
  );

  it.each(GENERATORS.map((g) => g.name))('%s: register, login, create, get and a 402 against the live API', async (name) => {
    const tag = `gen-${name.replace(/[^a-z]/g, '')}`.slice(0, 30);
    const report = await runClient(dir, `out/${name}/flow.js`, { API_URL: baseUrl, FLOW_TAG: tag });
    expect(report).toEqual({
      register: 202,
      login: 200,
      create: 202,
      get: { status: 200, same_id: true, name: `${tag}-vm` },
      insufficient: { status: 402, code: 'credits.insufficient', cost: 1370 },
    });
  });
});
