import { describe, expect, it } from '@jest/globals';
import { crc32 } from 'node:zlib';
import { generateToken, hashToken, isWellFormedToken, TOKEN_LENGTH, TOKEN_PATTERN, tokenChecksum } from './token-format';

describe('API token format', () => {
  it('is vmp_ + 30 base62 + a 6-character base62 CRC32 of the random part', () => {
    const token = generateToken();
    expect(token).toMatch(/^vmp_[0-9A-Za-z]{36}$/);
    expect(token).toHaveLength(TOKEN_LENGTH);
    expect(TOKEN_PATTERN.test(`leaked in a log: ${token}.`)).toBe(true);
    // The checksum decodes back to the CRC32 of the 30 random characters.
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    const decoded = [...token.slice(-6)].reduce((n, c) => n * 62 + alphabet.indexOf(c), 0);
    expect(decoded).toBe(crc32(token.slice(4, 34)));
    expect(isWellFormedToken(token)).toBe(true);
  });

  it('pads small checksums and encodes known values', () => {
    // Fixed vectors: a change of alphabet or byte order would break tokens already handed out.
    expect(tokenChecksum('')).toBe('000000');
    expect(crc32('a')).toBe(0xe8b7be43);
    expect(tokenChecksum('a')).toBe('4GEHKN');
    expect(tokenChecksum('The quick brown fox jumps over')).toHaveLength(6);
  });

  it('tells a mistyped or forged token from a real one', () => {
    const token = generateToken();
    // Every single-character substitution in the random part or the checksum is caught (CRC32 detects all of them).
    for (let i = 4; i < token.length; i++) {
      const c = token[i] === 'a' ? 'b' : 'a';
      expect(isWellFormedToken(token.slice(0, i) + c + token.slice(i + 1))).toBe(false);
    }
    expect(isWellFormedToken(token.slice(0, -1))).toBe(false);
    expect(isWellFormedToken(token + 'x')).toBe(false);
    expect(isWellFormedToken('ghp_' + token.slice(4))).toBe(false);
    expect(isWellFormedToken(token.replace(/[A-Za-z0-9]$/, '-'))).toBe(false);
  });

  it('is random: no repeats and every alphabet character used', () => {
    const tokens = Array.from({ length: 2000 }, generateToken);
    expect(new Set(tokens).size).toBe(tokens.length);
    const used = new Set(tokens.flatMap((t) => [...t.slice(4, 34)]));
    expect(used.size).toBe(62);
  });

  it('is stored as its SHA-256 in hex, which differs from the secret', () => {
    const token = generateToken();
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(token)).not.toContain(token.slice(4));
    expect(hashToken(token)).toBe(hashToken(token));
  });
});
