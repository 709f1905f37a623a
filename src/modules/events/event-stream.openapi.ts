import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiHeader, ApiOkResponse, ApiProduces, getSchemaPath } from '@nestjs/swagger';
import { headerRefs } from '../../common/response-headers';
import { EventResponseDto } from './dto/event-response.dto';

/** The OpenAPI description shared by the user and admin event streams. */
export function ApiEventStream() {
  return applyDecorators(
    ApiExtraModels(EventResponseDto),
    ApiProduces('text/event-stream'),
    ApiHeader({
      name: 'Last-Event-ID',
      required: false,
      description: 'Resume after this event id: the missed events are replayed first. EventSource sends it by itself when it reconnects.',
    }),
    ApiOkResponse({
      description:
        'A Server-Sent Events stream that stays open. Each message: `id:` the event id, `data:` the event as JSON ' +
        `(schema ${getSchemaPath(EventResponseDto)}). A \`: ping\` comment every 15 s keeps it alive.`,
      headers: headerRefs('Cache-Control', 'X-Accel-Buffering'),
      content: {
        'text/event-stream': {
          schema: { type: 'string' },
          example: 'retry: 3000\n\nid: 019ab1c2-...\ndata: {"id":"019ab1c2-...","type":"vm","action":"vm.provisioned",...}\n\n',
        },
      },
    }),
  );
}
