import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { KeysetFilter, keysetPage, mapPage, NEWEST_FIRST, Page, PageQueryDto } from '../../common/pagination';
import { prepared } from '../../database/prepared';
import { SqlParams } from '../../database/sql-params';
import { typedQuery, typedWrite } from '../../database/typed-query';
import type { Event } from './entities/event.entity';
import { EVENT_COLUMNS, eventFromRow, EventRow } from './event-row';
import { EVENTS_CHANNEL } from './events.types';

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

export interface EventListFilter {
  user_id?: string;
  vm_id?: string;
  type?: string;
  severity?: string;
  since?: Date;
  until?: Date;
}

/** The events table: inserts (with their notifications) and the feed. */
@Injectable()
export class EventsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Several events with a single INSERT in the caller's transaction (plain SQL: it is in every write). */
  async insert(m: EntityManager, events: Event[]): Promise<void> {
    if (!events.length) return;
    const params = new SqlParams();
    const tuples = events.map(
      (e) =>
        `(${eventValues(e)
          .map((v) => params.add(v))
          .join(', ')})`,
    );
    await typedWrite(
      m,
      prepared(`WITH inserted AS (
         INSERT INTO events (${EVENT_INSERT_COLUMNS}) VALUES ${tuples.join(', ')} RETURNING id, user_id)
       ${notifySql(params, 'inserted')}`),
      params.values,
    );
  }

  /**
   * The same INSERT as a part of a caller's statement (one round trip for a whole create): the
   * events are inserted once for each row of `from`, a CTE of the caller's (the VM just inserted:
   * no VM, no events). `insert` goes in a WITH clause as `<name> AS (...)`; `notify(name)` is the
   * SELECT that sends insert's notifications for it, to be evaluated by the statement.
   */
  insertPart(params: SqlParams, events: Event[], from: string): { insert: string; notify: (inserted: string) => string } {
    const casts = ['uuid', 'varchar', 'varchar', 'varchar', 'text', 'jsonb', 'uuid', 'uuid', 'uuid', 'timestamptz'];
    const tuples = events.map(
      (e) =>
        `(${eventValues(e)
          .map((v, i) => `${params.add(v)}::${casts[i]}`)
          .join(', ')})`,
    );
    return {
      insert: `INSERT INTO events (${EVENT_INSERT_COLUMNS})
        SELECT e.* FROM ${from} CROSS JOIN (VALUES ${tuples.join(', ')}) AS e RETURNING id, user_id`,
      notify: (inserted) => notifySql(params, inserted),
    };
  }

  /** One event by id; null when there is none. */
  async findById(id: string): Promise<Event | null> {
    const rows = await typedQuery<EventRow>(this.dataSource, prepared(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`), [id]);
    const [row] = rows;
    return row ? eventFromRow(row) : null;
  }

  /** Newest first, keyset-paginated; plain SQL, as the feed is read often and in pages of up to 100. */
  async list(filter: EventListFilter, page: PageQueryDto): Promise<Page<Event>> {
    const f = new KeysetFilter();
    if (filter.user_id) f.add((p) => `user_id = ${p}`, filter.user_id);
    if (filter.vm_id) f.add((p) => `vm_id = ${p}`, filter.vm_id);
    if (filter.type) f.add((p) => `type = ${p}`, filter.type);
    if (filter.severity) f.add((p) => `severity = ${p}`, filter.severity);
    if (filter.since) f.add((p) => `created_at >= ${p}`, filter.since);
    if (filter.until) f.add((p) => `created_at < ${p}`, filter.until);
    const rows = await keysetPage<EventRow>(
      { db: this.dataSource, select: `SELECT ${EVENT_COLUMNS} FROM events`, filter: f },
      NEWEST_FIRST,
      page,
      (r) => [r.created_at, r.id],
    );
    return mapPage(rows, eventFromRow);
  }
}
