import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsString, Matches, MaxLength, MinLength } from 'class-validator';
import type { SshKey } from '../entities/ssh-key.entity';
import { SSH_KEY_TYPES, type SshKeyType } from '../ssh-key-parser';

export const SSH_KEY_NAME_MAX = 64;
/** Room for the longest RSA key OpenSSH makes (16384 bits) and a long comment, and for a pasted private key to be recognised. */
export const SSH_PUBLIC_KEY_MAX = 16384;

export class CreateSshKeyDto {
  /** Your label for the key; unique among your keys. Surrounding spaces are trimmed. */
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MinLength(1)
  @MaxLength(SSH_KEY_NAME_MAX)
  @Matches(/^[^\u0000-\u001f\u007f]*$/, { message: 'name must not contain control characters' })
  @ApiProperty({ example: 'laptop', minLength: 1, maxLength: SSH_KEY_NAME_MAX })
  name: string;

  /**
   * One OpenSSH public key line, e.g. the content of `~/.ssh/id_ed25519.pub`. Accepted types:
   * ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of at least 2048 bits.
   */
  @IsString()
  @MaxLength(SSH_PUBLIC_KEY_MAX)
  @ApiProperty({
    example: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIiPnW+i0d6PvPLgcas7pn8eVKRX274wmR4/tRExitzO ada@laptop',
    maxLength: SSH_PUBLIC_KEY_MAX,
  })
  public_key: string;
}

export class SshKeyResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'laptop' })
  name: string;

  @ApiProperty({ enum: SSH_KEY_TYPES, enumName: 'SshKeyType' })
  type: SshKeyType;

  /** Key size in bits (256 for ed25519). */
  @ApiProperty({ type: 'integer', example: 256 })
  bits: number;

  /** SHA-256 fingerprint as `ssh-keygen -lf` prints it. */
  @ApiProperty({ example: 'SHA256:G3sjv3i/g8ZUtcGW4qzHACPT7XF7pcHD1wQsLNydsZ4' })
  fingerprint: string;

  /** The key as stored: one line, type, base64 and the comment if any. */
  @ApiProperty({ example: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIiPnW+i0d6PvPLgcas7pn8eVKRX274wmR4/tRExitzO ada@laptop' })
  public_key: string;

  created_at: Date;
}

export function toSshKeyResponse(k: SshKey): SshKeyResponseDto {
  return {
    id: k.id,
    name: k.name,
    type: k.type,
    bits: k.bits,
    fingerprint: k.fingerprint,
    public_key: k.publicKey,
    created_at: k.createdAt,
  };
}
