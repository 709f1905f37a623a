import { ApiProperty } from '@nestjs/swagger';

export class HealthResponseDto {
  @ApiProperty({ enum: ['ok', 'degraded'] })
  status: 'ok' | 'degraded';

  @ApiProperty({ enum: ['up', 'down'] })
  database: 'up' | 'down';

  @ApiProperty({ enum: ['up', 'down', 'off'], description: '`off` when this process runs no queue' })
  queue: 'up' | 'down' | 'off';

  /** The VM provider in use: `vagrant` or `simulator`. */
  @ApiProperty({ example: 'simulator' })
  provider: string;

  @ApiProperty({ example: '0.1.0' })
  version: string;

  /** Seconds since this process started. */
  @ApiProperty({ type: 'integer' })
  uptime_seconds: number;
}

export class ApiIndexLinksDto {
  /** Swagger UI. */
  @ApiProperty({ example: '/api/docs' })
  docs: string;

  /** The OpenAPI 3 document (JSON). */
  @ApiProperty({ example: '/api/docs-json' })
  openapi: string;

  @ApiProperty({ example: '/api/health' })
  health: string;
}

export class ApiIndexDto {
  @ApiProperty({ example: 'VM Platform API' })
  name: string;

  @ApiProperty({ example: '0.1.0' })
  version: string;

  links: ApiIndexLinksDto;
}
