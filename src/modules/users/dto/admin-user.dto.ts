import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { PageQueryDto } from '../../../common/pagination';
import { QuotaUsageDto } from '../../vms/quotas';
import { VM_STATUSES, type VmStatus } from '../../vms/vm-state';
import { USER_ROLES, type UserRole } from '../../../common/auth';
import { UserResponseDto } from './user-response.dto';

const toBool = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);

export class ListUsersQueryDto extends PageQueryDto {
  /** Case-insensitive email prefix. */
  @IsOptional() @IsString() @MaxLength(254)
  email_prefix?: string;

  @IsOptional() @IsString() @MaxLength(32)
  username_prefix?: string;

  @IsOptional() @IsIn(USER_ROLES)
  @ApiPropertyOptional({ enum: USER_ROLES, enumName: 'UserRole' })
  role?: UserRole;

  @IsOptional() @Transform(toBool) @IsBoolean()
  is_active?: boolean;
}

/** Per-user quota overrides: a number sets it (0 = no limit), null returns to the default. */
export class QuotaOverridesDto {
  @IsOptional() @IsInt() @Min(0) @Max(100_000)
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 0 })
  vms?: number | null;

  @IsOptional() @IsInt() @Min(0) @Max(1_000_000)
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 0 })
  cpu_cores?: number | null;

  @IsOptional() @IsInt() @Min(0) @Max(100_000_000)
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 0 })
  ram_mb?: number | null;
}

export class UpdateUserDto {
  @IsOptional() @IsIn(USER_ROLES)
  @ApiPropertyOptional({ enum: USER_ROLES, enumName: 'UserRole' })
  role?: UserRole;

  /** false deactivates the account: its tokens stop working at once. */
  @IsOptional() @IsBoolean()
  is_active?: boolean;

  @IsOptional() @IsObject() @ValidateNested() @Type(() => QuotaOverridesDto)
  quotas?: QuotaOverridesDto;
}

export class AdminUserDetailDto extends UserResponseDto {
  /** Number of VMs per status (statuses with none are 0). */
  @ApiProperty({
    type: 'object',
    properties: Object.fromEntries(VM_STATUSES.map((s) => [s, { type: 'integer', minimum: 0 }])),
    required: [...VM_STATUSES],
    additionalProperties: false,
    example: Object.fromEntries(VM_STATUSES.map((s) => [s, s === 'running' ? 2 : s === 'stopped' ? 1 : 0])),
  })
  vm_counts: Record<VmStatus, number>;

  /** Effective quota limits and current use. */
  quota: QuotaUsageDto;
}
