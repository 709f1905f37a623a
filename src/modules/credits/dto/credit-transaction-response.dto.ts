import { ApiProperty } from '@nestjs/swagger';
import { PageOf } from '../../../common/pagination';
import { CREDIT_KINDS, type CreditKind, type CreditTransaction } from '../entities/credit-transaction.entity';

export class CreditTransactionResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  /** Signed amount: negative for debits. */
  @ApiProperty({ type: 'integer', example: -34 })
  amount: number;

  /** The balance right after this row. */
  @ApiProperty({ type: 'integer', example: 66 })
  balance_after: number;

  @ApiProperty({ enum: CREDIT_KINDS, enumName: 'CreditKind' })
  kind: CreditKind;

  @ApiProperty({ type: String, nullable: true })
  reason: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'uuid' })
  vm_id: string | null;

  /** The admin who made an adjustment. */
  @ApiProperty({ type: String, nullable: true, format: 'uuid' })
  actor_id: string | null;

  created_at: Date;
}

export function toCreditTransactionResponse(t: CreditTransaction): CreditTransactionResponseDto {
  return {
    id: t.id,
    amount: t.amount,
    balance_after: t.balanceAfter,
    kind: t.kind,
    reason: t.reason,
    vm_id: t.vmId,
    actor_id: t.actorId,
    created_at: t.createdAt,
  };
}

/** A page of ledger rows (own and, for admins, any user's). */
export const CreditTransactionPage = PageOf(CreditTransactionResponseDto);
