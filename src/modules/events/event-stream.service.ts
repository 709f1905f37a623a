import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectRepository } from '@nestjs/typeorm';
import { In, MoreThan, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { DATABASE_URL } from '../../database/database.tokens';
import { PgListener } from '../../database/pg-listener';
import { EventResponseDto, toEventResponse, toUserEventView } from './dto/event-response.dto';
import { Event } from './entities/event.entity';
import { EVENTS_CHANNEL, EventNotice } from './events.types';
import type { Env } from '../../config/env.validation';
import type { UserRole } from '../../common/auth';
import { EVENT_ERRORS } from './events.errors';
import { COMMON_ERRORS } from '../../common/common.errors';

/** Whose events a stream carries: one user's, or (admins) everyone's. */
export interface StreamScope {
  userId: string | null;
}

/**
 * Who holds a stream, as authorized when it opened. The stream ends when that stops being true: the
 * token expires (checked here), or the user is deactivated, deleted or changes role, or the token is
 * ended (logout, password change, sign out everywhere; an API token revoked or expired: see `revoke`).
 */
export interface StreamOwner {
  id: string;
  role: UserRole;
  /** The token's expiry, ms since the epoch. */
  tokenExpiresAt?: number;
  /** The token's id (`jti`) and token version. */
  tokenId?: string;
  tokenVersion?: number;
  /** The API token the stream was opened with, if any: the stream ends when it is revoked or expires. */
  apiTokenId?: string;
}

/** The stream owner as they are now (null = inactive or gone): see EventStreamService.revoke. */
export interface CurrentOwner {
  role: UserRole;
  tokenVersion: number;
  revokedJtis: ReadonlySet<string>;
  /** The owner's API tokens, expired ones included (see Identity.apiTokens). */
  apiTokens: ReadonlyMap<string, { expiresAt: number | null }>;
}

function stillAuthorized(owner: StreamOwner, current: CurrentOwner): boolean {
  if (current.role !== owner.role) return false;
  if (owner.apiTokenId !== undefined) {
    const grant = current.apiTokens.get(owner.apiTokenId);
    return grant !== undefined && (grant.expiresAt === null || grant.expiresAt > Date.now());
  }
  if (owner.tokenVersion !== undefined && owner.tokenVersion !== current.tokenVersion) return false;
  return owner.tokenId === undefined || !current.revokedJtis.has(owner.tokenId);
}

/** How often expired tokens' streams are looked for: a stream outlives its token by at most this. */
const EXPIRY_SWEEP_MS = 1000;
/** Retry-After of the 429 for one stream too many: streams are long-lived, so not "at once". */
export const STREAM_CAP_RETRY_AFTER_SECONDS = 30;

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

export class Subscription {
  /** Live events held back while the subscription replays from the table; null once live. */
  buffer: EventResponseDto[] | null = [];
  sink: EventSink | null = null;
  ended = false;
  private readonly recent = new Set<string>();

  constructor(
    readonly scope: StreamScope,
    readonly owner: StreamOwner,
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
  private readonly listener: PgListener;
  private closed = false;
  private pending: EventNotice[] = [];
  private flushScheduled = false;
  private delivering: Promise<void> = Promise.resolve();
  private expirySweep?: NodeJS.Timeout;
  private readonly perUser: number;

  constructor(
    @Inject(DATABASE_URL) url: string,
    @InjectRepository(Event) private readonly events: Repository<Event>,
    config: ConfigService<Env, true>,
  ) {
    this.perUser = config.get('EVENT_STREAMS_PER_USER', { infer: true });
    this.listener = new PgListener({
      url,
      applicationName: 'vmapi-events',
      channel: EVENTS_CHANNEL,
      onNotification: (payload) => this.onNotification(payload),
      // Each live subscription catches up from its cursor what was committed while the connection was down.
      onReconnected: () => {
        for (const sub of this.subscriptions) {
          if (sub.buffer === null && sub.sink) void this.catchUp(sub).catch((e: Error) => this.streamFailed(sub, e));
        }
      },
      // With no subscriber left there is nothing to catch up: the next subscribe connects.
      wanted: () => this.subscriptions.size > 0,
    });
  }

  get size(): number {
    return this.subscriptions.size;
  }

  /**
   * Registers a subscription once this process is LISTENing. Throws (before the caller has written
   * anything) when the database cannot be reached, the app is shutting down, or the owner already
   * holds EVENT_STREAMS_PER_USER streams on this process (429).
   */
  async subscribe(scope: StreamScope, owner: StreamOwner, lastEventId?: string): Promise<Subscription> {
    // Taken before LISTEN starts: the replay from this cursor covers anything committed meanwhile.
    const cursor = lastEventId ?? uuidv7();
    if (this.closed) throw COMMON_ERRORS.error('service.unavailable', 'The server is shutting down');
    try {
      await this.listener.start();
    } catch (err) {
      this.logger.warn(`Cannot LISTEN for events: ${(err as Error).message}`);
      throw COMMON_ERRORS.error('service.unavailable', 'Live events are unavailable right now; try again shortly');
    }
    // Counted and added with no await in between, so concurrent opens cannot overshoot the cap.
    const held = [...this.subscriptions].filter((s) => s.owner.id === owner.id).length;
    if (held >= this.perUser) {
      throw EVENT_ERRORS.error(
        'events.too_many_streams',
        `At most ${this.perUser} live event streams per user at once; close one (or retry after the Retry-After seconds)`,
        { limit: this.perUser },
        { 'Retry-After': String(STREAM_CAP_RETRY_AFTER_SECONDS) },
      );
    }
    const sub = new Subscription(scope, owner, cursor);
    this.subscriptions.add(sub);
    this.expirySweep ??= setInterval(() => this.endExpired(), EXPIRY_SWEEP_MS).unref();
    return sub;
  }

  /** Users holding a stream on this process. */
  ownerIds(): string[] {
    return [...new Set([...this.subscriptions].map((s) => s.owner.id))];
  }

  /**
   * Ends the streams of `userId` that `current` (the user as they are now; null = inactive or gone)
   * no longer authorizes: all of them when null; otherwise those opened under another role, with a
   * token of another version, or with a token ended by logout.
   */
  revoke(userId: string, current: CurrentOwner | null): number {
    let ended = 0;
    for (const sub of [...this.subscriptions]) {
      if (sub.owner.id !== userId || (current && stillAuthorized(sub.owner, current))) continue;
      this.end(sub);
      ended++;
    }
    return ended;
  }

  private endExpired(): void {
    const now = Date.now();
    for (const sub of [...this.subscriptions]) {
      if (sub.owner.tokenExpiresAt !== undefined && sub.owner.tokenExpiresAt <= now) this.end(sub);
    }
    if (!this.subscriptions.size) {
      clearInterval(this.expirySweep);
      this.expirySweep = undefined;
    }
  }

  private end(sub: Subscription): void {
    this.unsubscribe(sub);
    sub.sink?.end();
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
    clearInterval(this.expirySweep);
    for (const sub of [...this.subscriptions]) this.end(sub);
    await this.listener.close();
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
    return sub.sink.send(sub.scope.userId === null ? event : toUserEventView(event));
  }

  private streamFailed(sub: Subscription, err: Error): void {
    this.logger.warn(`Ending an event stream: ${err.message}`);
    this.end(sub);
  }

  // --- fan-out -------------------------------------------------------------------------------------

  private onNotification(payload: string): void {
    let notice: EventNotice;
    try {
      notice = JSON.parse(payload) as EventNotice;
    } catch {
      return;
    }
    if (![...this.subscriptions].some((s) => s.wants(notice.u))) return;
    this.pending.push(notice);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One read for every notification that arrived meanwhile; batches are delivered in order.
    this.delivering = this.delivering
      .then(() => this.flush())
      .catch((err: Error) => this.logger.warn(`Event fan-out failed: ${err.message}`));
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
