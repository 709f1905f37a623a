import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiAuth, AuthUser, CurrentUser, RequireScope, Roles } from '../../common/auth';
import { EventStreamQueryDto } from './dto/event-stream-query.dto';
import { ApiEventStream } from './event-stream.openapi';
import { EventStreamService } from './event-stream.service';
import { lastEventId, serveEventStream } from './event-stream.sse';
import { EVENT_ERRORS } from './events.errors';

/** Every user's events, live: the admin counterpart of GET /api/events/stream. */
@ApiTags('admin')
@Roles('admin')
@Controller('admin/events')
export class AdminEventStreamController {
  constructor(private readonly streams: EventStreamService) {}

  @Get('stream')
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminGetEventStream',
    summary: 'All new events as they happen (Server-Sent Events)',
    description:
      'Like GET /api/events/stream, for every user’s events. Resumable with Last-Event-ID. Ends within seconds when the ' +
      'caller stops being an active admin or the token expires.',
  })
  @ApiEventStream()
  @ApiAuth(EVENT_ERRORS.of('events.invalid_last_event_id', 'events.too_many_streams'))
  async stream(
    @CurrentUser() caller: AuthUser,
    @Query() query: EventStreamQueryDto,
    @Req() req: FastifyRequest,
    @Res() res: FastifyReply,
  ): Promise<void> {
    await serveEventStream(this.streams, caller, res, { userId: null }, lastEventId(req, query));
  }
}
