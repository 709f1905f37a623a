import { Body, Controller, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiAcceptedResponse, ApiBody, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuth, AuthUser, CurrentUser, Public, RequireScope } from '../../common/auth';
import type { User } from '../users/entities/user.entity';
import { AuthService } from './auth.service';
import { LocalAuthGuard } from './local.strategy';
import { LoginDto, RegisterAcceptedDto, RegisterDto, TokenResponseDto } from './dto/auth.dto';
import { ApiProblems } from '../../common/problem-responses';
import { AUTH_ERRORS } from './auth.errors';
import { USER_ERRORS } from '../users/users.errors';

const REGISTER_ACCEPTED: RegisterAcceptedDto = {
  status: 'accepted',
  message: 'If this email was not registered yet, the account now exists: sign in with it.',
};

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @Public()
  @HttpCode(202)
  @ApiOperation({
    operationId: 'registerUser',
    summary: 'Create an account',
    description:
      'Answers 202 with the same body whether or not the email is registered already (in any letter case), so the ' +
      'answer does not tell who has an account: a new email gets the account, with INITIAL_CREDITS as the first row ' +
      'of its credit ledger and the role `user`; an existing account is not changed. Sign in to continue. ' +
      'A username in use answers 409. Limited per client address and per email (429).',
  })
  @ApiAcceptedResponse({ type: RegisterAcceptedDto, description: 'Accepted: sign in with the email and password' })
  @ApiProblems(USER_ERRORS.of('user.username_taken'))
  async register(@Body() dto: RegisterDto, @Req() req: FastifyRequest): Promise<RegisterAcceptedDto> {
    await this.auth.register(dto, req.ip);
    return REGISTER_ACCEPTED;
  }

  @Post('login')
  @Public()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'login',
    summary: 'Exchange email and password for a bearer token',
    description:
      'Checks the email (trimmed, any case) and password and answers a login JWT holding every scope of your role. Failed attempts are audited and limited per address and per email.',
  })
  @ApiOkResponse({ type: TokenResponseDto, description: 'A bearer token for the Authorization header' })
  @ApiProblems(AUTH_ERRORS.of('auth.invalid_credentials'))
  @ApiBody({ type: LoginDto })
  @UseGuards(LocalAuthGuard)
  login(@Req() req: FastifyRequest & { user: User }): Promise<TokenResponseDto> {
    return this.auth.issueToken(req.user);
  }

  @Post('logout')
  @RequireScope('login')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'logout',
    summary: 'End the token used for this request',
    description:
      'The token stops working at once in every API process, and event streams opened with it end. The user’s other ' +
      'tokens stay valid (a password change or an admin sign-out ends them all). API tokens are not affected.',
  })
  @ApiNoContentResponse({ description: 'The token is ended' })
  @ApiAuth()
  async logout(@CurrentUser() caller: AuthUser, @Req() req: FastifyRequest): Promise<void> {
    await this.auth.logout(caller, req.ip);
  }
}
