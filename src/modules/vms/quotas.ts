import { ApiProperty } from '@nestjs/swagger';

import { QUOTA_RESOURCES, type QuotaLimits, type QuotaResource } from '../users/quotas';

export { QUOTA_RESOURCES, type QuotaLimits, type QuotaResource };

/** An amount per quota resource (a limit: 0 = none). */
export class QuotaAmountsDto implements QuotaLimits {
  @ApiProperty({ type: 'integer', minimum: 0, example: 10 })
  vms: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 64 })
  cpu_cores: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 131072 })
  ram_mb: number;
}

/** A user's quota: per resource, the limit (0 = none) and what their VMs that are not destroyed use. */
export class QuotaUsageDto {
  @ApiProperty({ type: QuotaAmountsDto, example: { vms: 10, cpu_cores: 64, ram_mb: 131072 }, description: '0 means no limit' })
  limits: QuotaLimits;

  @ApiProperty({ type: QuotaAmountsDto, example: { vms: 2, cpu_cores: 4, ram_mb: 2048 } })
  used: QuotaLimits;
}

/**
 * The first resource a new VM (or a resize's growth) would take past its limit, or null when it fits.
 * A resource not asked for (0, e.g. the VM count of a resize) is never refused, even over a lowered limit.
 */
export function exceededResource(limits: QuotaLimits, used: QuotaLimits, requested: QuotaLimits): QuotaResource | null {
  for (const r of QUOTA_RESOURCES) {
    if (limits[r] > 0 && requested[r] > 0 && used[r] + requested[r] > limits[r]) return r;
  }
  return null;
}
