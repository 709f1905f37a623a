import { ApiProperty } from '@nestjs/swagger';
import { USER_ROLES, type UserRole } from '../../../common/auth';
import type { User } from '../entities/user.entity';

export class UserResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'ada' })
  username: string;

  @ApiProperty({ example: 'ada@example.com' })
  email: string;

  @ApiProperty({ enum: USER_ROLES, enumName: 'UserRole' })
  role: UserRole;

  /** Current balance in credits (whole numbers, never negative). */
  @ApiProperty({ type: 'integer', example: 100, minimum: 0 })
  credits: number;

  is_active: boolean;

  created_at: Date;

  updated_at: Date;
}

export function toUserResponse(u: User): UserResponseDto {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    role: u.role,
    credits: u.credits,
    is_active: u.isActive,
    created_at: u.createdAt,
    updated_at: u.updatedAt,
  };
}
