import { JsonBodyLimits } from '../../common/json-body';
import { METADATA_MAX_MEMBERS } from './dto/metadata.validator';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { headerRefs } from '../../common/response-headers';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { UuidPipe } from '../../common/uuid.pipe';
import { mapPage, PageOf } from '../../common/pagination';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../common/auth';
import { PaidRoute } from '../credits/credits.guard';
import { VmCreatePrecheck } from './vm-create.precheck';
import { Idempotent, IdempotencyOf } from '../idempotency/idempotency.interceptor';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { toVmResponse, toVmStatusResponse, VmResponseDto, VmStatusResponseDto } from './dto/vm-response.dto';
import { CreateVmDto, ListVmsQueryDto, OsTypesResponseDto, QuotaCheckDto, QuotaResponseDto, UpdateVmDto, VmActionDto } from './dto/vm.dto';
import { QuotaUsageDto } from './quotas';
import { VmsService } from './vms.service';
import { VM_ACTION_ERRORS } from './vm-action.errors';
import { VM_ERRORS } from './vms.errors';
import { CREDIT_ERRORS } from '../credits/credits.errors';
import { SSH_KEY_ERRORS } from '../ssh-keys/ssh-keys.errors';
import { HOST_ERRORS } from '../hosts/hosts.errors';

export const VmPage = PageOf(VmResponseDto);

@ApiTags('vms')
@Controller('vms')
export class VmsController {
  constructor(private readonly vms: VmsService) {}

  @Get('os-types')
  @RequireScope('vms:read')
  @ApiOperation({
    operationId: 'listOsTypes',
    summary: 'The operating systems VMs can be created with',
    description: 'The `os_type` values POST /api/vms accepts, each with the Vagrant box it boots.',
  })
  @ApiOkResponse({ type: OsTypesResponseDto, description: 'The os_type values create accepts' })
  @ApiAuth()
  osTypes(): OsTypesResponseDto {
    return { os_types: this.vms.osTypes() };
  }

  @Get('quota')
  @RequireScope('vms:read')
  @ApiOperation({
    operationId: 'getVmQuota',
    summary: 'Your VM quota: limits and what your VMs use',
    description: 'Limits per resource (0 = no limit) and the use of your VMs that are not destroyed: the headroom a create has.',
  })
  @ApiOkResponse({ type: QuotaUsageDto, description: 'Your limits and current use' })
  @ApiAuth()
  quota(@CurrentUser() user: AuthUser): Promise<QuotaUsageDto> {
    return this.vms.quotaUsage(user.id);
  }

