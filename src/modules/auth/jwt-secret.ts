import { Injectable, Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import type { Env } from '../../config/env.validation';

/**
 * The signing secret. Outside production a missing JWT_SECRET is replaced by a random one per
 * process (tokens then do not survive a restart), and the log says so.
 */
@Injectable()
export class JwtSecret {
  readonly value: string;
  /**
   * The same secret as a KeyObject, for verifying on every request: given a string, jsonwebtoken
   * first tries (and fails) to parse it as a PEM public key each time, which costs more than the
   * HMAC itself.
   */
  readonly key: KeyObject;

  constructor(config: ConfigService<Env, true>) {
    const configured = config.get('JWT_SECRET', { infer: true });
    if (configured) {
      this.value = configured;
    } else {
      this.value = randomBytes(48).toString('base64url');
      new Logger(JwtSecret.name).warn(
        'JWT_SECRET is not set: using a generated development secret; tokens end with this process. Set JWT_SECRET for anything shared.',
      );
    }
    this.key = createSecretKey(Buffer.from(this.value, 'utf8'));
  }
}

/** Own module so JwtModule's factory and the strategy share one instance (one secret). */
@Module({ providers: [JwtSecret], exports: [JwtSecret] })
export class JwtSecretModule {}
