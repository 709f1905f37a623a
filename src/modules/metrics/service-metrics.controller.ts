import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { RequireScope, Roles } from '../../common/auth';
import { ServiceMetrics } from './service-metrics.service';

/**
 * GET /metrics on the API port (outside the /api prefix), registered only with METRICS_ON_API=admin
 * (MetricsHttpModule.forRoot): for an admin's bearer token, 401/403 otherwise. By default the route does
 * not exist here (404 like any unknown path): scrapers use the METRICS_PORT listener.
 */
@ApiExcludeController()
@Roles('admin')
@Controller('metrics')
export class ServiceMetricsController {
  constructor(private readonly metrics: ServiceMetrics) {}

  @Get()
  @RequireScope('admin:read')
  async scrape(@Res() res: FastifyReply): Promise<void> {
    const text = await this.metrics.registry.metrics();
    await res.type(this.metrics.registry.contentType).send(text);
  }
}
