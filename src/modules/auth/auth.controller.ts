import { Body, Controller, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiBody, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { toUserResponse, UserResponseDto } from '../users/dto/user-response.dto';
import { Public } from './auth.decorators';
import type { User } from '../users/entities/user.entity';
import { AuthService } from './auth.service';
import { LocalAuthGuard } from './local.strategy';
import { LoginDto, RegisterDto, TokenResponseDto } from './dto/auth.dto';
import { ApiProblems } from '../../common/problem-responses';
import { AUTH_ERRORS } from './auth.errors';
import { USER_ERRORS } from '../users/users.errors';

@ApiTags('auth')
@Public()
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @ApiOperation({
    operationId: 'registerUser',
    summary: 'Create an account',
    description: 'New accounts receive INITIAL_CREDITS as the first row of their credit ledger. The role is always `user`.',
  })
  @ApiCreatedResponse({ type: UserResponseDto, description: 'The new user, with the signup credits already granted' })
  @ApiProblems(USER_ERRORS.of('user.email_taken', 'user.username_taken'))
  async register(@Body() dto: RegisterDto): Promise<UserResponseDto> {
    return toUserResponse(await this.auth.register(dto));
  }

  @Post('login')
  @HttpCode(200)
  @ApiOperation({ operationId: 'login', summary: 'Exchange email and password for a bearer token' })
  @ApiOkResponse({ type: TokenResponseDto, description: 'A bearer token for the Authorization header' })
  @ApiProblems(AUTH_ERRORS.of('auth.invalid_credentials'))
  @ApiBody({ type: LoginDto })
  @UseGuards(LocalAuthGuard)
  login(@Req() req: FastifyRequest & { user: User }): Promise<TokenResponseDto> {
    return this.auth.issueToken(req.user);
  }
}
