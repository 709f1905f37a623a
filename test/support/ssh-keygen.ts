import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GeneratedKey {
  /** The .pub file's line, as a user would paste it. */
  publicKey: string;
  /** The private key file's content (OpenSSH format). */
  privateKey: string;
  /** What `ssh-keygen -lf` prints as the fingerprint (`SHA256:...`). */
  fingerprint: string;
  bits: number;
}

/** A fresh key pair from OpenSSH's own ssh-keygen (openssh-client), so expectations come from the reference tool. */
export function sshKeygen(
  type: 'ed25519' | 'ecdsa' | 'rsa' | 'dsa',
  opts: { bits?: number; comment?: string; passphrase?: string } = {},
): GeneratedKey {
  const dir = mkdtempSync(join(tmpdir(), 'sshkeys-test-'));
  try {
    const file = join(dir, 'key');
    const args = ['-q', '-t', type, '-N', opts.passphrase ?? '', '-C', opts.comment ?? 'test@example', '-f', file];
    if (opts.bits) args.push('-b', String(opts.bits));
    execFileSync('ssh-keygen', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    // `-lf` prints "<bits> <fingerprint> <comment> (<TYPE>)".
    const [bits, fingerprint] = execFileSync('ssh-keygen', ['-lf', `${file}.pub`])
      .toString()
      .trim()
      .split(' ');
    return {
      publicKey: readFileSync(`${file}.pub`, 'utf8').trim(),
      privateKey: readFileSync(file, 'utf8'),
      fingerprint: fingerprint!,
      bits: Number(bits),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * An `ssh-rsa` public key line with a random odd modulus of exactly `bits` bits: sshpk parses public
 * keys only and never checks that the modulus is a product of two primes, so this stands in for
 * ssh-keygen where generating the key would take minutes (16,384 bits) or is impossible (over 16,384).
 */
export function rsaKeyLine(bits: number, comment = 'big@host'): string {
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const n = randomBytes(Math.ceil(bits / 8));
  const topBits = bits % 8 || 8;
  n[0] = (n[0]! & ((1 << topBits) - 1)) | (1 << (topBits - 1));
  n[n.length - 1]! |= 1;
  const mpint = n[0] & 0x80 ? Buffer.concat([Buffer.from([0]), n]) : n;
  const blob = Buffer.concat([field(Buffer.from('ssh-rsa')), field(Buffer.from([0x01, 0x00, 0x01])), field(mpint)]);
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}
