import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { AppError } from '../../common/app-error';
import { Public } from '../auth/auth.decorators';
import { ServiceMetrics } from './service-metrics.service';

/**
 * GET /metrics (outside the /api prefix): Prometheus text format, no token, for scrapers. Off with
 * METRICS_ENABLED=false; moved to its own listener with METRICS_PORT (then 404 here).
 */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class ServiceMetricsController {
  constructor(private readonly metrics: ServiceMetrics) {}

  @Get()
  async scrape(@Res({ passthrough: true }) res: Response): Promise<string> {
    if (!this.metrics.onApiPort) throw new AppError(404, 'route.not_found', 'No route GET /metrics');
    res.type(this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}
