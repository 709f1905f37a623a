import { ApiHideProperty } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';

export class EventStreamQueryDto {
  /** Resume after this event id, for clients that cannot send the Last-Event-ID header (which wins). */
  @IsOptional()
  @IsString()
  after_event_id?: string;

  /**
   * The first name of after_event_id, still accepted. Not documented: generators turn a query
   * `last_event_id` and the `Last-Event-ID` header into one parameter name and then refuse the document.
   */
  @ApiHideProperty()
  @IsOptional()
  @IsString()
  last_event_id?: string;
}
