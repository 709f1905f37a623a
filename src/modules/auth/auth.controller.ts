import { Body, Controller, HttpCode, Ip, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../../common/api-errors.decorator';
import { toUserResponse, UserResponseDto } from '../users/dto/user-response.dto';
import { Public } from './auth.decorators';
import { AuthService } from './auth.service';
import { LoginDto, RegisterDto, TokenResponseDto } from './dto/auth.dto';

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
  @ApiCreatedResponse({ type: UserResponseDto })
  @ApiProblems(400, 409)
  async register(@Body() dto: RegisterDto): Promise<UserResponseDto> {
    return toUserResponse(await this.auth.register(dto));
  }

  @Post('login')
  @HttpCode(200)
  @ApiOperation({ operationId: 'login', summary: 'Exchange email and password for a bearer token' })
  @ApiOkResponse({ type: TokenResponseDto })
  @ApiProblems(400, 401)
  login(@Body() dto: LoginDto, @Ip() ip: string): Promise<TokenResponseDto> {
    return this.auth.login(dto, ip);
  }
}
