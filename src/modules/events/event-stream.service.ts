import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Client, Notification } from 'pg';
import { In, MoreThan, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { AppError } from '../../common/app-error';
import { DATABASE_URL } from '../../database/database.tokens';
import { EventResponseDto, toEventResponse } from './dto/event-response.dto';
import { Event } from './entities/event.entity';
import { EVENTS_CHANNEL, EventNotice } from './events.types';

/** Whose events a stream carries: one user's, or (admins) everyone's. */
export interface StreamScope {
  userId: string | null;
}

/** Where a subscription writes: the SSE response. */
export interface EventSink {
  /** Writes one event; false when the client is not keeping up. */
  send(event: EventResponseDto): boolean;
  /** Resolves once the client has caught up (or gone). */
  drained(): Promise<void>;
  /** Ends the stream (shutdown). */
  end(): void;
}

const REPLAY_PAGE = 500;
/** Ids remembered per subscription to drop duplicates where replay and live delivery overlap. */
const RECENT_IDS = 2000;
const HEALTH_CHECK_MS = 30_000;
const MAX_RECONNECT_DELAY_MS = 30_000;

export class Subscription {
  /** Live events held back while the subscription replays from the table; null once live. */
  buffer: EventResponseDto[] | null = [];
  sink: EventSink | null = null;
  ended = false;
  private readonly recent = new Set<string>();

  constructor(
    readonly scope: StreamScope,
    /** Events after this id are the subscriber's: Last-Event-ID, else a time-ordered id of "now". */
    public cursor: string,
  ) {}

  wants(userId: string | null): boolean {
    return this.scope.userId === null || this.scope.userId === userId;
  }

  /** Whether the event is new to this subscriber (and remembers it). */
  fresh(id: string): boolean {
    if (this.recent.has(id)) return false;
    this.recent.add(id);
    if (this.recent.size > RECENT_IDS) this.recent.delete(this.recent.values().next().value as string);
    if (id > this.cursor) this.cursor = id;
    return true;
  }
}

/**
 * Live event streams for this process. One dedicated PostgreSQL connection LISTENs on the events
 * channel (EventsService.record NOTIFYs inside each event's transaction, so every API process hears
 * every committed event); notifications are fanned out in memory to the subscriptions that want them.
 *
 * A subscription first replays from the table every event after its cursor (Last-Event-ID, or the
 * moment it subscribed), holding live events back meanwhile, then goes live; duplicates of the overlap
 * are dropped. When the LISTEN connection drops it reconnects with backoff and each subscription
 * catches up from its cursor the same way. Event ids are UUIDv7 (time-ordered), so "after" is `id >`.
 */
@Injectable()
export class EventStreamService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(EventStreamService.name);
  private readonly subscriptions = new Set<Subscription>();
  private client: Client | null = null;
  private connecting: Promise<void> | null = null;
  private reconnectTimer?: NodeJS.Timeout;
  private healthTimer?: NodeJS.Timeout;
  private failures = 0;
  private closed = false;
  private pending: EventNotice[] = [];
  private flushScheduled = false;
  private delivering: Promise<void> = Promise.resolve();

  constructor(
    @Inject(DATABASE_URL) private readonly url: string,
    @InjectRepository(Event) private readonly events: Repository<Event>,
  ) {}

  get size(): number {
    return this.subscriptions.size;
  }

  /**
   * Registers a subscription once this process is LISTENing. Throws (before the caller has written
   * anything) when the database cannot be reached or the app is shutting down.
   */
  async subscribe(scope: StreamScope, lastEventId?: string): Promise<Subscription> {
    // Taken before LISTEN starts: the replay from this cursor covers anything committed meanwhile.
    const cursor = lastEventId ?? uuidv7();
    if (this.closed) throw new AppError(503, 'service.unavailable', 'The server is shutting down');
    try {
      await this.listen();
    } catch (err) {
      this.logger.warn(`Cannot LISTEN for events: ${(err as Error).message}`);
      throw new AppError(503, 'service.unavailable', 'Live events are unavailable right now; try again shortly');
    }
    const sub = new Subscription(scope, cursor);
    this.subscriptions.add(sub);
    return sub;
  }

  /** Replays what the subscriber missed into `sink`, then delivers live events as they come. */
  async start(sub: Subscription, sink: EventSink): Promise<void> {
    sub.sink = sink;
    if (sub.ended) return sink.end();
    await this.catchUp(sub);
  }

  unsubscribe(sub: Subscription): void {
    sub.ended = true;
    this.subscriptions.delete(sub);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.healthTimer);
    for (const sub of [...this.subscriptions]) {
      this.unsubscribe(sub);
      sub.sink?.end();
    }
    const client = this.client;
    this.client = null;
    await this.connecting?.catch(() => undefined);
    await client?.end().catch(() => undefined);
  }

  // --- replay ------------------------------------------------------------------------------------

  /** Everything after the cursor from the table, page by page at the client's pace, then the held-back live events. */
  private async catchUp(sub: Subscription): Promise<void> {
    sub.buffer ??= [];
    try {
      for (;;) {
        const rows = await this.events.find({
          where: { id: MoreThan(sub.cursor), ...(sub.scope.userId ? { userId: sub.scope.userId } : {}) },
          order: { id: 'ASC' },
          take: REPLAY_PAGE,
        });
        for (const row of rows) {
          if (sub.ended) return;
          if (!this.deliver(sub, toEventResponse(row))) await sub.sink!.drained();
        }
        if (rows.length < REPLAY_PAGE) break;
      }
    } finally {
      const held = sub.buffer ?? [];
      sub.buffer = null;
      for (const event of held) this.deliver(sub, event);
    }
  }

  private deliver(sub: Subscription, event: EventResponseDto): boolean {
    if (sub.ended || !sub.sink || !sub.fresh(event.id)) return true;
    return sub.sink.send(event);
  }

  // --- LISTEN --------------------------------------------------------------------------------------

  private async listen(): Promise<void> {
    if (this.client) return;
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    await this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.url, application_name: 'vmapi-events', keepAlive: true });
    // Attached before connecting: an 'error' without a listener would crash the process.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg) => this.onNotification(msg));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      if (this.closed) throw new Error('shutting down');
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    this.failures = 0;
    // A silently dead TCP connection would otherwise go unnoticed until the next notification that never comes.
    this.healthTimer = setInterval(() => void client.query('SELECT 1').catch((err: Error) => this.lost(client, err)), HEALTH_CHECK_MS);
  }

  private lost(client: Client, err?: Error): void {
    if (this.client !== client) return;
    this.client = null;
    clearInterval(this.healthTimer);
    client.removeAllListeners('notification');
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.logger.warn(`LISTEN connection lost${err ? `: ${err.message}` : ''}; reconnecting`);
    this.scheduleReconnect();
  }

  /** With no subscriber left there is nothing to catch up: the next subscribe connects. */
  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.closed || this.subscriptions.size === 0) return;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, 500 * 2 ** this.failures++);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.listen().then(
        () => {
          for (const sub of this.subscriptions) {
            if (sub.buffer === null && sub.sink) void this.catchUp(sub).catch((e: Error) => this.streamFailed(sub, e));
          }
        },
        (e: Error) => {
          this.logger.warn(`Reconnecting the LISTEN connection failed: ${e.message}`);
          this.scheduleReconnect();
        },
      );
    }, delay);
  }

  private streamFailed(sub: Subscription, err: Error): void {
    this.logger.warn(`Ending an event stream: ${err.message}`);
    this.unsubscribe(sub);
    sub.sink?.end();
  }

  // --- fan-out -------------------------------------------------------------------------------------

  private onNotification(msg: Notification): void {
    let notice: EventNotice;
    try {
      notice = JSON.parse(msg.payload ?? '') as EventNotice;
    } catch {
      return;
    }
    if (![...this.subscriptions].some((s) => s.wants(notice.u))) return;
    this.pending.push(notice);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One read for every notification that arrived meanwhile; batches are delivered in order.
    this.delivering = this.delivering.then(() => this.flush()).catch((err: Error) => this.logger.warn(`Event fan-out failed: ${err.message}`));
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending.splice(0);
    if (!batch.length) return;
    const rows = await this.events.find({ where: { id: In(batch.map((n) => n.id)) }, order: { id: 'ASC' } });
    for (const row of rows) {
      const event = toEventResponse(row);
      for (const sub of this.subscriptions) {
        if (!sub.wants(row.userId)) continue;
        if (sub.buffer) sub.buffer.push(event);
        else this.deliver(sub, event);
      }
    }
  }
}
