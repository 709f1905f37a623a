import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { KeysetFilter, keysetPage, mapPage, NEWEST_FIRST, Page, PageQueryDto } from '../../common/pagination';
import { prepared } from '../../database/prepared';
import { typedQuery, typedQueryOne } from '../../database/typed-query';
import type { CreditMismatchDto } from './dto/credit-adjustment.dto';
import type { CreditKind, CreditTransaction } from './entities/credit-transaction.entity';

/** The largest balance a user may hold (also a CHECK on users.credits, migration CreditsMaxBalance). */
export const MAX_BALANCE = 1_000_000_000;

const LEDGER_COLUMNS = 'id, user_id, amount, balance_after, kind, reason, vm_id, actor_id, created_at';

interface LedgerRow {
  id: string;
  user_id: string;
  amount: number;
  balance_after: number;
  kind: CreditKind;
  reason: string | null;
  vm_id: string | null;
  actor_id: string | null;
  created_at: Date;
}

/** A row of LEDGER_COLUMNS as the entity: the one mapping of this table. */
function ledgerFromRow(r: LedgerRow): CreditTransaction {
  return {
    id: r.id,
    userId: r.user_id,
    amount: r.amount,
    balanceAfter: r.balance_after,
    kind: r.kind,
    reason: r.reason,
    vmId: r.vm_id,
    actorId: r.actor_id,
    createdAt: r.created_at,
  };
}

/** A ledger row to append, with the balance move it records. */
export interface LedgerInsert {
  id: string;
  userId: string;
  amount: number;
  kind: CreditKind;
  reason: string | null;
  vmId: string | null;
  actorId: string | null;
}

/**
 * Credits: the append-only ledger (credit_transactions) and the balance it moves (users.credits),
 * which only this repository reads or writes.
 */
@Injectable()
export class CreditsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** A user's balance, or undefined when there is no such user. */
  async balance(userId: string, m?: EntityManager): Promise<number | undefined> {
    const row = await typedQueryOne<{ credits: number }>(m ?? this.dataSource, prepared('SELECT credits FROM users WHERE id = $1'), [
      userId,
    ]);
    return row?.credits;
  }

  /**
   * One statement: the conditional balance move (within 0..MAX_BALANCE; it takes the user's row
   * lock, so concurrent moves serialize) and, only if it happened, its ledger row, stamped with
   * clock_timestamp() (after the row lock, not at transaction start like now()) so (created_at, id)
   * order is the order in which balances changed. Undefined when the move was refused.
   */
  async move(m: EntityManager, e: LedgerInsert): Promise<{ balanceAfter: number; createdAt: Date } | undefined> {
    const row = await typedQueryOne<{ balance_after: number; created_at: Date }>(
      m,
      prepared(`WITH moved AS (
         UPDATE users SET credits = credits + $2, updated_at = now()
          WHERE id = $1 AND credits::bigint + $2 BETWEEN 0 AND ${MAX_BALANCE}
          RETURNING credits)
       INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, vm_id, actor_id, created_at)
       SELECT $3::uuid, $1, $2, moved.credits, $4::varchar, $5::varchar, $6::uuid, $7::uuid, clock_timestamp() FROM moved
       RETURNING balance_after, created_at`),
      [e.userId, e.amount, e.id, e.kind, e.reason, e.vmId, e.actorId],
    );
    return row && { balanceAfter: row.balance_after, createdAt: row.created_at };
  }

  /** A user's ledger, newest first. */
  async list(userId: string, page: PageQueryDto): Promise<Page<CreditTransaction>> {
    const f = new KeysetFilter().add((p) => `user_id = ${p}`, userId);
    const rows = await keysetPage<LedgerRow>(
      { db: this.dataSource, select: `SELECT ${LEDGER_COLUMNS} FROM credit_transactions`, filter: f },
      NEWEST_FIRST,
      page,
      (r) => [r.created_at, r.id],
    );
    return mapPage(rows, ledgerFromRow);
  }

  /** Credits taken from users over all time, per ledger kind. */
  async debitedTotals(): Promise<{ kind: CreditKind; credits: number }[]> {
    const rows = await typedQuery<{ kind: CreditKind; credits: string }>(
      this.dataSource,
      'SELECT kind, -sum(amount) AS credits FROM credit_transactions WHERE amount < 0 GROUP BY kind',
    );
    return rows.map((r) => ({ kind: r.kind, credits: Number(r.credits) }));
  }

  /**
   * Every user whose balance differs from the sum of their ledger, or from their newest row's
   * balance_after, and how many users there are. One query over the ledger's (user_id, created_at, id) index.
   */
  async audit(): Promise<{ checked: number; mismatches: CreditMismatchDto[] }> {
    const mismatches = await typedQuery<CreditMismatchDto>(
      this.dataSource,
      `WITH sums AS (SELECT user_id, sum(amount)::bigint AS ledger_sum FROM credit_transactions GROUP BY user_id),
             last AS (SELECT DISTINCT ON (user_id) user_id, balance_after
                        FROM credit_transactions ORDER BY user_id, created_at DESC, id DESC)
        SELECT u.id AS user_id, u.username, u.credits AS balance,
               COALESCE(s.ledger_sum, 0)::int AS ledger_sum, l.balance_after AS last_balance_after
          FROM users u
          LEFT JOIN sums s ON s.user_id = u.id
          LEFT JOIN last l ON l.user_id = u.id
         WHERE u.credits <> COALESCE(s.ledger_sum, 0) OR u.credits IS DISTINCT FROM COALESCE(l.balance_after, 0)`,
    );
    const count = await typedQueryOne<{ count: number }>(this.dataSource, 'SELECT count(*)::int AS count FROM users');
    return { checked: count?.count ?? 0, mismatches };
  }
}
