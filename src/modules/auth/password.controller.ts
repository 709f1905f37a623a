import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { USER_ERRORS } from '../users/users.errors';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../common/auth';
import { AuthService } from './auth.service';
import { ChangePasswordDto, TokenResponseDto } from './dto/auth.dto';

/** The caller's own password: under /users/me, served by auth (it hashes passwords and issues tokens). */
@ApiTags('users')
@Controller('users/me')
export class PasswordController {
  constructor(private readonly auth: AuthService) {}

  @Post('password')
  @RequireScope('login')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'changePassword',
    summary: 'Change your password',
    description:
      'Needs the current password (403 `user.wrong_password` otherwise; attempts are limited per user and per client ' +
      'address like logins). Every token of yours issued before, this one included, stops working at once in every ' +
      'API process and your open event streams end; the answer carries a fresh token. API tokens are not affected.',
  })
  @ApiOkResponse({ type: TokenResponseDto, description: 'A fresh bearer token (the one used for this request no longer works)' })
  @ApiAuth(USER_ERRORS.of('user.wrong_password'))
  changePassword(@CurrentUser() caller: AuthUser, @Body() dto: ChangePasswordDto, @Req() req: FastifyRequest): Promise<TokenResponseDto> {
    return this.auth.changePassword(caller, dto, req.ip);
  }
}
