import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { SNAPSHOT_STATUSES, type SnapshotStatus, type VmSnapshot } from '../entities/vm-snapshot.entity';

/** Snapshot names: like VM names (lowercase letters, digits, inner hyphens, 1-63), unique per VM. */
export const SNAPSHOT_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class CreateSnapshotDto {
  /** Lowercase letters, digits and inner hyphens, 1-63 characters; unique among the VM’s snapshots. */
  @IsString()
  @Matches(SNAPSHOT_NAME_PATTERN, { message: 'name must be a-z, 0-9 and inner hyphens, 1 to 63 characters' })
  @ApiProperty({ example: 'before-upgrade', pattern: SNAPSHOT_NAME_PATTERN.source, maxLength: 63 })
  name: string;
}

export class SnapshotResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  vm_id: string;

  @ApiProperty({ example: 'before-upgrade' })
  name: string;

  /** creating -> available (or failed); deleting while a delete runs, then gone. */
  @ApiProperty({ enum: SNAPSHOT_STATUSES, enumName: 'SnapshotStatus' })
  status: SnapshotStatus;

  /** The VM’s disk size when it was taken (the basis of its price). */
  @ApiProperty({ type: 'integer', example: 20 })
  size_gb: number;

  created_at: Date;
}

export function toSnapshotResponse(s: VmSnapshot): SnapshotResponseDto {
  return Object.assign(new SnapshotResponseDto(), {
    id: s.id,
    vm_id: s.vmId,
    name: s.name,
    status: s.status,
    size_gb: s.sizeGb,
    created_at: s.createdAt,
  });
}
