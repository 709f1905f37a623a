import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuth } from '../../common/api-errors.decorator';
import { UuidPipe } from '../../common/uuid.pipe';
import { mapPage, PageOf } from '../../common/pagination';
import { AuthUser, CurrentUser } from '../auth/auth.decorators';
import { CreditsGuard } from '../credits/credits.guard';
import { Idempotent, IdempotencyOf } from '../idempotency/idempotency.interceptor';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { toVmResponse, toVmStatusResponse, VmResponseDto, VmStatusResponseDto } from './dto/vm-response.dto';
import { CreateVmDto, ListVmsQueryDto, OsTypesResponseDto, QuotaCheckDto, QuotaResponseDto, UpdateVmDto, VmActionDto } from './dto/vm.dto';
import { VmsService } from './vms.service';

export const VmPage = PageOf(VmResponseDto);

@ApiTags('vms')
@Controller('vms')
export class VmsController {
  constructor(private readonly vms: VmsService) {}

  @Get('os-types')
  @ApiOperation({ operationId: 'listOsTypes', summary: 'The operating systems VMs can be created with' })
  @ApiOkResponse({ type: OsTypesResponseDto })
  @ApiAuth()
  osTypes(): OsTypesResponseDto {
    return { os_types: this.vms.osTypes() };
  }

  @Post('quota-check')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'checkVmQuota',
    summary: 'Price a VM and check it against the balance',
    description: 'cost = max(10, ceil(ram_mb/512*5 + disk_gb/10*2 + cpu_cores*10)). Changes nothing.',
  })
  @ApiOkResponse({ type: QuotaResponseDto })
  @ApiAuth(400)
  quotaCheck(@CurrentUser() user: AuthUser, @Body() dto: QuotaCheckDto): Promise<QuotaResponseDto> {
    return this.vms.quotaCheck(user, dto);
  }

  @Post()
  @HttpCode(202)
  @Idempotent()
  @UseGuards(CreditsGuard)
  @ApiOperation({
    operationId: 'createVm',
    summary: 'Launch a VM (asynchronous)',
    description:
      'Debits the cost, stores the VM as `provisioning` and queues its provisioning, all at once; answers 202. ' +
      'Poll GET /api/vms/{id}/status until `running` (or `failed`). Credits are not refunded if provisioning fails. ' +
      '403 quota.exceeded when the VM would take the user past a quota (VMs, cores or RAM over VMs not destroyed). ' +
      '503 capacity.unavailable (with Retry-After) when no hypervisor host is online, schedulable and has room for the ' +
      'VM’s cores, RAM and disk, including when no host has registered yet; nothing is charged or stored then.',
  })
  @ApiAcceptedResponse({ type: VmResponseDto })
  @ApiAuth(400, 402, 403, 409)
  async create(@CurrentUser() user: AuthUser, @Body() dto: CreateVmDto, @IdempotencyOf() idempotency?: IdempotentRequest): Promise<VmResponseDto> {
    return toVmResponse(await this.vms.create(user, dto, idempotency));
  }

  @Get()
  @ApiOperation({ operationId: 'listVms', summary: 'Your VMs, newest first (destroyed ones hidden unless asked)' })
  @ApiOkResponse({ type: VmPage })
  @ApiAuth(400)
  async list(@CurrentUser() user: AuthUser, @Query() query: ListVmsQueryDto) {
    const { limit, cursor, ...filter } = query;
    const page = await this.vms.list({ ...filter, user_id: user.id }, { limit, cursor });
    return mapPage(page, toVmResponse);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getVm', summary: 'One of your VMs, with its current uptime' })
  @ApiOkResponse({ type: VmResponseDto })
  @ApiAuth(400, 404)
  async get(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string): Promise<VmResponseDto> {
    return toVmResponse(await this.vms.get(id, user.id));
  }

  @Get(':id/status')
  @ApiOperation({ operationId: 'getVmStatus', summary: 'Status, connection and uptime of one of your VMs' })
  @ApiOkResponse({ type: VmStatusResponseDto })
  @ApiAuth(400, 404)
  async status(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string): Promise<VmStatusResponseDto> {
    return toVmStatusResponse(await this.vms.get(id, user.id));
  }

  @Patch(':id')
  @ApiOperation({
    operationId: 'updateVm',
    summary: 'Update a VM’s metadata',
    description: 'Only metadata can change. The patch is merged; a key set to null is removed.',
  })
  @ApiOkResponse({ type: VmResponseDto })
  @ApiAuth(400, 404)
  async update(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string, @Body() dto: UpdateVmDto): Promise<VmResponseDto> {
    return toVmResponse(await this.vms.updateMetadata(user, id, dto.metadata));
  }

  @Post(':id/action')
  @HttpCode(202)
  @Idempotent()
  @ApiOperation({
    operationId: 'performVmAction',
    summary: 'Start, stop, restart or destroy a VM (asynchronous)',
    description:
      'Moves the VM to a transitional status and queues the work; answers 202. 409 when the current status does not ' +
      'allow the action (the answer lists `allowed_actions`). Destroyed VMs stay listed with include_destroyed=true. ' +
      'While the VM’s hypervisor host is offline: stop and destroy answer 202, the VM stays `stopping`/`destroying` and ' +
      'the work runs when the host is back; start and restart answer 409 host.offline and change nothing.',
  })
  @ApiAcceptedResponse({ type: VmResponseDto })
  @ApiAuth(400, 404, 409)
  async action(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Body() dto: VmActionDto,
    @IdempotencyOf() idempotency?: IdempotentRequest,
  ): Promise<VmResponseDto> {
    return toVmResponse(await this.vms.requestAction(id, dto.action, { actor: user, ownerId: user.id, idempotency }));
  }
}
