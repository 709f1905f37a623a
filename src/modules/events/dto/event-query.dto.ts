import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { PageQueryDto } from '../../../common/pagination';
import { EVENT_SEVERITIES, EVENT_TYPES, type EventSeverity, type EventType } from '../entities/event.entity';

export class EventQueryDto extends PageQueryDto {
  @IsOptional()
  @IsIn(EVENT_TYPES)
  @ApiProperty({ enum: EVENT_TYPES, enumName: 'EventType', required: false })
  type?: EventType;

  @IsOptional()
  @IsIn(EVENT_SEVERITIES)
  @ApiProperty({ enum: EVENT_SEVERITIES, enumName: 'EventSeverity', required: false })
  severity?: EventSeverity;

  /** Only events about this VM. */
  @IsOptional()
  @IsUUID()
  vm_id?: string;
}