  @Post('quota-check')
  @RequireScope('vms:read')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'checkVmQuota',
    summary: 'Price a VM and check it against the balance',
    description: 'cost = max(10, ceil(ram_mb/512*5 + disk_gb/10*2 + cpu_cores*10)). Changes nothing.',
  })
  @ApiOkResponse({ type: QuotaResponseDto, description: 'The price of such a VM and whether your balance covers it' })
  @ApiAuth(VM_ERRORS.of('vm.unknown_os_type'))
  quotaCheck(@CurrentUser() user: AuthUser, @Body() dto: QuotaCheckDto): Promise<QuotaResponseDto> {
    return this.vms.quotaCheck(user, dto);
  }

  @Post()
  @RequireScope('vms:write')
  @HttpCode(202)
  @JsonBodyLimits({ maxMembers: METADATA_MAX_MEMBERS + 64 })
  @Idempotent()
  @PaidRoute(VmCreatePrecheck)
  @ApiOperation({
    operationId: 'createVm',
    summary: 'Launch a VM (asynchronous)',
    description:
      'Debits the cost, stores the VM as `provisioning` and queues its provisioning, all at once; answers 202. ' +
      'Poll GET /api/vms/{id}/status until `running` (or `failed`). Credits are not refunded if provisioning fails. ' +
      '403 quota.exceeded when the VM would take the user past a quota (VMs, cores or RAM over VMs not destroyed). ' +
      '503 capacity.unavailable (with Retry-After) when no hypervisor host is online, schedulable and has room for the ' +
      'VM’s cores, RAM and disk, including when no host has registered yet; nothing is charged or stored then. ' +
      '402 credits.insufficient only for a body that is otherwise valid: whatever the balance, an invalid body answers its 400, ' +
      'quota 403 or name 409 exactly as it would with enough credits.',
  })
  @ApiAcceptedResponse({
    type: VmResponseDto,
    description: 'Accepted: the VM as stored, `provisioning`; its cost is already debited',
    headers: headerRefs('Location'),
  })
  @ApiAuth(
    VM_ERRORS.of('vm.unknown_os_type', 'vm.name_taken', 'quota.exceeded', 'vm.user_data_too_large', 'vm.user_data_not_script'),
    CREDIT_ERRORS.of('credits.insufficient'),
    SSH_KEY_ERRORS.of('vm.unknown_ssh_key'),
    HOST_ERRORS.of('capacity.unavailable'),
  )
  async create(
    @CurrentUser() user: AuthUser,
    @Body() dto: CreateVmDto,
    @Res({ passthrough: true }) res: FastifyReply,
    @IdempotencyOf() idempotency?: IdempotentRequest,
  ): Promise<VmResponseDto> {
    const vm = await this.vms.create(user, dto, idempotency);
    res.header('Location', `/api/vms/${vm.id}`);
    return toVmResponse(vm);
  }

  @Get()
  @RequireScope('vms:read')
  @ApiOperation({
    operationId: 'listVms',
    summary: 'Your VMs, newest first (destroyed ones hidden unless asked)',
    description:
      'Your VMs with their status, size and connection details; filter by status, include destroyed ones with `include_destroyed`; cursor-paginated.',
  })
  @ApiOkResponse({ type: VmPage, description: 'A page of your VMs, newest first' })
  @ApiAuth()
  async list(@CurrentUser() user: AuthUser, @Query() query: ListVmsQueryDto) {
    const { limit, cursor, ...filter } = query;
    const page = await this.vms.list({ ...filter, user_id: user.id }, { limit, cursor });
    return mapPage(page, toVmResponse);
  }

  @Get(':id')
  @RequireScope('vms:read')
  @ApiOperation({
    operationId: 'getVm',
    summary: 'One of your VMs, with its current uptime',
    description: 'One VM of yours: size, status, connection details, metadata and uptime. 404 for a VM that is not yours.',
  })
  @ApiOkResponse({ type: VmResponseDto, description: 'The VM, with its current uptime' })
  @ApiAuth(VM_ERRORS.of('vm.not_found'))
  async get(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string): Promise<VmResponseDto> {
    return toVmResponse(await this.vms.get(id, user.id));
  }

  @Get(':id/status')
  @RequireScope('vms:read')
  @ApiOperation({
    operationId: 'getVmStatus',
    summary: 'Status, connection and uptime of one of your VMs',
    description: 'A small answer for polling: the status, the connection details once running, and the uptime.',
  })
  @ApiOkResponse({ type: VmStatusResponseDto, description: 'The VM’s status, connection details and uptime' })
  @ApiAuth(VM_ERRORS.of('vm.not_found'))
  async status(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string): Promise<VmStatusResponseDto> {
    return toVmStatusResponse(await this.vms.get(id, user.id));
  }

  @Patch(':id')
  @RequireScope('vms:write')
  @JsonBodyLimits({ maxMembers: METADATA_MAX_MEMBERS + 2 })
  @ApiOperation({
    operationId: 'updateVm',
    summary: 'Rename a VM and/or update its metadata',
    description:
      'Either or both of `name` and `metadata`. `name` follows create’s rules: a hostname label, unique among your VMs that ' +
      'are not destroyed (409 vm.name_taken); the event `vm.renamed` records the old and new name, and the guest’s hostname ' +
      'follows at its next start, restart or rebuild (not while it runs). `metadata` is merged; a key set to null is removed.',
  })
  @ApiOkResponse({ type: VmResponseDto, description: 'The VM with its new name and merged metadata' })
  @ApiAuth(VM_ERRORS.of('vm.not_found', 'vm.metadata_too_large', 'vm.name_taken', 'vm.invalid_transition'))
  async update(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string, @Body() dto: UpdateVmDto): Promise<VmResponseDto> {
    return toVmResponse(await this.vms.update(user, id, { name: dto.name, metadata: dto.metadata }));
  }

  @Delete(':id')
  @RequireScope('vms:write')
  @HttpCode(202)
  @Idempotent()
  @ApiOperation({
    operationId: 'deleteVm',
    summary: 'Destroy a VM (asynchronous)',
    description:
      'The REST form of POST /api/vms/{id}/action {"action":"destroy"}: the same rules, events and 202 answer. The VM goes to ' +
      '`destroying`, then `destroyed`; it stays listed with include_destroyed=true and its name is free again. 409 when it is ' +
      'already destroying or destroyed.',
  })
  @ApiAcceptedResponse({ type: VmResponseDto, description: 'Accepted: the VM, `destroying`; the work is queued' })
  @ApiAuth(VM_ERRORS.of('vm.not_found', 'vm.invalid_transition'))
  async destroy(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @IdempotencyOf() idempotency?: IdempotentRequest,
  ): Promise<VmResponseDto> {
    return toVmResponse(await this.vms.requestAction(id, 'destroy', { actor: user, ownerId: user.id, idempotency }));
  }

  @Post(':id/action')
  @RequireScope('vms:write')
  @HttpCode(202)
  @Idempotent()
  @ApiOperation({
    operationId: 'performVmAction',
    summary: 'Start, stop, restart, destroy, resize or rebuild a VM (asynchronous)',
    description:
      'Moves the VM to a transitional status and queues the work; answers 202. 409 when the current status does not ' +
      'allow the action (the answer lists `allowed_actions`), or vm.operation_in_progress while a snapshot is being taken ' +
      'or deleted (only destroy is accepted then). Destroyed VMs stay listed with include_destroyed=true. ' +
      '`resize` {ram_mb?, cpu_cores?, disk_gb?} only while `stopped` (as on EC2): `resizing` -> `stopped`. The disk only grows ' +
      '(409 vm.disk_shrink). The new cost by the create formula minus the old one is debited when positive ' +
      '(ledger kind vm_resize, 402 credits.insufficient when short); a smaller VM refunds nothing. Quotas (403 quota.exceeded) and ' +
      'the host’s room (409 capacity.host_full) are checked again; a refusal charges and changes nothing. ' +
      '`rebuild` {os_type?}: reinstalls from the VM’s OS (or os_type), same id, name and size, disk wiped (its snapshots go with it), ' +
      'SSH keys installed and user data run again: `rebuilding` -> `running`; free. ' +
      'While the VM’s hypervisor host is offline: stop and destroy answer 202, the VM stays `stopping`/`destroying` and ' +
      'the work runs when the host is back; the other actions answer 409 host.offline and change nothing.',
  })
  @ApiAcceptedResponse({
    type: VmResponseDto,
    description: 'Accepted: the VM in its transitional status (e.g. `stopping`); the work is queued',
  })
  @ApiAuth(...VM_ACTION_ERRORS)
  async action(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Body() dto: VmActionDto,
    @IdempotencyOf() idempotency?: IdempotentRequest,
  ): Promise<VmResponseDto> {
    const { action, ...change } = dto;
    return toVmResponse(await this.vms.requestAction(id, action, { actor: user, ownerId: user.id, idempotency }, change));
  }
}
