import { ApiProperty } from '@nestjs/swagger';
import { UserResponseDto } from '../../users/dto/user-response.dto';
import { QuotaUsageDto } from '../../vms/quotas';
import { VM_STATUSES, type VmStatus } from '../../vms/vm-state';

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
}
