import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Page, mapPage, PageQueryDto } from '../../common/pagination';
import type { AuthUser } from '../../common/auth';
import { EventsService } from '../events/events.service';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { CreditAuditDto } from './dto/credit-adjustment.dto';
import { CreditTransactionResponseDto, toCreditTransactionResponse } from './dto/credit-transaction-response.dto';
import { CreditKind, CreditTransaction, PURCHASES } from './entities/credit-transaction.entity';
import { CreditsRepository, MAX_BALANCE } from './credits.repository';
import { CREDIT_ERRORS, insufficientCredits } from './credits.errors';
import { USER_ERRORS } from '../users/users.errors';

export interface VmSpec {
  ram_mb: number;
  disk_gb: number;
  cpu_cores: number;
}

export interface LedgerEntry {
  userId: string;
  /** Signed whole credits: negative debits, positive grants. */
  amount: number;
  kind: CreditKind;
  reason?: string | null;
  vmId?: string | null;
  actorId?: string | null;
}

export interface Quota {
  cost: number;
  balance: number;
  sufficient: boolean;
  balance_after: number;
}

export { MAX_BALANCE };

@Injectable()
export class CreditsService {
  constructor(
    private readonly ledger: CreditsRepository,
    private readonly dataSource: DataSource,
    private readonly events: EventsService,
  ) {}

  /** The fixed price of a VM: max(10, ceil(ram_mb/512*5 + disk_gb/10*2 + cpu_cores*10)). */
  calculateCost(spec: VmSpec): number {
    return Math.max(10, Math.ceil((spec.ram_mb / 512) * 5 + (spec.disk_gb / 10) * 2 + spec.cpu_cores * 10));
  }

  /** An early, read-only answer; the authoritative check is the conditional UPDATE in `apply`. */
  async checkQuota(caller: { id: string }, spec: VmSpec): Promise<Quota> {
    const cost = this.calculateCost(spec);
    const balance = await this.balance(caller.id);
    return { cost, balance, sufficient: balance >= cost, balance_after: balance - cost };
  }

  async balance(userId: string, manager?: EntityManager): Promise<number> {
    const balance = await this.ledger.balance(userId, manager);
    if (balance === undefined) throw USER_ERRORS.error('user.not_found', 'User not found');
    return balance;
  }

  /** Credits taken from users over all time, per ledger kind (service metrics). */
  debitedTotals(): Promise<{ kind: CreditKind; credits: number }[]> {
    return this.ledger.debitedTotals();
  }

  /**
   * Moves a user's balance by `amount` and appends the ledger row, inside the caller's transaction.
   * The conditional UPDATE takes the row lock and refuses to go below zero, so concurrent debits
   * serialize and can never overspend. Returns the ledger row (with balance_after).
   */
  async apply(manager: EntityManager, entry: LedgerEntry): Promise<CreditTransaction> {
    if (!Number.isSafeInteger(entry.amount) || entry.amount === 0) {
      throw CREDIT_ERRORS.error('credits.invalid_amount', 'Amount must be a non-zero whole number');
    }
    const id = uuidv7();
    const reason = entry.reason ?? null;
    const vmId = entry.vmId ?? null;
    const actorId = entry.actorId ?? null;
    const moved = await this.ledger.move(manager, {
      id,
      userId: entry.userId,
      amount: entry.amount,
      kind: entry.kind,
      reason,
      vmId,
      actorId,
    });
    if (!moved) {
      const balance = await this.balance(entry.userId, manager);
      if (entry.amount > 0) {
        throw CREDIT_ERRORS.error('credits.balance_limit', `A balance may not exceed ${MAX_BALANCE} credits; it is ${balance}`, {
          balance,
          max_balance: MAX_BALANCE,
        });
      }
      // A price is a 402 to its buyer; an admin's deduction past the balance conflicts with the balance.
      const purchase = PURCHASES[entry.kind];
      if (purchase) throw insufficientCredits(-entry.amount, balance, purchase);
      throw CREDIT_ERRORS.error(
        'credits.balance_too_low',
        `Deducting ${-entry.amount} credits would take the balance of ${balance} below zero`,
        {
          deduction: -entry.amount,
          balance,
        },
      );
    }
    return {
      id,
      userId: entry.userId,
      amount: entry.amount,
      balanceAfter: moved.balanceAfter,
      kind: entry.kind,
      reason,
      vmId,
      actorId,
      createdAt: moved.createdAt,
    };
  }

  async listTransactions(userId: string, page: PageQueryDto): Promise<Page<CreditTransactionResponseDto>> {
    return mapPage(await this.ledger.list(userId, page), toCreditTransactionResponse);
  }

  /**
   * An admin's adjustment: ledger row (kind admin_adjustment, actor), balance and an admin event
   * naming the target user, in one transaction (with the Idempotency-Key's claim and answer, if any).
   * A deduction below zero answers 409 and changes nothing.
   */
  async adjust(
    actor: AuthUser,
    userId: string,
    amount: number,
    reason: string,
    idempotency?: IdempotentRequest,
  ): Promise<CreditTransaction> {
    return this.dataSource.transaction(async (m) => {
      await idempotency?.claim(m);
      const row = await this.apply(m, { userId, amount, kind: 'admin_adjustment', reason, actorId: actor.id });
      await this.events.record(m, {
        action: 'admin.credit_adjustment',
        message: `Admin ${actor.username} adjusted credits of user ${userId} by ${amount}: ${reason}`,
        details: { amount, reason, balance_after: row.balanceAfter, ledger_id: row.id, target_user_id: userId },
        userId,
        actorId: actor.id,
      });
      await idempotency?.answer(m, toCreditTransactionResponse(row));
      return row;
    });
  }

  /**
   * Every user whose balance differs from the sum of their ledger, or from their newest row's
   * balance_after (expected: none). One query over the ledger's (user_id, created_at, id) index.
   */
  async audit(): Promise<CreditAuditDto> {
    const { checked, mismatches } = await this.ledger.audit();
    return { checked_users: checked, mismatches };
  }
}
