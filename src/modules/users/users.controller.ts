import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuth } from '../../common/api-errors.decorator';
import { AuthUser, CurrentUser } from '../auth/auth.decorators';
import { toUserResponse, UserResponseDto } from './dto/user-response.dto';
import { UsersService } from './users.service';

@ApiTags('users')
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('me')
  @ApiOperation({ operationId: 'getCurrentUser', summary: 'The caller’s profile and credit balance' })
  @ApiAuth()
  async me(@CurrentUser() caller: AuthUser): Promise<UserResponseDto> {
    return toUserResponse(await this.users.get(caller.id));
  }
}
