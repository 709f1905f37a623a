import { Controller, Get, Next, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { NextFunction, Response } from 'express';
import { Public } from '../auth/auth.decorators';
import { ServiceMetrics } from './service-metrics.service';

/**
 * GET /metrics (outside the /api prefix): Prometheus text format, no token, for scrapers. Off with
 * METRICS_ENABLED=false, moved to its own listener with METRICS_PORT: the request then falls through
 * to the router's not-found answer, like any unknown route.
 */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class ServiceMetricsController {
  constructor(private readonly metrics: ServiceMetrics) {}

  @Get()
  async scrape(@Res() res: Response, @Next() next: NextFunction): Promise<void> {
    if (!this.metrics.onApiPort) return next();
    const text = await this.metrics.registry.metrics();
    res.type(this.metrics.registry.contentType).send(text);
  }
}
