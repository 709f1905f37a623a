import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defineErrors, errorCatalog } from './error-catalog';

/** Every non-test TypeScript file under src/. */
function sources(dir = 'src'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [join(dir, e.name)] : [],
  );
}

describe('error catalog', () => {
  it('refuses a code declared twice or not shaped <area>.<reason>', () => {
    defineErrors({ 'catalogspec.once': { status: 400, title: 'Once' } });
    expect(() => defineErrors({ 'catalogspec.once': { status: 409, title: 'Twice' } })).toThrow(/declared twice/);
    expect(() => defineErrors({ 'Bad-Code': { status: 400, title: 'Bad' } })).toThrow(/snake_case/);
    expect(() => defineErrors({ 'catalogspec.opt': { status: 400, title: 'Opt', optional: ['nope'] } })).toThrow(/not an extension/);
  });

  it('holds every code thrown anywhere in src/ (AppError only through a module catalog)', async () => {
    const files = sources();
    // Only the catalog constructs AppError: every other throw goes through a module's ErrorCodes.
    expect(files.filter((f) => /new AppError\(/.test(readFileSync(f, 'utf8'))).map((f) => relative('src', f))).toEqual([
      'common/error-catalog.ts',
    ]);
    for (const f of files.filter((x) => x.endsWith('.errors.ts'))) await import(`../../${f.replace(/\.ts$/, '')}`);
    const thrown = new Set(
      files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/_ERRORS\.(?:error|get)\(\s*'([^']+)'/g)].map((m) => m[1])),
    );
    expect(thrown.size).toBeGreaterThan(40);
    expect([...thrown].filter((code) => !errorCatalog().has(code!))).toEqual([]);
  });

  it('keeps src/common free of feature imports (features register their codes with it)', () => {
    const offenders = sources('src/common').filter((f) => /from '\.\.\/modules\//.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
