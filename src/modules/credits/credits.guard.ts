import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { AuthUser } from '../../common/auth';
import { CreditsService, VmSpec } from './credits.service';
import { insufficientCredits } from './credits.errors';

function isSpec(body: unknown): body is VmSpec {
  const b = body as Partial<Record<keyof VmSpec, unknown>> | undefined;
  return !!b && [b.ram_mb, b.disk_gb, b.cpu_cores].every((v) => Number.isSafeInteger(v) && (v as number) > 0);
}

/**
 * Runs before the create handler: answers 402 (code credits.insufficient, with cost and balance)
 * before any work is done. It is an early answer only; the debit inside the create transaction is
 * the authoritative check. A body that is not a spec is left to validation (400).
 */
@Injectable()
export class CreditsGuard implements CanActivate {
  constructor(private readonly credits: CreditsService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<{ user?: AuthUser; body?: unknown; headers: Record<string, unknown> }>();
    // With an Idempotency-Key the debit itself answers, so a retry replays the first answer
    // instead of being judged against the balance the first request already spent.
    if (!req.user || !isSpec(req.body) || req.headers['idempotency-key'] !== undefined) return true;
    const quota = await this.credits.checkQuota(req.user, req.body);
    if (!quota.sufficient) {
      throw insufficientCredits(quota.cost, quota.balance);
    }
    return true;
  }
}
