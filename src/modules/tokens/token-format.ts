import { createHash, randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API token secrets: `vmp_` + 30 random base62 characters + a 6-character base62 CRC32 of those 30,
 * the layout of GitHub's `ghp_` tokens. The prefix lets secret scanners find leaked tokens, and the
 * checksum lets them (and the API, before any database read) tell a real-looking token from a typo
 * or a random string without asking us. 30 base62 characters carry 178 bits of randomness.
 */
export const TOKEN_PREFIX = 'vmp_';
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 30;
const CHECKSUM_LENGTH = 6;
export const TOKEN_LENGTH = TOKEN_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;
/** What a scanner can match: the prefix and 36 base62 characters at a word boundary. */
export const TOKEN_PATTERN = /\bvmp_[0-9A-Za-z]{36}\b/;
const SHAPE = /^vmp_[0-9A-Za-z]{36}$/;

/** `value` (a CRC32, below 62^6) in base62, left-padded with zeros to 6 characters. */
function base62(value: number): string {
  let out = '';
  for (let v = value; v > 0; v = Math.floor(v / 62)) out = ALPHABET[v % 62] + out;
  return out.padStart(CHECKSUM_LENGTH, '0');
}

export function tokenChecksum(random: string): string {
  return base62(crc32(random));
}

/** A new secret (crypto.randomInt: uniform over the alphabet, no modulo bias). */
export function generateToken(): string {
  let random = '';
  for (let i = 0; i < RANDOM_LENGTH; i++) random += ALPHABET[randomInt(ALPHABET.length)];
  return TOKEN_PREFIX + random + tokenChecksum(random);
}

/** Whether `token` has the shape and a matching checksum: what a secret scanner checks offline. */
export function isWellFormedToken(token: string): boolean {
  if (!SHAPE.test(token)) return false;
  const random = token.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + RANDOM_LENGTH);
  return token.slice(-CHECKSUM_LENGTH) === tokenChecksum(random);
}

/** Whether a bearer credential is meant as an API token (else it is a login JWT). */
export function looksLikeApiToken(credential: string): boolean {
  return credential.startsWith(TOKEN_PREFIX);
}

/** What is stored: the SHA-256 of the whole secret, hex (the secret has 178 random bits: no salt or slow hash needed). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
