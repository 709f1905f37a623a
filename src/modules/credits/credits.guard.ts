import { applyDecorators, CanActivate, ExecutionContext, Injectable, SetMetadata, Type, UseGuards } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import type { AuthUser } from '../../common/auth';
import { CreditsService, VmSpec } from './credits.service';
import { insufficientCredits } from './credits.errors';

function isSpec(body: unknown): body is VmSpec {
  const b = body as Partial<Record<keyof VmSpec, unknown>> | undefined;
  return !!b && [b.ram_mb, b.disk_gb, b.cpu_cores].every((v) => Number.isSafeInteger(v) && (v as number) > 0);
}

/**
 * What a paid route checks before its price: validates the body as the route would and throws what
 * the route would answer for it (400, 403, 409...) when the request could never succeed, so that a
 * caller short of credits is refused for what is wrong with the request, not for its price.
 * Resolves when only the payment stands in the way. Implemented by the feature that owns the route.
 */
export interface PaymentPrecheck {
  precheck(user: AuthUser, body: unknown): Promise<void>;
}

const PRECHECK = Symbol('credits:payment-precheck');

/**
 * A route paid in credits: CreditsGuard prices its body before the handler runs, and when the balance
 * cannot pay, the feature's `precheck` runs first (its refusal wins over the 402).
 */
export const PaidRoute = (precheck: Type<PaymentPrecheck>) => applyDecorators(SetMetadata(PRECHECK, precheck), UseGuards(CreditsGuard));

/**
 * Runs before the create handler: answers 402 (code credits.insufficient, with cost and balance)
 * before any work is done. It is an early answer only; the debit inside the create transaction is
 * the authoritative check. A body that is not a spec is left to validation (400); a spec the balance
 * cannot pay goes through the route's PaymentPrecheck first, so an invalid body answers the same
 * with or without credits.
 */
@Injectable()
export class CreditsGuard implements CanActivate {
  constructor(
    private readonly credits: CreditsService,
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<{ user?: AuthUser; body?: unknown; headers: Record<string, unknown> }>();
    // With an Idempotency-Key the debit itself answers, so a retry replays the first answer
    // instead of being judged against the balance the first request already spent.
    if (!req.user || !isSpec(req.body) || req.headers['idempotency-key'] !== undefined) return true;
    const quota = await this.credits.checkQuota(req.user, req.body);
    if (!quota.sufficient) {
      const precheck = this.reflector.get<Type<PaymentPrecheck> | undefined>(PRECHECK, context.getHandler());
      if (precheck) await this.moduleRef.get(precheck, { strict: false }).precheck(req.user, req.body);
      throw insufficientCredits(quota.cost, quota.balance);
    }
    return true;
  }
}
