import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, npmEnv, ROOT, run, runClient, tscErrors, writeModulePackage, writeTsconfig } from '../support/client-projects';
import { listen } from '../support/sse';
import { createTestApp, TestContext } from '../support/test-app';

interface PackResult {
  name: string;
  version: string;
  filename: string;
  size: number;
  files: { path: string }[];
}

/**
 * `@vm-platform/sdk` as a user gets it: built and packed by npm (`npm pack ./sdk`, whose prepack runs
 * the package's own build), installed from the tarball into a scratch project outside the repository,
 * compiled there under `tsc --strict` with NodeNext and with Bundler resolution, and run against a live API.
 */
describe('SDK package: packed tarball installed into a scratch project (e2e)', () => {
  let ctx: TestContext;
  let baseUrl: string;
  let dir: string;
  let pack: PackResult;
  const project = () => join(dir, 'consumer');

  beforeAll(async () => {
    ctx = await createTestApp({ env: { INITIAL_CREDITS: 100 } });
    baseUrl = await listen(ctx);
    dir = await mkdtemp(join(tmpdir(), 'vmapi-sdk-'));
    const packed = check(
      'npm pack ./sdk',
      await run('npm', ['pack', './sdk', '--json', '--pack-destination', dir], { cwd: ROOT, env: npmEnv() }),
    );
    pack = (JSON.parse(packed.stdout) as PackResult[])[0]!;
    console.log(`sdk: ${pack.filename} ${pack.size} bytes packed (npm pack ${packed.ms} ms)`);
  }, 180_000);
  afterAll(async () => {
    await ctx?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('packs the built ESM entry, its declarations and the README, and no sources, versioned as the API', async () => {
    const spec = JSON.parse(await readFile(join(ROOT, 'openapi.json'), 'utf8')) as { info: { version: string } };
    expect(pack.name).toBe('@vm-platform/sdk');
    expect(pack.version).toBe(spec.info.version);
    expect(pack.files.map((f) => f.path).sort()).toEqual([
      'README.md',
      'dist/index.d.ts',
      'dist/index.js',
      'dist/schema.d.ts',
      'package.json',
    ]);
  });

  it('installs from the tarball, compiles under --strict with NodeNext and Bundler resolution, and drives the API', async () => {
    await writeModulePackage(project(), 'sdk-consumer');
    // openapi-fetch comes with it (a dependency); npm takes it from its cache when it has it.
    const installed = check(
      'npm install <tarball>',
      await run('npm', ['install', join(dir, pack.filename), '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
        cwd: project(),
        env: npmEnv(),
      }),
    );
    const manifest = JSON.parse(await readFile(join(project(), 'node_modules/@vm-platform/sdk/package.json'), 'utf8')) as {
      version: string;
    };
    expect(manifest.version).toBe(pack.version);
    await readFile(join(project(), 'node_modules/openapi-fetch/package.json'));

    await mkdir(join(project(), 'src'));
    await copyFile(join(ROOT, 'test/clients/sdk-consumer.ts'), join(project(), 'src/consumer.ts'));
    // The documented examples (SDK README, docs/) must compile too (they are not run: they name their own server).
    const examples: string[] = [];
    for (const readme of ['sdk/README.md', 'docs/api.md', 'docs/automation.md']) {
      for (const [, code] of (await readFile(join(ROOT, readme), 'utf8')).matchAll(/```ts\n([\s\S]*?)```/g)) {
        if (code!.includes("from '@vm-platform/sdk'")) examples.push(code!);
      }
    }
    expect(examples).toHaveLength(4);
    for (const [i, code] of examples.entries()) await writeFile(join(project(), `src/readme-example-${i}.ts`), code);
    const typeRoots = [join(ROOT, 'node_modules/@types')];
    const nodenext = await tscErrors(project(), await writeTsconfig(project(), 'nodenext', ['src'], typeRoots));
    const bundler = await tscErrors(project(), await writeTsconfig(project(), 'bundler', ['src'], typeRoots));
    console.log(`sdk consumer: npm install ${installed.ms} ms, tsc NodeNext ${nodenext.ms} ms, Bundler ${bundler.ms} ms`);
    expect({ nodenext: nodenext.errors, bundler: bundler.errors }).toEqual({ nodenext: [], bundler: [] });

    const report = await runClient(project(), 'out/src/consumer.js', { API_URL: baseUrl, CONSUMER_TAG: 'tarball' });
    expect(report).toEqual({
      register: 202,
      login: 200,
      create: { status: 202, vm_status: 'provisioning', name: 'tarball-vm' },
      refusal: { status: 402, code: 'credits.insufficient', cost: 1370, balance: 66 },
    });
  }, 240_000);
});
