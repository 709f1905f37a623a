import { DynamicModule, Module } from '@nestjs/common';
import type { Env } from '../../config/env.validation';
import { HttpMetricsHook } from './http-metrics.hook';
import { MetricsController } from './metrics.controller';
import { MetricsModule } from './metrics.module';
import { ServiceMetricsController } from './service-metrics.controller';

/** Metrics' routes and the per-request HTTP metrics, on top of MetricsModule (ApiModule only). */
@Module({})
export class MetricsHttpModule {
  /** With METRICS_ON_API=admin, GET /metrics on the API port too, for admins only. */
  static forRoot(env: Pick<Env, 'METRICS_ENABLED' | 'METRICS_ON_API'>): DynamicModule {
    return {
      module: MetricsHttpModule,
      imports: [MetricsModule],
      controllers: [MetricsController, ...(env.METRICS_ENABLED && env.METRICS_ON_API === 'admin' ? [ServiceMetricsController] : [])],
      providers: [HttpMetricsHook],
    };
  }
}
