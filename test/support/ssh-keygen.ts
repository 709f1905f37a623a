import { execFileSync } from 'node:child_process';
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
export function sshKeygen(type: 'ed25519' | 'ecdsa' | 'rsa' | 'dsa', opts: { bits?: number; comment?: string; passphrase?: string } = {}): GeneratedKey {
  const dir = mkdtempSync(join(tmpdir(), 'sshkeys-test-'));
  try {
    const file = join(dir, 'key');
    const args = ['-q', '-t', type, '-N', opts.passphrase ?? '', '-C', opts.comment ?? 'test@example', '-f', file];
    if (opts.bits) args.push('-b', String(opts.bits));
    execFileSync('ssh-keygen', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    // `-lf` prints "<bits> <fingerprint> <comment> (<TYPE>)".
    const [bits, fingerprint] = execFileSync('ssh-keygen', ['-lf', `${file}.pub`]).toString().trim().split(' ');
    return {
      publicKey: readFileSync(`${file}.pub`, 'utf8').trim(),
      privateKey: readFileSync(file, 'utf8'),
      fingerprint,
      bits: Number(bits),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
