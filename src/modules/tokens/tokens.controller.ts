import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { mapPage, PageQueryDto } from '../../common/pagination';
import { headerRefs } from '../../common/response-headers';
import { UuidPipe } from '../../common/uuid.pipe';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../common/auth';
import { ApiTokenPage, CreateApiTokenDto, CreatedApiTokenResponseDto, toApiTokenResponse } from './dto/api-token.dto';
import { TokensService } from './tokens.service';
import { TOKEN_ERRORS } from './tokens.errors';

@ApiTags('tokens')
@Controller('tokens')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  @Post()
  @ApiOperation({
    operationId: 'createApiToken',
    summary: 'Create an API token (the secret is shown once)',
    description:
      'A personal access token for scripts: send it as `Authorization: Bearer vmp_...` wherever a login token works, ' +
      'within its scopes. The answer carries the secret (`token`) this once; only its SHA-256 is stored. Scopes must be ' +
      'ones you hold: `admin:*` only for admins (403 `token.scope_not_held`); with an API token (scope `tokens:write`), ' +
      'a subset of that token’s scopes, expiring no later than it. 403 `token.limit_reached` past API_TOKENS_MAX_PER_USER.',
  })
  @ApiCreatedResponse({
    type: CreatedApiTokenResponseDto,
    description: 'The token, with its secret (shown once)',
    headers: headerRefs('Location'),
  })
  @ApiAuth(TOKEN_ERRORS.of('token.scope_not_held', 'token.limit_reached'))
  @RequireScope('tokens:write')
  async create(
    @CurrentUser() caller: AuthUser,
    @Body() dto: CreateApiTokenDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<CreatedApiTokenResponseDto> {
    const { token, secret } = await this.tokens.create(caller, dto);
    res.header('Location', `/api/tokens/${token.id}`);
    return { ...toApiTokenResponse(token), token: secret };
  }

  @Get()
  @ApiOperation({
    operationId: 'listApiTokens',
    summary: 'Your API tokens, newest first (never their secrets)',
    description:
      'Your `vmp_...` tokens with their scopes, expiry and last use. The secret is shown once, when the token is created, and never again.',
  })
  @ApiOkResponse({ type: ApiTokenPage, description: 'A page of your API tokens, expired ones included' })
  @ApiAuth()
  @RequireScope('tokens:read')
  async list(@CurrentUser() caller: AuthUser, @Query() page: PageQueryDto) {
    return mapPage(await this.tokens.list(caller.id, page), toApiTokenResponse);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteApiToken',
    summary: 'Revoke one of your API tokens',
    description: 'The token stops working from its next request in every API process, and event streams opened with it end.',
  })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiAuth(TOKEN_ERRORS.of('token.not_found'))
  @RequireScope('tokens:write')
  async revoke(@CurrentUser() caller: AuthUser, @Param('id', UuidPipe) id: string): Promise<void> {
    await this.tokens.revoke(caller, id);
  }
}
