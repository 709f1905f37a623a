import { describe, expect, it } from '@jest/globals';
import { jsonShapeProblem } from './json-shape';

const limits = { maxDepth: 32, maxMembers: 1000 };
const codeOf = (value: unknown, l = limits) => jsonShapeProblem(value, l)?.definition.code ?? null;

describe('jsonShapeProblem', () => {
  it('accepts ordinary bodies', () => {
    expect(codeOf({ name: 'web-1', ram_mb: 1024, ssh_key_ids: ['a', 'b'], metadata: { env: 'prod', tags: [1, 2] } })).toBeNull();
  });

  it('refuses nesting past the limit without recursing, and stops early', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(codeOf({ a: deep }, { maxDepth: 32, maxMembers: 1_000_000 })).toBe('request.too_deep');
    let ok: unknown = 0;
    for (let i = 0; i < 31; i++) ok = [ok];
    expect(codeOf({ a: ok })).toBeNull();
  });

  it('counts keys and elements together, at every depth, and refuses past the limit', () => {
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 1]));
    expect(codeOf(keys(1000))).toBeNull();
    expect(codeOf(keys(1001))).toBe('request.too_many_members');
    // 1 key + 999 elements = 1000 members.
    expect(codeOf({ a: Array.from({ length: 999 }, () => 0) })).toBeNull();
    expect(codeOf({ a: Array.from({ length: 1000 }, () => 0) })).toBe('request.too_many_members');
    expect(jsonShapeProblem(keys(5), { maxDepth: 32, maxMembers: 4 })?.extensions).toEqual({ max_members: 4 });
  });

  it('handles a 130,000-element array (the old reserved-key check overflowed the stack there)', () => {
    const big = { a: Array.from({ length: 130_000 }, () => 1) };
    const started = performance.now();
    expect(codeOf(big)).toBe('request.too_many_members');
    expect(codeOf(big, { maxDepth: 32, maxMembers: 1_000_000 })).toBeNull();
    // Not a timing assertion on the machine, a sanity bound far above what it takes (about 10 ms).
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('refuses reserved keys anywhere, but not the same words as values or array positions', () => {
    expect(codeOf(JSON.parse('{"a":{"__proto__":{"x":1}}}'))).toBe('request.reserved_key');
    expect(codeOf({ metadata: { nested: [{ constructor: 1 }] } })).toBe('request.reserved_key');
    expect(codeOf({ prototype: 1 })).toBe('request.reserved_key');
    expect(codeOf({ a: ['__proto__', 'constructor'] })).toBeNull();
  });

  it('names where text PostgreSQL cannot store is, in values and keys', () => {
    expect(jsonShapeProblem({ a: { b: ['ok', 'no\u0000'] } }, limits)?.extensions).toEqual({ field: 'a.b[1]' });
    expect(jsonShapeProblem({ metadata: { ['\ud800']: 1 } }, limits)?.extensions).toEqual({ field: 'a key of metadata' });
    expect(jsonShapeProblem({ ['x\u0000']: 1 }, limits)?.extensions).toEqual({ field: 'a key' });
  });
});
