import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Page, PageQueryDto, paginateSql, SqlConditions } from '../../common/pagination';
import { EventQueryDto } from './dto/event-query.dto';
import { EventResponseDto, toEventResponse } from './dto/event-response.dto';
import { Event } from './entities/event.entity';
import { EVENT_COLUMNS, eventFromRow, EventRow } from './event-row';
import { EVENT_ACTIONS, EVENTS_CHANNEL, RecordEventInput } from './events.types';
import { prepared } from '../../database/prepared';
import { SqlParams } from '../../database/sql-params';

const EVENT_INSERT_COLUMNS = 'id, type, action, severity, message, details, user_id, vm_id, actor_id, created_at';

function eventValues(e: Event): unknown[] {
  return [e.id, e.type, e.action, e.severity, e.message, JSON.stringify(e.details), e.userId, e.vmId, e.actorId, e.createdAt];
}

/**
 * The notice rides on the INSERT (no round trip of its own): live streams in every API process learn
 * of the events by LISTEN, and PostgreSQL delivers notifications on commit only, so a rolled-back
 * change is never streamed. Payload: EventNotice {id, u}.
 */
function notifySql(params: SqlParams, inserted: string): string {
  return `SELECT pg_notify(${params.add(EVENTS_CHANNEL)}, json_build_object('id', id, 'u', user_id)::text) FROM ${inserted} ORDER BY id`;
}

export interface EventFilter extends Omit<EventQueryDto, keyof PageQueryDto> {
  user_id?: string;
  since?: Date;
  until?: Date;
}

@Injectable()
export class EventsService {
  constructor(@InjectRepository(Event) private readonly events: Repository<Event>) {}

  /**
   * Records an event inside the caller's transaction, so it exists exactly when the change it
   * describes does.
   */
  async record(manager: EntityManager, input: RecordEventInput): Promise<Event> {
    const [event] = await this.recordAll(manager, [input]);
    return event;
  }

  /** Records several events of one change with a single INSERT (plain SQL: it is in every write). */
  async recordAll(manager: EntityManager, inputs: RecordEventInput[]): Promise<Event[]> {
    if (!inputs.length) return [];
    const params = new SqlParams();
    const events = this.build(inputs);
    const tuples = events.map((e) => `(${eventValues(e).map((v) => params.add(v)).join(', ')})`);
    await manager.query(
      prepared(`WITH inserted AS (
         INSERT INTO events (${EVENT_INSERT_COLUMNS}) VALUES ${tuples.join(', ')} RETURNING id, user_id)
       ${notifySql(params, 'inserted')}`),
      params.values,
    );
    return events;
  }

  /**
   * The same INSERT as a part of a caller's statement (one round trip for a whole create): the
   * events are inserted once for each row of `from`, a CTE of the caller's (the VM just inserted:
   * no VM, no events). `insert` goes in a WITH clause as `<name> AS (...)`; `notify(name)` is the
   * SELECT that sends recordAll's notifications for it, to be evaluated by the statement.
   */
  insertPart(params: SqlParams, inputs: RecordEventInput[], from: string): { events: Event[]; insert: string; notify: (inserted: string) => string } {
    const events = this.build(inputs);
    const casts = ['uuid', 'varchar', 'varchar', 'varchar', 'text', 'jsonb', 'uuid', 'uuid', 'uuid', 'timestamptz'];
    const tuples = events.map((e) => `(${eventValues(e).map((v, i) => `${params.add(v)}::${casts[i]}`).join(', ')})`);
    return {
      events,
      insert: `INSERT INTO events (${EVENT_INSERT_COLUMNS})
        SELECT e.* FROM ${from} CROSS JOIN (VALUES ${tuples.join(', ')}) AS e RETURNING id, user_id`,
      notify: (inserted) => notifySql(params, inserted),
    };
  }

  private build(inputs: RecordEventInput[]): Event[] {
    // Stamped now, not at the transaction's start (now()): with UUIDv7 ids, (created_at, id) order is
    // the order in which events were recorded, across concurrent transactions too.
    const createdAt = new Date();
    return inputs.map((input): Event => {
      const def = EVENT_ACTIONS[input.action];
      return {
        // Time-ordered ids keep events of one transaction (same created_at) in the order recorded.
        id: uuidv7(),
        type: def.type,
        action: input.action,
        severity: input.severity ?? def.severity,
        message: input.message,
        details: input.details ?? {},
        userId: input.userId ?? null,
        vmId: input.vmId ?? null,
        actorId: input.actorId ?? null,
        createdAt,
      };
    });
  }

  /** Newest first, keyset-paginated; plain SQL (see paginateSql), as the feed is read often and in pages of up to 100. */
  async list(filter: EventFilter, page: PageQueryDto): Promise<Page<EventResponseDto>> {
    const c = new SqlConditions();
    if (filter.user_id) c.add((p) => `user_id = ${p}`, filter.user_id);
    if (filter.vm_id) c.add((p) => `vm_id = ${p}`, filter.vm_id);
    if (filter.type) c.add((p) => `type = ${p}`, filter.type);
    if (filter.severity) c.add((p) => `severity = ${p}`, filter.severity);
    if (filter.since) c.add((p) => `created_at >= ${p}`, filter.since);
    if (filter.until) c.add((p) => `created_at < ${p}`, filter.until);
    return paginateSql(this.events, { select: `SELECT ${EVENT_COLUMNS} FROM events`, where: c.where, params: c.params }, page, (r: EventRow) =>
      toEventResponse(eventFromRow(r)),
    );
  }
}
