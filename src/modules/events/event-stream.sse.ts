import { Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isUUID } from 'class-validator';
import type { AuthUser } from '../../common/auth';
import type { EventStreamQueryDto } from './dto/event-stream-query.dto';
import { EventSink, EventStreamService, StreamScope } from './event-stream.service';
import { EVENT_ERRORS } from './events.errors';

/** Sent once per stream: how long EventSource waits before reconnecting (with Last-Event-ID). */
const RETRY_MS = 3000;
/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** A client this far behind is cut off; it reconnects with Last-Event-ID and replays at its own pace. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

const logger = new Logger('EventStream');

/** The resume point: the Last-Event-ID header (EventSource sends it on reconnect), else ?after_event_id= (or its old name ?last_event_id=). */
export function lastEventId(req: FastifyRequest, query: EventStreamQueryDto): string | undefined {
  const header = req.headers['last-event-id'];
  const raw = (Array.isArray(header) ? header[0] : header) ?? query.after_event_id ?? query.last_event_id;
  if (raw === undefined || raw === '') return undefined;
  if (!isUUID(raw)) throw EVENT_ERRORS.error('events.invalid_last_event_id', 'Last-Event-ID must be an event id (a UUID)');
  return raw.toLowerCase();
}

/**
 * Serves one Server-Sent Events stream: `id:` is the event id, `data:` the event as JSON (the same
 * shape as GET /api/events items). Nothing is written until the subscription exists, so a failure to
 * subscribe is still a problem+json answer. Then the reply is taken over from Fastify (hijacked) and
 * written as a stream on the Node response, with the headers already set for it (CORS, request id).
 */
export async function serveEventStream(
  streams: EventStreamService,
  caller: AuthUser,
  reply: FastifyReply,
  scope: StreamScope,
  resumeAfter?: string,
): Promise<void> {
  const owner = {
    id: caller.id,
    role: caller.role,
    tokenExpiresAt: caller.tokenExpiresAt,
    tokenId: caller.tokenId,
    tokenVersion: caller.tokenVersion,
    apiTokenId: caller.apiTokenId,
  };
  const sub = await streams.subscribe(scope, owner, resumeAfter);
  reply.hijack();
  const res = reply.raw;
  const already = Object.entries(reply.getHeaders()).filter(
    (entry): entry is [string, string | number | string[]] => entry[1] !== undefined,
  );
  res.writeHead(200, {
    ...Object.fromEntries(already),
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(`retry: ${RETRY_MS}\n\n`);

  let open = true;
  const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
  const close = () => {
    if (!open) return;
    open = false;
    clearInterval(heartbeat);
    streams.unsubscribe(sub);
    if (!res.writableEnded) res.end();
  };
  res.on('close', close);
  const sink: EventSink = {
    send: (event) => {
      if (!open) return true;
      const ok = res.write(`id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`);
      if (!ok && res.writableLength > MAX_BUFFERED_BYTES) close();
      return ok;
    },
    drained: () =>
      new Promise<void>((resolve) => {
        if (!open || !res.writableNeedDrain) return resolve();
        res.once('drain', resolve);
        res.once('close', resolve);
      }),
    end: close,
  };
  try {
    await streams.start(sub, sink);
  } catch (err) {
    logger.warn(`Event stream replay failed: ${(err as Error).message}`);
    close();
  }
}
