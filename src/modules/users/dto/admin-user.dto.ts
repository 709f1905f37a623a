import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { PageQueryDto } from '../../../common/pagination';
import { VM_STATUSES } from '../../vms/vm-state';
import { USER_ROLES, type UserRole } from '../entities/user.entity';
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

export class UpdateUserDto {
  @IsOptional() @IsIn(USER_ROLES)
  @ApiPropertyOptional({ enum: USER_ROLES, enumName: 'UserRole' })
  role?: UserRole;

  /** false deactivates the account: its tokens stop working at once. */
  @IsOptional() @IsBoolean()
  is_active?: boolean;
}

export class AdminUserDetailDto extends UserResponseDto {
  /** Number of VMs per status (statuses with none are 0). */
  @ApiProperty({
    type: 'object',
    properties: Object.fromEntries(VM_STATUSES.map((s) => [s, { type: 'integer' }])),
    example: { running: 2, stopped: 1 },
  })
  vm_counts: Record<string, number>;
}
