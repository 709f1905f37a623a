import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import type { Resources } from '../host-capacity';
import type { HostState } from '../hosts.service';

export class HostResourcesDto {
  @ApiProperty({ type: 'integer', example: 16 })
  cpu_cores: number;

  @ApiProperty({ type: 'integer', example: 65536 })
  ram_mb: number;

  @ApiProperty({ type: 'integer', example: 900 })
  disk_gb: number;
}

/** Overcommit: a host accepts VMs up to capacity x ratio (HOST_*_ALLOCATION_RATIO of its workers). */
export class HostAllocationRatiosDto {
  @ApiProperty({ example: 4 })
  cpu: number;

  @ApiProperty({ example: 1 })
  ram: number;

  @ApiProperty({ example: 1 })
  disk: number;
}

export class HostResponseDto {
  /** HOST_NAME of the host's workers. */
  @ApiProperty({ example: 'hv-01' })
  name: string;

  /** offline: no heartbeat for HOST_OFFLINE_SECONDS (its workers are down or cut off). */
  @ApiProperty({ enum: ['online', 'offline'] })
  status: 'online' | 'offline';

  /** false: drained, receives no new VMs (its VMs keep working). */
  schedulable: boolean;

  /** Why it was drained or returned, as the admin said. */
  @ApiProperty({ type: String, nullable: true })
  schedulable_reason: string | null;

  /** What the machine has (before overcommit). */
  capacity: HostResourcesDto;

  allocation_ratios: HostAllocationRatiosDto;

  /** What its VMs that are not destroyed (and not failed-and-released) take. */
  allocated: HostResourcesDto;

  /** capacity x ratio - allocated: room left for new VMs (negative when over-allocated after a ratio was lowered). */
  free: HostResourcesDto;

  /** Its VMs that count against it (as in `allocated`). */
  @ApiProperty({ type: 'integer' })
  vm_count: number;

  last_seen_at: Date;

  /** The application version its workers run. */
  @ApiProperty({ example: '0.1.0' })
  version: string;

  created_at: Date;
}

export class UpdateHostDto {
  /** false drains the host (no new VMs are placed on it); true returns it to service. */
  @IsBoolean()
  @ApiProperty({ example: false })
  schedulable: boolean;

  /** Why; recorded in the admin event and shown on the host. */
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  @ApiPropertyOptional({ maxLength: 500, example: 'Kernel upgrade' })
  reason?: string;
}

const resources = (r: Resources): HostResourcesDto => ({ cpu_cores: r.cpuCores, ram_mb: r.ramMb, disk_gb: r.diskGb });

export function toHostResponse(h: HostState): HostResponseDto {
  return {
    name: h.name,
    status: h.status,
    schedulable: h.schedulable,
    schedulable_reason: h.schedulableReason,
    capacity: resources(h.capacity),
    allocation_ratios: h.ratios,
    allocated: resources(h.allocated),
    free: resources(h.free),
    vm_count: h.vmCount,
    last_seen_at: h.lastSeenAt,
    version: h.version,
    created_at: h.createdAt,
  };
}
