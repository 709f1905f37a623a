import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsString, Max, MaxLength, Min, MinLength, NotEquals } from 'class-validator';

export class CreditAdjustmentDto {
  /** Whole credits to add (positive) or deduct (negative); never zero. */
  @IsInt()
  @NotEquals(0)
  @Min(-1_000_000_000)
  @Max(1_000_000_000)
  @ApiProperty({
    type: 'integer',
    example: 50,
    minimum: -1_000_000_000,
    maximum: 1_000_000_000,
    description: 'Non-zero whole credits; negative deducts',
  })
  amount: number;

  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  @ApiProperty({ example: 'Refund for the outage on 2026-11-20', minLength: 1, maxLength: 500 })
  reason: string;
}

export class CreditMismatchDto {
  @ApiProperty({ format: 'uuid' })
  user_id: string;

  username: string;

  /** users.credits */
  @ApiProperty({ type: 'integer' })
  balance: number;

  /** Sum of the user's ledger amounts. */
  @ApiProperty({ type: 'integer' })
  ledger_sum: number;

  @ApiProperty({ type: 'integer', nullable: true })
  last_balance_after: number | null;
}

export class CreditAuditDto {
  @ApiProperty({ type: 'integer' })
  checked_users: number;

  /** Users whose balance disagrees with their ledger; expected empty. */
  @ApiProperty({ type: [CreditMismatchDto] })
  mismatches: CreditMismatchDto[];
}
