import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { KeyedRateLimit } from '../../common/rate-limit';
import type { Env } from '../../config/env.validation';
import type { AuthUser } from '../../common/auth';

/**
 * Limits per authenticated caller, beside the per-address ones (applyRateLimits): requests per minute
 * per user (all their tokens together, whatever address they come from) and per API token. Counted
 * after authentication, in this process's memory like the others; 0 = off.
 */
@Injectable()
export class CallerRateLimits implements OnApplicationShutdown {
  private readonly perUser: KeyedRateLimit;
  private readonly perToken: KeyedRateLimit;

  constructor(config: ConfigService<Env, true>) {
    this.perUser = new KeyedRateLimit(config.get('RATE_LIMIT_PER_USER_PER_MIN', { infer: true }), 'for this user');
    this.perToken = new KeyedRateLimit(config.get('RATE_LIMIT_PER_TOKEN_PER_MIN', { infer: true }), 'with this API token');
  }

  async hit(caller: AuthUser): Promise<void> {
    if (caller.apiTokenId) await this.perToken.hit(caller.apiTokenId);
    await this.perUser.hit(caller.id);
  }

  onApplicationShutdown(): void {
    this.perUser.shutdown();
    this.perToken.shutdown();
  }
}
