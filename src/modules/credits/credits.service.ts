import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Page, mapPage, keysetPage, newestFirst, PageQueryDto } from '../../common/pagination';
import type { AuthUser } from '../../common/auth';
import { EventsService } from '../events/events.service';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { CreditAuditDto } from './dto/credit-adjustment.dto';
import { CreditTransactionResponseDto, toCreditTransactionResponse } from './dto/credit-transaction-response.dto';
import { CreditKind, CreditTransaction } from './entities/credit-transaction.entity';
import { prepared } from '../../database/prepared';
import { CREDIT_ERRORS, insufficientCredits } from './credits.errors';
import { USER_ERRORS } from '../users/users.errors';
import { must } from '../../common/must';

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

/** The largest balance a user may hold (also a CHECK on users.credits, migration CreditsMaxBalance). */
export const MAX_BALANCE = 1_000_000_000;

@Injectable()
export class CreditsService {
  constructor(
    @InjectRepository(CreditTransaction) private readonly ledger: Repository<CreditTransaction>,
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

  async balance(userId: string, manager: EntityManager = this.ledger.manager): Promise<number> {
    const rows: { credits: number }[] = await manager.query(prepared('SELECT credits FROM users WHERE id = $1'), [userId]);
    if (!rows.length) throw USER_ERRORS.error('user.not_found', 'User not found');
    return must(rows[0], 'the user row').credits;
  }

  /** Credits taken from users over all time, per ledger kind (service metrics). */
  async debitedTotals(): Promise<{ kind: CreditKind; credits: number }[]> {
    const rows: { kind: CreditKind; credits: string }[] = await this.ledger.query(
      'SELECT kind, -sum(amount) AS credits FROM credit_transactions WHERE amount < 0 GROUP BY kind',
    );
    return rows.map((r) => ({ kind: r.kind, credits: Number(r.credits) }));
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
    // One statement: the conditional debit and, only if it happened, its ledger row, stamped with
    // clock_timestamp() (after the row lock, not at transaction start like now()) so (created_at, id)
    // order is the order in which balances changed.
    const rows: { balance_after: number; created_at: Date }[] = await manager.query(
      prepared(`WITH moved AS (
         UPDATE users SET credits = credits + $2, updated_at = now()
          WHERE id = $1 AND credits::bigint + $2 BETWEEN 0 AND ${MAX_BALANCE}
          RETURNING credits)
       INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, vm_id, actor_id, created_at)
       SELECT $3::uuid, $1, $2, moved.credits, $4::varchar, $5::varchar, $6::uuid, $7::uuid, clock_timestamp() FROM moved
       RETURNING balance_after, created_at`),
      [entry.userId, entry.amount, id, entry.kind, reason, vmId, actorId],
    );
    if (!rows.length) {
      const balance = await this.balance(entry.userId, manager);
      if (entry.amount > 0) {
        throw CREDIT_ERRORS.error('credits.balance_limit', `A balance may not exceed ${MAX_BALANCE} credits; it is ${balance}`, {
          balance,
          max_balance: MAX_BALANCE,
        });
      }
      // A VM's price is a 402 to its buyer; an admin's deduction past the balance conflicts with the balance.
      if (entry.kind === 'vm_create') {
        throw insufficientCredits(-entry.amount, balance);
      }
      throw CREDIT_ERRORS.error('credits.balance_too_low', `Deducting ${-entry.amount} credits would take the balance of ${balance} below zero`, {
        deduction: -entry.amount,
        balance,
      });
    }
    return {
      id,
      userId: entry.userId,
      amount: entry.amount,
      balanceAfter: must(rows[0], 'the ledger row').balance_after,
      kind: entry.kind,
      reason,
      vmId,
      actorId,
      createdAt: must(rows[0], 'the ledger row').created_at,
    };
  }

  async listTransactions(userId: string, page: PageQueryDto): Promise<Page<CreditTransactionResponseDto>> {
    const qb = this.ledger.createQueryBuilder('t').where('t.user_id = :userId', { userId });
    return mapPage(await keysetPage(qb, newestFirst('t'), page, (e) => [e.createdAt, e.id]), toCreditTransactionResponse);
  }

  /**
   * An admin's adjustment: ledger row (kind admin_adjustment, actor), balance and an admin event
   * naming the target user, in one transaction (with the Idempotency-Key's claim and answer, if any).
   * A deduction below zero answers 409 and changes nothing.
   */
  async adjust(actor: AuthUser, userId: string, amount: number, reason: string, idempotency?: IdempotentRequest): Promise<CreditTransaction> {
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
    const rows: { user_id: string; username: string; balance: number; ledger_sum: number; last_balance_after: number | null }[] =
      await this.dataSource.query(`
        WITH sums AS (SELECT user_id, sum(amount)::bigint AS ledger_sum FROM credit_transactions GROUP BY user_id),
             last AS (SELECT DISTINCT ON (user_id) user_id, balance_after
                        FROM credit_transactions ORDER BY user_id, created_at DESC, id DESC)
        SELECT u.id AS user_id, u.username, u.credits AS balance,
               COALESCE(s.ledger_sum, 0)::int AS ledger_sum, l.balance_after AS last_balance_after
          FROM users u
          LEFT JOIN sums s ON s.user_id = u.id
          LEFT JOIN last l ON l.user_id = u.id
         WHERE u.credits <> COALESCE(s.ledger_sum, 0) OR u.credits IS DISTINCT FROM COALESCE(l.balance_after, 0)`);
    const [{ count }] = await this.dataSource.query('SELECT count(*)::int AS count FROM users');
    return { checked_users: count, mismatches: rows };
  }
}
