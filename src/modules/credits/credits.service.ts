import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { AppError } from '../../common/app-error';
import { Page, paginate, PageQueryDto } from '../../common/pagination';
import { CreditTransactionResponseDto, toCreditTransactionResponse } from './dto/credit-transaction-response.dto';
import { CreditKind, CreditTransaction } from './entities/credit-transaction.entity';

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

@Injectable()
export class CreditsService {
  constructor(@InjectRepository(CreditTransaction) private readonly ledger: Repository<CreditTransaction>) {}

  /** The fixed price of a VM: max(10, ceil(ram_mb/512*5 + disk_gb/10*2 + cpu_cores*10)). */
  calculateCost(spec: VmSpec): number {
    return Math.max(10, Math.ceil((spec.ram_mb / 512) * 5 + (spec.disk_gb / 10) * 2 + spec.cpu_cores * 10));
  }

  /**
   * An early, read-only answer; the authoritative check is the conditional UPDATE in `apply`.
   * Uses the balance the request already read with the caller (AuthUser.credits) when there is one.
   */
  async checkQuota(caller: { id: string; credits?: number }, spec: VmSpec): Promise<Quota> {
    const cost = this.calculateCost(spec);
    const balance = caller.credits ?? (await this.balance(caller.id));
    return { cost, balance, sufficient: balance >= cost, balance_after: balance - cost };
  }

  async balance(userId: string, manager: EntityManager = this.ledger.manager): Promise<number> {
    const rows: { credits: number }[] = await manager.query('SELECT credits FROM users WHERE id = $1', [userId]);
    if (!rows.length) throw new AppError(404, 'user.not_found', 'User not found');
    return rows[0].credits;
  }

  /**
   * Moves a user's balance by `amount` and appends the ledger row, inside the caller's transaction.
   * The conditional UPDATE takes the row lock and refuses to go below zero, so concurrent debits
   * serialize and can never overspend. Returns the ledger row (with balance_after).
   */
  async apply(manager: EntityManager, entry: LedgerEntry): Promise<CreditTransaction> {
    if (!Number.isSafeInteger(entry.amount) || entry.amount === 0) {
      throw new AppError(400, 'credits.invalid_amount', 'Amount must be a non-zero whole number');
    }
    const id = uuidv7();
    const reason = entry.reason ?? null;
    const vmId = entry.vmId ?? null;
    const actorId = entry.actorId ?? null;
    // One statement: the conditional debit and, only if it happened, its ledger row.
    const rows: { balance_after: number; created_at: Date }[] = await manager.query(
      `WITH moved AS (
         UPDATE users SET credits = credits + $2, updated_at = now()
          WHERE id = $1 AND credits + $2 >= 0
          RETURNING credits)
       INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, vm_id, actor_id)
       SELECT $3::uuid, $1, $2, moved.credits, $4::varchar, $5::varchar, $6::uuid, $7::uuid FROM moved
       RETURNING balance_after, created_at`,
      [entry.userId, entry.amount, id, entry.kind, reason, vmId, actorId],
    );
    if (!rows.length) {
      const balance = await this.balance(entry.userId, manager);
      throw new AppError(
        entry.kind === 'vm_create' ? 402 : 409,
        'credits.insufficient',
        `This needs ${-entry.amount} credits and the balance is ${balance}`,
        { cost: -entry.amount, balance },
      );
    }
    return {
      id,
      userId: entry.userId,
      amount: entry.amount,
      balanceAfter: rows[0].balance_after,
      kind: entry.kind,
      reason,
      vmId,
      actorId,
      createdAt: rows[0].created_at,
    };
  }

  async listTransactions(userId: string, page: PageQueryDto): Promise<Page<CreditTransactionResponseDto>> {
    const qb = this.ledger.createQueryBuilder('t').where('t.user_id = :userId', { userId });
    const { items, next_cursor } = await paginate(qb, page);
    return { items: items.map(toCreditTransactionResponse), next_cursor };
  }
}
