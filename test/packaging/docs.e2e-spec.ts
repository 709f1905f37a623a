import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { anchors, fencedBlocks, isExternal, links, slug } from '../support/markdown';

/**
 * The documentation holds together: every relative link in the README and docs/ (and the SDK's and
 * CLI's READMEs) leads to a file of the repository, and every #anchor to a heading of that file. The
 * README's runnable blocks are run by test/multiprocess/readme.e2e-spec.ts.
 */
const ROOT = process.cwd();
const DOCUMENTS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  'sdk/README.md',
  'cli/README.md',
].filter((f) => existsSync(join(ROOT, f)));

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('documentation links', () => {
  it('finds the README, the documents under docs/ and their links', () => {
    expect(DOCUMENTS).toEqual(expect.arrayContaining(['README.md', 'docs/configuration.md', 'docs/architecture.md']));
    expect(links(read('README.md')).filter((l) => l.target.startsWith('docs/')).length).toBeGreaterThan(10);
  });

  it('computes anchors as GitHub does', () => {
    expect(slug('API tokens (for scripts, CI and the SDK)')).toBe('api-tokens-for-scripts-ci-and-the-sdk');
    expect(slug('Scale-out: hosts, placement, draining')).toBe('scale-out-hosts-placement-draining');
    expect(slug('`vmctl` and the SDK_HELPERS')).toBe('vmctl-and-the-sdk_helpers');
    expect([...anchors('# A\n\n```\n# not a heading\n```\n## A\n')]).toEqual(['a', 'a-1']);
  });

  it.each(DOCUMENTS)('every relative link in %s resolves, anchors included', (file) => {
    const broken: string[] = [];
    for (const { target, line } of links(read(file))) {
      if (isExternal(target)) continue;
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
      const where = `${file}:${line} -> ${target}`;
      if (relative(ROOT, join(ROOT, resolved)).startsWith('..')) {
        broken.push(`${where}: outside the repository`);
        continue;
      }
      if (!existsSync(join(ROOT, resolved))) {
        broken.push(`${where}: no such file`);
        continue;
      }
      if (anchor !== undefined) {
        if (statSync(join(ROOT, resolved)).isDirectory() || !resolved.endsWith('.md'))
          broken.push(`${where}: an anchor into a non-Markdown file`);
        else if (!anchors(read(resolved)).has(anchor)) broken.push(`${where}: no heading with that anchor`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('marks every shell block of the README and docs/ as run by the README test (`bash`) or not (`bash skip`)', () => {
    const blocks = DOCUMENTS.filter((f) => f === 'README.md' || f.startsWith('docs/')).flatMap((f) =>
      fencedBlocks(read(f)).map((b) => ({ where: `${f}:${b.line}`, info: b.info })),
    );
    const unmarked = blocks.filter((b) => /^(sh|shell|bash|console|zsh)\b/.test(b.info) && !['bash', 'bash skip'].includes(b.info));
    expect(unmarked).toEqual([]);
    expect(blocks.filter((b) => b.info === 'bash').length).toBeGreaterThanOrEqual(4);
  });
});
