import { describe, expect, it } from '@jest/globals';
import { unstorable, unstorableTextAt } from './storable-text';

describe('storable text', () => {
  it('refuses NUL and lone surrogates, accepts paired surrogates and other text', () => {
    expect(unstorable('a\u0000b')).toBe(true);
    expect(unstorable('\ud800')).toBe(true);
    expect(unstorable('x\udc00')).toBe(true);
    expect(unstorable('\udc00\ud800')).toBe(true);
    expect(unstorable('😀 \u202e é \uffff')).toBe(false);
  });

  it('names where the bad text is, in values and keys at any depth', () => {
    expect(unstorableTextAt({ a: { b: ['ok', 'no\u0000'] } }, '')).toBe('a.b[1]');
    expect(unstorableTextAt({ metadata: { ['\ud800']: 1 } }, '')).toBe('a key of metadata');
    expect(unstorableTextAt({ fine: ['x', 1, null, { y: 'z' }] }, '')).toBeNull();
  });
});
