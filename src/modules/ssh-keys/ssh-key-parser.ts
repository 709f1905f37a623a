import sshpk from 'sshpk';
import { SSH_KEY_ERRORS } from './ssh-keys.errors';

/** OpenSSH key type names this platform installs in guests. */
export const SSH_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** RSA keys shorter than this are refused (NIST SP 800-131A; OpenSSH itself refuses < 1024). */
export const RSA_MIN_BITS = 2048;
/** RSA keys longer than this are refused: OpenSSH (SSH_RSA_MAXIMUM_MODULUS_SIZE) will not use them. */
export const RSA_MAX_BITS = 16384;

/**
 * Key types OpenSSH knows that we refuse by name: DSA (deprecated, disabled by default since OpenSSH 7.0),
 * FIDO security-key types (need a hardware token at login; not installed by this platform), certificates.
 */
const KNOWN_UNSUPPORTED = new Set(['ssh-dss', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'ssh-ed448']);
const CERT_SUFFIX = '-cert-v01@openssh.com';

export interface ParsedSshKey {
  type: SshKeyType;
  bits: number;
  /** `SHA256:<base64 without padding>`, exactly as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** One normalized line: `<type> <base64>[ <comment>]`, comment whitespace collapsed to single spaces. */
  publicKey: string;
  comment: string | null;
}

const invalid = (detail: string) => SSH_KEY_ERRORS.error('ssh_key.invalid', detail);

/**
 * The modulus size an `ssh-rsa` blob declares (string type, mpint e, mpint n; RFC 4253 section 6.6),
 * read from the length fields without parsing the numbers; null if the blob is not shaped so (the
 * full parse then says why).
 */
export function rsaModulusBits(base64Blob: string): number | null {
  const blob = Buffer.from(base64Blob, 'base64');
  let at = 0;
  const field = (): Buffer | null => {
    if (at + 4 > blob.length) return null;
    const len = blob.readUInt32BE(at);
    if (at + 4 + len > blob.length) return null;
    const value = blob.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return value;
  };
  const type = field();
  if (!type || type.toString('latin1') !== 'ssh-rsa' || !field()) return null;
  const n = field();
  if (!n) return null;
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  return i === n.length ? 0 : (n.length - i - 1) * 8 + (32 - Math.clz32(n[i] ?? 0));
}

const tooLarge = (bits: number) =>
  SSH_KEY_ERRORS.error(
    'ssh_key.too_large',
    `RSA keys may have at most ${RSA_MAX_BITS} bits (OpenSSH refuses longer ones); this one has ${bits}`,
  );

/** A private key (even encrypted) was pasted: sshpk either parses it or says it needs a passphrase. */
function looksPrivate(text: string): boolean {
  try {
    sshpk.parsePrivateKey(text, 'auto');
    return true;
  } catch (err) {
    return (err as Error)?.name === 'KeyEncryptedError';
  }
}

/**
 * Parses one OpenSSH public key line (the content of `id_ed25519.pub`) with sshpk, and refuses what
 * should not reach a guest's authorized_keys, each with its own code: not a key (`ssh_key.invalid`),
 * a private key (`ssh_key.private_key`), a type we do not install (`ssh_key.unsupported_type`),
 * RSA under 2048 bits (`ssh_key.too_weak`) or over 16,384 (`ssh_key.too_large`).
 */
export function parseSshPublicKey(input: string): ParsedSshKey {
  const text = input.trim();
  if (!text) throw invalid('public_key is empty');
  // Checked first, from the length fields alone: a huge key is refused before any parse of it.
  const [first, second] = text.split(/[ \t]+/, 2);
  const declaredBits = first === 'ssh-rsa' && second ? rsaModulusBits(second) : null;
  if (declaredBits !== null && declaredBits > RSA_MAX_BITS) throw tooLarge(declaredBits);
  if (looksPrivate(text)) {
    throw SSH_KEY_ERRORS.error(
      'ssh_key.private_key',
      'This is a private key: paste the public key (the .pub file) and keep the private key secret',
    );
  }
  // authorized_keys takes one key per line: a second line would be a second key (or an injected option).
  if (text.includes('\n') || text.includes('\r'))
    throw invalid('public_key must be one line in OpenSSH format, e.g. the content of ~/.ssh/id_ed25519.pub');
  const parts = text.split(/[ \t]+/);
  const declared = parts[0] ?? '';
  if (KNOWN_UNSUPPORTED.has(declared) || declared.endsWith(CERT_SUFFIX)) {
    throw SSH_KEY_ERRORS.error('ssh_key.unsupported_type', `Key type ${declared} is not supported; use one of ${SSH_KEY_TYPES.join(', ')}`);
  }
  if (parts.length < 2) throw invalid('public_key must be "<type> <base64 key> [comment]" in OpenSSH format');
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(`${declared} ${parts[1] ?? ''}`, 'ssh');
  } catch {
    throw invalid('public_key is not a valid OpenSSH public key');
  }
  // sshpk re-encodes what it read: anything but the exact same type and blob means the input carried
  // more (or other) than one key, e.g. trailing bytes inside the base64.
  const [type = '', blob] = key.toString('ssh').split(' ');
  if (type !== declared || blob !== parts[1]) throw invalid('public_key is not a canonical OpenSSH public key');
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    throw SSH_KEY_ERRORS.error('ssh_key.unsupported_type', `Key type ${type} is not supported; use one of ${SSH_KEY_TYPES.join(', ')}`);
  }
  if (key.type === 'rsa' && key.size > RSA_MAX_BITS) throw tooLarge(key.size);
  if (key.type === 'rsa' && key.size < RSA_MIN_BITS) {
    throw SSH_KEY_ERRORS.error('ssh_key.too_weak', `RSA keys need at least ${RSA_MIN_BITS} bits; this one has ${key.size}`);
  }
  const comment = parts.slice(2).join(' ') || null;
  // Control characters have no place in a comment that ends up in a guest's authorized_keys.
  if (comment && [...comment].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw invalid('The key comment contains control characters');
  }
  return {
    type: type as SshKeyType,
    bits: key.size,
    fingerprint: key.fingerprint('sha256').toString(),
    publicKey: comment ? `${type} ${blob} ${comment}` : `${type} ${blob}`,
    comment,
  };
}
