import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../../common/auth';
import { mapPage, PageOf, PageQueryDto } from '../../../common/pagination';
import { headerRefs } from '../../../common/response-headers';
import { UuidPipe } from '../../../common/uuid.pipe';
import { CREDIT_ERRORS } from '../../credits/credits.errors';
import { Idempotent, IdempotencyOf } from '../../idempotency/idempotency.interceptor';
import type { IdempotentRequest } from '../../idempotency/idempotency.service';
import { toVmResponse, VmResponseDto } from '../dto/vm-response.dto';
import { VM_ERRORS } from '../vms.errors';
import { CreateSnapshotDto, SnapshotResponseDto, toSnapshotResponse } from './snapshot.dto';
import { SnapshotsService } from './snapshots.service';

export const SnapshotPage = PageOf(SnapshotResponseDto);

/** Why a snapshot operation on a VM is refused now: its status, its one operation slot, its host. */
const BUSY = ['vm.invalid_transition', 'vm.operation_in_progress', 'host.offline'] as const;

@ApiTags('vms')
@Controller('vms/:id/snapshots')
export class SnapshotsController {
  constructor(private readonly snapshots: SnapshotsService) {}

  @Post()
  @RequireScope('vms:write')
  @HttpCode(202)
  @Idempotent()
  @ApiOperation({
    operationId: 'createVmSnapshot',
    summary: 'Take a snapshot of a VM’s disk (asynchronous)',
    description:
      'Allowed while the VM is running or stopped; its status does not change. The snapshot is `creating`, then `available` ' +
      '(or `failed`). Price: max(1, ceil(disk_gb / 10 × SNAPSHOT_CREDITS_PER_10GB)) credits, debited now (ledger kind ' +
      'snapshot_create), never refunded, 402 when short. At most SNAPSHOTS_MAX_PER_VM per VM (403 snapshot.limit_reached). ' +
      'While it is taken the VM accepts no other operation but destroy (409 vm.operation_in_progress). A VM’s snapshots go ' +
      'with its destroy and its rebuild.',
  })
  @ApiAcceptedResponse({
    type: SnapshotResponseDto,
    description: 'Accepted: the snapshot, `creating`; its price is already debited',
    headers: headerRefs('Location'),
  })
  @ApiAuth(VM_ERRORS.of('vm.not_found', ...BUSY, 'snapshot.name_taken', 'snapshot.limit_reached'), CREDIT_ERRORS.of('credits.insufficient'))
  async create(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Body() dto: CreateSnapshotDto,
    @Res({ passthrough: true }) res: FastifyReply,
    @IdempotencyOf() idempotency?: IdempotentRequest,
  ): Promise<SnapshotResponseDto> {
    const snapshot = await this.snapshots.create(user, id, dto.name, idempotency);
    res.header('Location', `/api/vms/${id}/snapshots/${snapshot.id}`);
    return toSnapshotResponse(snapshot);
  }

  @Get()
  @RequireScope('vms:read')
  @ApiOperation({
    operationId: 'listVmSnapshots',
    summary: 'A VM’s snapshots, newest first',
    description: 'The snapshots of one of your VMs, with their status and size; cursor-paginated. 404 for a VM that is not yours.',
  })
  @ApiOkResponse({ type: SnapshotPage, description: 'A page of the VM’s snapshots, newest first' })
  @ApiAuth(VM_ERRORS.of('vm.not_found'))
  async list(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string, @Query() query: PageQueryDto) {
    return mapPage(await this.snapshots.list(user, id, query), toSnapshotResponse);
  }

  @Get(':snapshot_id')
  @RequireScope('vms:read')
  @ApiOperation({
    operationId: 'getVmSnapshot',
    summary: 'One snapshot of one of your VMs',
    description: 'One snapshot: its name, status and size. 404 for a VM or snapshot that is not yours.',
  })
  @ApiOkResponse({ type: SnapshotResponseDto, description: 'The snapshot' })
  @ApiAuth(VM_ERRORS.of('vm.not_found', 'snapshot.not_found'))
  async get(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Param('snapshot_id', UuidPipe) snapshotId: string,
  ): Promise<SnapshotResponseDto> {
    return toSnapshotResponse(await this.snapshots.get(user, id, snapshotId));
  }

  @Delete(':snapshot_id')
  @RequireScope('vms:write')
  @HttpCode(202)
  @Idempotent()
  @ApiOperation({
    operationId: 'deleteVmSnapshot',
    summary: 'Delete a snapshot (asynchronous)',
    description:
      'An available or failed snapshot goes `deleting`, then is gone. Free; nothing is refunded. The VM must be running or ' +
      'stopped, and holds its one operation slot meanwhile (409 vm.operation_in_progress to anything but destroy).',
  })
  @ApiAcceptedResponse({ type: SnapshotResponseDto, description: 'Accepted: the snapshot, `deleting`' })
  @ApiAuth(VM_ERRORS.of('vm.not_found', 'snapshot.not_found', ...BUSY, 'snapshot.invalid_state'))
  async delete(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Param('snapshot_id', UuidPipe) snapshotId: string,
    @IdempotencyOf() idempotency?: IdempotentRequest,
  ): Promise<SnapshotResponseDto> {
    return toSnapshotResponse(await this.snapshots.delete(user, id, snapshotId, idempotency));
  }

  @Post(':snapshot_id/restore')
  @RequireScope('vms:write')
  @HttpCode(202)
  @Idempotent()
  @ApiOperation({
    operationId: 'performVmSnapshotRestore',
    summary: 'Restore a VM’s disk to a snapshot (asynchronous)',
    description:
      'The VM (running or stopped) goes `restoring` and comes back in the power state it had, its disk as it was at the ' +
      'snapshot. Free. The snapshot stays.',
  })
  @ApiAcceptedResponse({ type: VmResponseDto, description: 'Accepted: the VM, `restoring`' })
  @ApiAuth(VM_ERRORS.of('vm.not_found', 'snapshot.not_found', ...BUSY, 'snapshot.invalid_state'))
  async restore(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Param('snapshot_id', UuidPipe) snapshotId: string,
    @IdempotencyOf() idempotency?: IdempotentRequest,
  ): Promise<VmResponseDto> {
    return toVmResponse(await this.snapshots.restore(user, id, snapshotId, idempotency));
  }
}
