import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { headerRefs } from '../../common/response-headers';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { mapPage, PageOf, PageQueryDto } from '../../common/pagination';
import { UuidPipe } from '../../common/uuid.pipe';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../common/auth';
import { CreateSshKeyDto, SshKeyResponseDto, toSshKeyResponse } from './dto/ssh-key.dto';
import { SshKeysService } from './ssh-keys.service';
import { SSH_KEY_ERRORS } from './ssh-keys.errors';

export const SshKeyPage = PageOf(SshKeyResponseDto);

@ApiTags('ssh-keys')
@Controller('ssh-keys')
export class SshKeysController {
  constructor(private readonly keys: SshKeysService) {}

  @Post()
  @RequireScope('ssh_keys:write')
  @ApiOperation({
    operationId: 'createSshKey',
    summary: 'Add an SSH public key',
    description:
      'One OpenSSH public key line (ssh-ed25519, ecdsa-sha2-nistp256/384/521, or ssh-rsa of 2048 to 16384 bits). ' +
      'Choose it with `ssh_key_ids` when creating a VM: it is installed for the login user (`ssh_user`) on first boot. ' +
      '400 ssh_key.invalid, ssh_key.unsupported_type, ssh_key.too_weak, ssh_key.too_large or ssh_key.private_key; ' +
      '409 ssh_key.name_taken or ssh_key.already_added; 403 ssh_key.limit_reached.',
  })
  @ApiCreatedResponse({
    type: SshKeyResponseDto,
    description: 'The key as stored, with its type, size and SHA256 fingerprint',
    headers: headerRefs('Location'),
  })
  @ApiAuth(
    SSH_KEY_ERRORS.of(
      'ssh_key.limit_reached',
      'ssh_key.name_taken',
      'ssh_key.already_added',
      'ssh_key.invalid',
      'ssh_key.private_key',
      'ssh_key.unsupported_type',
      'ssh_key.too_weak',
      'ssh_key.too_large',
    ),
  )
  async create(
    @CurrentUser() user: AuthUser,
    @Body() dto: CreateSshKeyDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<SshKeyResponseDto> {
    const key = await this.keys.create(user, dto);
    res.header('Location', `/api/ssh-keys/${key.id}`);
    return toSshKeyResponse(key);
  }

  @Get()
  @RequireScope('ssh_keys:read')
  @ApiOperation({
    operationId: 'listSshKeys',
    summary: 'Your SSH keys, newest first',
    description:
      'The public keys you registered, with their fingerprints; cursor-paginated. A VM created with `ssh_key_ids` gets a copy of the keys named.',
  })
  @ApiOkResponse({ type: SshKeyPage, description: 'A page of your SSH keys, newest first' })
  @ApiAuth()
  async list(@CurrentUser() user: AuthUser, @Query() page: PageQueryDto) {
    return mapPage(await this.keys.list(user.id, page), toSshKeyResponse);
  }

  @Get(':id')
  @RequireScope('ssh_keys:read')
  @ApiOperation({
    operationId: 'getSshKey',
    summary: 'One of your SSH keys',
    description: 'One registered key: name, type, bits, SHA256 fingerprint and the public key. 404 for a key that is not yours.',
  })
  @ApiOkResponse({ type: SshKeyResponseDto, description: 'The SSH key' })
  @ApiAuth(SSH_KEY_ERRORS.of('ssh_key.not_found'))
  async get(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string): Promise<SshKeyResponseDto> {
    return toSshKeyResponse(await this.keys.get(user.id, id));
  }

  @Delete(':id')
  @RequireScope('ssh_keys:write')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteSshKey',
    summary: 'Delete one of your SSH keys',
    description: 'VMs created with the key keep it (their `ssh_keys` and the guest’s authorized_keys do not change).',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiAuth(SSH_KEY_ERRORS.of('ssh_key.not_found'))
  async delete(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string): Promise<void> {
    await this.keys.delete(user, id);
  }
}
