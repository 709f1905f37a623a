import { Controller, Get, NotFoundException, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.decorators';
import { ServiceMetrics } from './service-metrics.service';

/**
 * GET /metrics (outside the /api prefix): Prometheus text format, no token, for scrapers. Off with
 * METRICS_ENABLED=false, moved to its own listener with METRICS_PORT: the request then falls through
 * the same not-found answer as any unknown route.
 */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class ServiceMetricsController {
  constructor(private readonly metrics: ServiceMetrics) {}

  @Get()
  async scrape(@Res() res: FastifyReply): Promise<void> {
    if (!this.metrics.onApiPort) throw new NotFoundException('Cannot GET /metrics');
    const text = await this.metrics.registry.metrics();
    await res.type(this.metrics.registry.contentType).send(text);
  }
}
