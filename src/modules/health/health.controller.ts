import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiAuth, Public, RequireScope, Roles } from '../../common/auth';
import { AdminHealthResponseDto, HealthResponseDto, type AdminHealthReport, type HealthReport } from './health.dto';
import { HealthService } from './health.service';

/** For load balancers and probes: no token, nothing about the machine. */
@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get()
  @ApiOperation({
    operationId: 'getHealth',
    summary: 'Liveness and dependencies',
    description:
      'Whether the database and the queue answer; no token needed (a token, valid or not, is ignored). Answers 503 (same body) when the ' +
      'database is unreachable. The VM provider and the hosts are in the admins’ GET /api/admin/health.',
  })
  @ApiOkResponse({ type: HealthResponseDto, description: 'The process and its dependencies are up' })
  @ApiServiceUnavailableResponse({ type: HealthResponseDto, description: 'The database is unreachable' })
  async check(@Res({ passthrough: true }) res: FastifyReply): Promise<HealthReport> {
    const report = await this.health.check();
    if (report.status !== 'ok') res.status(503);
    return report;
  }
}

/** The same health with what only an admin should see about the machine. */
@ApiTags('admin')
@Roles('admin')
@Controller('admin/health')
export class AdminHealthController {
  constructor(private readonly health: HealthService) {}

  @Get()
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminGetHealth',
    summary: 'Health with the VM provider and the hosts',
    description:
      'The public health plus the VM provider this process runs, VM_PROVIDER as set and why the provider was chosen (what ' +
      'VM_PROVIDER=auto found on the machine), this process’s host and the hosts by status. Answers 200 with `status: degraded` ' +
      'when a dependency is down (a diagnosis, not a probe: probes use GET /api/health). Admins only.',
  })
  @ApiOkResponse({ type: AdminHealthResponseDto, description: 'The health report with the provider and the hosts' })
  @ApiAuth()
  detail(): Promise<AdminHealthReport> {
    return this.health.detail();
  }
}
