import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mapPage } from '../../common/pagination';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../common/auth';
import { EventQueryDto } from './dto/event-query.dto';
import { EventPage, toUserEventView } from './dto/event-response.dto';
import { EventStreamQueryDto } from './dto/event-stream-query.dto';
import { ApiEventStream } from './event-stream.openapi';
import { EventStreamService } from './event-stream.service';
import { lastEventId, serveEventStream } from './event-stream.sse';
import { EventsService } from './events.service';
import { EVENT_ERRORS } from './events.errors';

@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(
    private readonly events: EventsService,
    private readonly streams: EventStreamService,
  ) {}

  @Get()
  @RequireScope('events:read')
  @ApiOperation({
    operationId: 'listEvents',
    summary: 'The caller’s audit events, newest first',
    description:
      'What happened to your account and your VMs (audit events), newest first, filterable by type, severity and VM; cursor-paginated. Live: GET /api/events/stream.',
  })
  @ApiOkResponse({ type: EventPage, description: 'A page of your events, newest first' })
  @ApiAuth()
  async list(@CurrentUser() caller: AuthUser, @Query() query: EventQueryDto) {
    const { limit, cursor, ...filter } = query;
    return mapPage(await this.events.list({ ...filter, user_id: caller.id }, { limit, cursor }), toUserEventView);
  }

  @Get('stream')
  @RequireScope('events:read')
  @ApiOperation({
    operationId: 'getEventStream',
    summary: 'The caller’s new events as they happen (Server-Sent Events)',
    description:
      'Stays open and pushes each of your events when its change commits, from whichever API process or worker made it. ' +
      'Reconnect with Last-Event-ID (EventSource does) to get what was missed, then live events again. ' +
      'The stream ends when the token expires or the account is deactivated or changes role (within seconds); ' +
      'a user may hold EVENT_STREAMS_PER_USER streams at once per API process (429 with Retry-After beyond).',
  })
  @ApiEventStream()
  @ApiAuth(EVENT_ERRORS.of('events.invalid_last_event_id', 'events.too_many_streams'))
  async stream(
    @CurrentUser() caller: AuthUser,
    @Query() query: EventStreamQueryDto,
    @Req() req: FastifyRequest,
    @Res() res: FastifyReply,
  ): Promise<void> {
    await serveEventStream(this.streams, caller, res, { userId: caller.id }, lastEventId(req, query));
  }
}
