import { Body, Controller, Get, Param, Patch, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { mapPage, PageOf, PageQueryDto } from '../../common/pagination';
import { ApiAuth, AuthUser, CurrentUser, RequireScope, Roles } from '../../common/auth';
import { HostResponseDto, toHostResponse, UpdateHostDto } from './dto/host.dto';
import { HostsService } from './hosts.service';
import { HOST_ERRORS } from './hosts.errors';

export const HostPage = PageOf(HostResponseDto);

/** Hypervisor hosts for admins: what each holds and has left, and draining. */
@ApiTags('admin')
@Roles('admin')
@Controller('admin/hosts')
export class HostsController {
  constructor(private readonly hosts: HostsService) {}

  @Get()
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminListHosts',
    summary: 'Hypervisor hosts by name, with capacity, allocation and status',
    description:
      'Each host that runs VMs: its capacity, what is allocated on it, whether it is online (heartbeat) and schedulable (drained or not). Admins only.',
  })
  @ApiOkResponse({ type: HostPage, description: 'A page of hosts, with capacity, allocation and status' })
  @ApiAuth()
  async list(@Query() page: PageQueryDto) {
    return mapPage(await this.hosts.list(page), toHostResponse);
  }

  @Get(':name')
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminGetHost',
    summary: 'One hypervisor host',
    description: 'One host by name, as in the list: capacity, allocation, status and why it was drained if it was. Admins only.',
  })
  @ApiOkResponse({ type: HostResponseDto, description: 'The host, with capacity, allocation and status' })
  @ApiAuth(HOST_ERRORS.of('host.not_found'))
  async get(@Param('name') name: string) {
    return toHostResponse(await this.hosts.get(name));
  }

  @Patch(':name')
  @RequireScope('admin:write')
  @ApiOperation({
    operationId: 'adminUpdateHost',
    summary: 'Drain a host or return it to service',
    description:
      '`schedulable: false` drains the host: placement stops choosing it, while its VMs keep working (every action still runs on it). ' +
      '`true` returns it. Each change records an `admin.host_updated` event with the admin and the reason.',
  })
  @ApiOkResponse({ type: HostResponseDto, description: 'The host as updated' })
  @ApiAuth(HOST_ERRORS.of('host.not_found'))
  async update(@CurrentUser() admin: AuthUser, @Param('name') name: string, @Body() dto: UpdateHostDto) {
    return toHostResponse(await this.hosts.setSchedulable(admin, name, dto.schedulable, dto.reason));
  }
}
