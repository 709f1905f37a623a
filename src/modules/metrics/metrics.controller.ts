import { JsonBodyLimits } from '../../common/json-body';
import { KNOWN_METRICS, MAX_POINTS_PER_BATCH } from './metric-rules';
import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { UuidPipe } from '../../common/uuid.pipe';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../common/auth';
import { MetricBatchDto, MetricIngestResponseDto, MetricSeriesQueryDto, MetricSeriesResponseDto } from './dto/metric.dto';
import { MetricsService } from './metrics.service';
import { VM_ERRORS } from '../vms/vms.errors';
import { METRIC_ERRORS } from './metrics.errors';

@ApiTags('metrics')
@Controller('vms/:id/metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Post()
  @RequireScope('vms:write')
  @HttpCode(201)
  // `points` and each point's element and at most four fields.
  @JsonBodyLimits({ maxMembers: 1 + MAX_POINTS_PER_BATCH * 5 })
  @ApiOperation({
    operationId: 'createVmMetrics',
    summary: 'Store a batch of metric points for a VM (external agents)',
    description:
      'For the VM’s owner or an admin. At most 1000 points; all are stored or none (400 lists every bad point). ' +
      `Known names (${Object.keys(KNOWN_METRICS).join(', ')}) have fixed units and ranges; other names must be namespaced (\`app.requests\`).`,
  })
  @ApiCreatedResponse({ type: MetricIngestResponseDto, description: 'How many points were stored' })
  @ApiAuth(VM_ERRORS.of('vm.not_found'), METRIC_ERRORS.of('metrics.vm_destroyed', 'metrics.invalid_points'))
  ingest(
    @CurrentUser() caller: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Body() dto: MetricBatchDto,
  ): Promise<MetricIngestResponseDto> {
    return this.metrics.ingest(caller, id, dto);
  }

  @Get()
  @RequireScope('vms:read')
  @ApiOperation({
    operationId: 'getVmMetrics',
    summary: 'One metric of a VM over time, downsampled',
    description:
      'For the VM’s owner or an admin. Buckets of `step` seconds with avg, min and max; never more than 1000 buckets, ' +
      'whatever the range (the step is raised to fit, and the answer says which step was used).',
  })
  @ApiOkResponse({ type: MetricSeriesResponseDto, description: 'The series, bucketed by `step` seconds' })
  @ApiAuth(VM_ERRORS.of('vm.not_found'), METRIC_ERRORS.of('metrics.invalid_range'))
  series(
    @CurrentUser() caller: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Query() query: MetricSeriesQueryDto,
  ): Promise<MetricSeriesResponseDto> {
    return this.metrics.series(caller, id, query);
  }
}
