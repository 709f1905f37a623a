import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsString, Matches, MaxLength, MinLength } from 'class-validator';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class RegisterDto {
  /** 3-32 characters: lowercase letters, digits, `_`, `-`, `.`. */
  @Transform(trim)
  @IsString()
  @MinLength(3)
  @MaxLength(32)
  @Matches(/^[a-z0-9][a-z0-9_.-]*$/, {
    message: 'username may contain lowercase letters, digits, _, - and . and must start with a letter or digit',
  })
  @ApiProperty({ example: 'ada', pattern: '^[a-z0-9][a-z0-9_.-]*$', minLength: 3, maxLength: 32 })
  username: string;

  @Transform(trim)
  @IsEmail()
  @MaxLength(254)
  @ApiProperty({ example: 'ada@example.com', format: 'email', maxLength: 254 })
  email: string;

  @IsString()
  @MinLength(8)
  @MaxLength(128)
  @ApiProperty({ example: 'correct horse battery', minLength: 8, maxLength: 128, format: 'password' })
  password: string;
}

/** The answer to every registration that passes validation, whether or not the email was new. */
export class RegisterAcceptedDto {
  @ApiProperty({ enum: ['accepted'], example: 'accepted' })
  status: 'accepted';

  @ApiProperty({ example: 'If this email was not registered yet, the account now exists: sign in with it.' })
  message: string;
}

export class ChangePasswordDto {
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @ApiProperty({ example: 'correct horse battery', format: 'password', minLength: 1, maxLength: 128 })
  current_password: string;

  /** The same rules as at registration. */
  @IsString()
  @MinLength(8)
  @MaxLength(128)
  @ApiProperty({ example: 'staple battery horse correct', minLength: 8, maxLength: 128, format: 'password' })
  new_password: string;
}

export class LoginDto {
  @Transform(trim)
  @IsEmail()
  @MaxLength(254)
  @ApiProperty({ example: 'ada@example.com', format: 'email' })
  email: string;

  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @ApiProperty({ example: 'correct horse battery', format: 'password', minLength: 1, maxLength: 128 })
  password: string;
}

export class TokenResponseDto {
  access_token: string;

  @ApiProperty({ enum: ['bearer'], example: 'bearer' })
  token_type: 'bearer';

  /** Lifetime of the token in seconds. */
  @ApiProperty({ type: 'integer', example: 3600 })
  expires_in: number;
}
