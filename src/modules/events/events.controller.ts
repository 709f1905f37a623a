import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuth } from '../../common/api-errors.decorator';
import { PageOf } from '../../common/pagination';
import { AuthUser, CurrentUser } from '../auth/auth.decorators';
import { EventQueryDto } from './dto/event-query.dto';
import { EventResponseDto } from './dto/event-response.dto';
import { EventsService } from './events.service';

export const EventPage = PageOf(EventResponseDto);

@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Get()
  @ApiOperation({ operationId: 'listEvents', summary: 'The caller’s audit events, newest first' })
  @ApiOkResponse({ type: EventPage })
  @ApiAuth(400)
  list(@CurrentUser() caller: AuthUser, @Query() query: EventQueryDto) {
    const { limit, cursor, ...filter } = query;
    return this.events.list({ ...filter, user_id: caller.id }, { limit, cursor });
  }
}
