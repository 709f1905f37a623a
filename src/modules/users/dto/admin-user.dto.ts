import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { PageQueryDto } from '../../../common/pagination';
import { USER_ROLES, type UserRole } from '../../../common/auth';

const toBool = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);

export class ListUsersQueryDto extends PageQueryDto {
  /** Users whose email or username contains this text, in any letter case (empty: no filter). */
  @IsOptional()
  @IsString()
  @MaxLength(254)
  @ApiPropertyOptional({ maxLength: 254, example: 'alice' })
  q?: string;

  /** Case-insensitive email prefix. */
  @IsOptional()
  @IsString()
  @MaxLength(254)
  email_prefix?: string;

  /** Username prefix, in any letter case. */
  @IsOptional()
  @IsString()
  @MaxLength(32)
  username_prefix?: string;

  @IsOptional()
  @IsIn(USER_ROLES)
  @ApiPropertyOptional({ enum: USER_ROLES, enumName: 'UserRole' })
  role?: UserRole;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  is_active?: boolean;
}

/** Per-user quota overrides: a number sets it (0 = no limit), null returns to the default. */
export class QuotaOverridesDto {
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100_000)
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 0, example: 10 })
  vms?: number | null;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 0, example: 16 })
  cpu_cores?: number | null;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100_000_000)
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 0, example: 32768 })
  ram_mb?: number | null;
}

export class UpdateUserDto {
  @IsOptional()
  @IsIn(USER_ROLES)
  @ApiPropertyOptional({ enum: USER_ROLES, enumName: 'UserRole' })
  role?: UserRole;

  /** false deactivates the account: its tokens stop working at once. */
  @IsOptional()
  @IsBoolean()
  @ApiPropertyOptional({ example: true })
  is_active?: boolean;

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => QuotaOverridesDto)
  quotas?: QuotaOverridesDto;
}
