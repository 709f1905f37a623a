import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsDate, IsOptional, IsString, IsUUID, MaxDate, MaxLength, MinDate, MinLength } from 'class-validator';
import { MAX_INSTANT, MIN_INSTANT } from '../../../common/pagination';
import { EventQueryDto } from '../../events/dto/event-query.dto';
import { VmResponseDto } from '../../vms/dto/vm-response.dto';
import { ListVmsQueryDto, VmActionDto } from '../../vms/dto/vm.dto';

export class AdminVmQueryDto extends ListVmsQueryDto {
  @IsOptional()
  @IsUUID()
  user_id?: string;

  @IsOptional()
  @IsString()
  @MaxLength(32)
  os_type?: string;

  /** VMs placed on this hypervisor host. */
  @IsOptional()
  @IsString()
  @MaxLength(100)
  host?: string;
}

export class AdminVmActionDto extends VmActionDto {
  /** Why the admin acted; recorded in the audit event. */
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  @ApiPropertyOptional({ maxLength: 500, example: 'Abuse report #123' })
  reason?: string;
}

export class VmOwnerDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  username: string;

  email: string;
}

export class AdminVmResponseDto extends VmResponseDto {
  @ApiProperty({ format: 'uuid' })
  user_id: string;

  /** The VM's owner. */
  owner: VmOwnerDto;

  /** The hypervisor host it is placed on (see GET /api/admin/hosts); null only for a VM from before hosts that never came up. */
  @ApiProperty({ type: String, nullable: true, example: 'hv-01' })
  host: string | null;
}

export class AdminEventQueryDto extends EventQueryDto {
  @IsOptional()
  @IsUUID()
  user_id?: string;

  /** Events at or after this instant (ISO 8601). */
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  @MinDate(MIN_INSTANT)
  @MaxDate(MAX_INSTANT)
  @ApiPropertyOptional({ type: String, format: 'date-time' })
  since?: Date;

  /** Events before this instant (ISO 8601). */
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  @MinDate(MIN_INSTANT)
  @MaxDate(MAX_INSTANT)
  @ApiPropertyOptional({ type: String, format: 'date-time' })
  until?: Date;
}
