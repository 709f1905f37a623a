import { IsOptional, IsString } from 'class-validator';

export class EventStreamQueryDto {
  /** Resume after this event id, for clients that cannot send the Last-Event-ID header (which wins). */
  @IsOptional() @IsString()
  last_event_id?: string;
}
