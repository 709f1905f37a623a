import { describe, expect, it } from '@jest/globals';
import { rsaKeyLine, sshKeygen } from '../../../test/support/ssh-keygen';
import { AppError } from '../../common/app-error';
import { parseSshPublicKey, rsaModulusBits } from './ssh-key-parser';

/** Fixed DSA key (ssh-keygen -t dsa; newer OpenSSH releases no longer generate DSA). */
const DSA =
  'ssh-dss AAAAB3NzaC1kc3MAAACBAJxShFqB1pl1j/tORxL9pTncu7ZcxzKDhfWypGCqm1E1pevCR/yUjN5EyQg94HUCCauvW4eGrC5hBCnOAW0ksW/lbj3EmvXykRAutRFANK+pL9TH9Imbf6EcqfY6dqpsU72QedpCwen2wfOl4JzrluNRz8SfKsS/3hhHt4PVPX6rAAAAFQDTwSji27HpsqFZ5ZLSZKZIDNOSNwAAAIBh4G6L+2HW1DyQhPBphXYtZluYCqiWCrqYhh8qYXpBNsROm0uqklBikb6yrT38ngB/R29r+amvjCl98PNtA8wpy0Wq/vrDxgBuS3Xmfr3N/TBZdNvrPMz+wY5HqqxJujTPZYd8YDr4/xNeC9gghoa7ouslJBCt6PKhYONjjYQx3AAAAIA4au1vyLihrOmnWX5EEridezoo6JjjzRkqLH198ESwW8Sap2hWMZmHCwq308mb5z/BIqwXK6tJCuMtT0WU7kmCjKlN7gYa/jc+ShyYAIAjH/3FvfA3dNio7hJYC+wquTT9YT0ZmFLfpjjpfe/H1eDV8uwZYHUSxKt2UqQ9lgZD5Q== me@host';

function codeOf(input: string): string {
  try {
    parseSshPublicKey(input);
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('parseSshPublicKey', () => {
  it.each([
    ['ed25519', undefined, 'ssh-ed25519', 256],
    ['ecdsa', 256, 'ecdsa-sha2-nistp256', 256],
    ['ecdsa', 384, 'ecdsa-sha2-nistp384', 384],
    ['ecdsa', 521, 'ecdsa-sha2-nistp521', 521],
    ['rsa', 2048, 'ssh-rsa', 2048],
    ['rsa', 3072, 'ssh-rsa', 3072],
  ] as const)('accepts %s %s with the fingerprint and size ssh-keygen -lf reports', (type, bits, sshType, size) => {
    const key = sshKeygen(type, { bits, comment: 'ada@laptop' });
    const parsed = parseSshPublicKey(key.publicKey);
    expect(parsed).toEqual({ type: sshType, bits: size, fingerprint: key.fingerprint, publicKey: key.publicKey, comment: 'ada@laptop' });
    expect(parsed.bits).toBe(key.bits);
  });

  it('normalizes: trims, collapses whitespace, keeps no empty comment', () => {
    const key = sshKeygen('ed25519', { comment: 'x' });
    const [type, blob] = key.publicKey.split(' ');
    expect(parseSshPublicKey(`  ${type}\t${blob}   my   laptop \n`)).toMatchObject({
      publicKey: `${type} ${blob} my laptop`,
      comment: 'my laptop',
    });
    expect(parseSshPublicKey(`${type} ${blob}`)).toMatchObject({
      publicKey: `${type} ${blob}`,
      comment: null,
      fingerprint: key.fingerprint,
    });
  });

  it('refuses RSA under 2048 bits', () => {
    expect(codeOf(sshKeygen('rsa', { bits: 1024 }).publicKey)).toBe('ssh_key.too_weak');
  });

  it('accepts RSA up to 16,384 bits and refuses longer keys with ssh_key.too_large, before parsing them', () => {
    for (const bits of [2048, 4095, 8192, 16383, 16384]) {
      const line = rsaKeyLine(bits);
      expect({ bits, declared: rsaModulusBits(line.split(' ')[1]!), parsed: parseSshPublicKey(line).bits }).toEqual({
        bits,
        declared: bits,
        parsed: bits,
      });
    }
    for (const bits of [16385, 17000, 65536, 96000]) {
      const line = rsaKeyLine(bits);
      const started = process.hrtime.bigint();
      expect({ bits, code: codeOf(line) }).toEqual({ bits, code: 'ssh_key.too_large' });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (bits === 96000) expect({ bits, length: line.length, fast: ms < 50 }).toEqual({ bits, length: expect.any(Number), fast: true });
    }
    // A real key: its declared size is the one ssh-keygen reports.
    const real = sshKeygen('rsa', { bits: 3072 });
    expect(rsaModulusBits(real.publicKey.split(' ')[1]!)).toBe(3072);
  });

  it('refuses DSA, security-key and certificate types by name', () => {
    expect(codeOf(DSA)).toBe('ssh_key.unsupported_type');
    expect(codeOf('sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t comment')).toBe('ssh_key.unsupported_type');
    expect(codeOf('ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t')).toBe('ssh_key.unsupported_type');
  });

  it('refuses private keys, plain or passphrase-protected', () => {
    expect(codeOf(sshKeygen('ed25519').privateKey)).toBe('ssh_key.private_key');
    expect(codeOf(sshKeygen('ed25519', { passphrase: 'secret words' }).privateKey)).toBe('ssh_key.private_key');
    expect(codeOf(sshKeygen('rsa', { bits: 2048 }).privateKey)).toBe('ssh_key.private_key');
  });

  it('refuses what is not one valid key', () => {
    const ed = sshKeygen('ed25519').publicKey;
    const [type, blob] = ed.split(' ');
    const rsaBlob = sshKeygen('rsa', { bits: 2048 }).publicKey.split(' ')[1];
    const cases = {
      empty: '   ',
      garbage: 'hello world',
      onlyType: 'ssh-ed25519',
      truncated: `${type} ${blob!.slice(0, 40)}`,
      badBase64: `${type} AAAA$$$$`,
      // The type name must match the blob's own type.
      mismatch: `ssh-rsa ${blob}`,
      mismatch2: `ssh-ed25519 ${rsaBlob}`,
      // Extra bytes inside the base64 would be accepted by a lax parser.
      trailingBytes: `${type} ${Buffer.concat([Buffer.from(blob!, 'base64'), Buffer.from('xx')]).toString('base64')}`,
      twoKeys: `${ed}\n${ed}`,
      controlInComment: `${type} ${blob} a\u0007b`,
      pemPublic: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----',
    };
    for (const [name, input] of Object.entries(cases)) expect([name, codeOf(input)]).toEqual([name, 'ssh_key.invalid']);
  });
});
