import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../common/auth';
import { toUserResponse, UserResponseDto } from './dto/user-response.dto';
import { UsersService } from './users.service';

@ApiTags('users')
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('me')
  @RequireScope('none')
  @ApiOperation({
    operationId: 'getCurrentUser',
    summary: 'The caller’s profile and credit balance',
    description:
      'Who the token belongs to: id, username, email, role, whether the account is active, and the credit balance now. Any valid token (no scope needed).',
  })
  @ApiOkResponse({ type: UserResponseDto, description: 'Your profile and current balance' })
  @ApiAuth()
  async me(@CurrentUser() caller: AuthUser): Promise<UserResponseDto> {
    return toUserResponse(await this.users.get(caller.id));
  }
}
