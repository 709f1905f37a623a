import { ApiProperty } from '@nestjs/swagger';
import { UserResponseDto } from '../../users/dto/user-response.dto';
import { QuotaAmountsDto, QuotaUsageDto } from '../../vms/quotas';
import { VM_STATUSES, type VmStatus } from '../../vms/vm-state';

/** A user's own quota limits: a number (0 = no limit), or null when the default applies. */
export class QuotaOverridesResponseDto {
  @ApiProperty({ type: 'integer', minimum: 0, nullable: true, example: 20 })
  vms: number | null;

  @ApiProperty({ type: 'integer', minimum: 0, nullable: true, example: null })
  cpu_cores: number | null;

  @ApiProperty({ type: 'integer', minimum: 0, nullable: true, example: null })
  ram_mb: number | null;
}

/** A user as an admin sees them: the profile with VM counts and quota use (composed from users and vms). */
export class AdminUserDetailDto extends UserResponseDto {
  /** Number of VMs per status (statuses with none are 0). */
  @ApiProperty({
    type: 'object',
    properties: Object.fromEntries(VM_STATUSES.map((s) => [s, { type: 'integer', minimum: 0 }])),
    required: [...VM_STATUSES],
    additionalProperties: false,
    example: Object.fromEntries(VM_STATUSES.map((s) => [s, s === 'running' ? 2 : s === 'stopped' ? 1 : 0])),
  })
  vm_counts: Record<VmStatus, number>;

  /** Effective quota limits and current use. */
  quota: QuotaUsageDto;

  /** The user's own limits (PATCH quotas); null: the default applies. */
  quota_overrides: QuotaOverridesResponseDto;

  /** The QUOTA_* defaults: the limits of a resource without an override. */
  quota_defaults: QuotaAmountsDto;
}
