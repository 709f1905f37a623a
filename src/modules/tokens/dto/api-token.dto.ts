import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { API_SCOPES, type ApiScope } from '../../../common/auth';
import { PageOf } from '../../../common/pagination';
import type { ApiToken } from '../entities/api-token.entity';

export const TOKEN_NAME_MAX = 64;
export const TOKEN_MAX_DAYS = 3650;

export class CreateApiTokenDto {
  /** Your label for the token (what uses it: "ci-deploy"). Surrounding spaces are trimmed. */
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MinLength(1)
  @MaxLength(TOKEN_NAME_MAX)
  @Matches(/^[^\u0000-\u001f\u007f]*$/, { message: 'name must not contain control characters' })
  @ApiProperty({ example: 'ci-deploy', minLength: 1, maxLength: TOKEN_NAME_MAX })
  name: string;

  /** What the token may do; each must be one you hold (admin:* only for admins). */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(API_SCOPES.length)
  @ArrayUnique()
  @IsIn(API_SCOPES, { each: true })
  @ApiProperty({ enum: API_SCOPES, enumName: 'ApiScope', isArray: true, example: ['vms:read', 'vms:write'] })
  scopes: ApiScope[];

  /** Days until the token stops working; omitted: it never expires (unless created with an API token that does: then no later than it). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(TOKEN_MAX_DAYS)
  @ApiProperty({ type: 'integer', minimum: 1, maximum: TOKEN_MAX_DAYS, example: 90, required: false })
  expires_in_days?: number;
}

export class ApiTokenResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'ci-deploy' })
  name: string;

  @ApiProperty({ enum: API_SCOPES, enumName: 'ApiScope', isArray: true, example: ['vms:read', 'vms:write'] })
  scopes: ApiScope[];

  created_at: Date;

  /** Null: never expires. */
  @ApiProperty({ type: 'string', format: 'date-time', nullable: true })
  expires_at: Date | null;

  /** When the token was last used, to the minute; null: never. */
  @ApiProperty({ type: 'string', format: 'date-time', nullable: true })
  last_used_at: Date | null;
}

export const ApiTokenPage = PageOf(ApiTokenResponseDto);

export class CreatedApiTokenResponseDto extends ApiTokenResponseDto {
  /** The secret, shown this once (only its SHA-256 is stored): send it as `Authorization: Bearer <token>`. */
  @ApiProperty({ example: 'vmp_16C7e42F292c6912E7710c838347Ae4H2Y7G', pattern: '^vmp_[0-9A-Za-z]{36}$' })
  token: string;
}

export function toApiTokenResponse(t: ApiToken): ApiTokenResponseDto {
  return {
    id: t.id,
    name: t.name,
    scopes: t.scopes as ApiScope[],
    created_at: t.createdAt,
    expires_at: t.expiresAt,
    last_used_at: t.lastUsedAt,
  };
}
