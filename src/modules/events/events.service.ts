import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Page, mapPage, paginate, PageQueryDto } from '../../common/pagination';
import { EventQueryDto } from './dto/event-query.dto';
import { EventResponseDto, toEventResponse } from './dto/event-response.dto';
import { Event } from './entities/event.entity';
import { EVENT_ACTIONS, EVENTS_CHANNEL, EventNotice, RecordEventInput } from './events.types';

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
    const def = EVENT_ACTIONS[input.action];
    const event = await manager.getRepository(Event).save(
      manager.getRepository(Event).create({
        // Time-ordered id and a timestamp taken now (not the transaction's start, like now()):
        // the feed's (created_at, id) order is the order in which events were recorded.
        id: uuidv7(),
        createdAt: new Date(),
        type: def.type,
        action: input.action,
        severity: input.severity ?? def.severity,
        message: input.message,
        details: input.details ?? {},
        userId: input.userId ?? null,
        vmId: input.vmId ?? null,
        actorId: input.actorId ?? null,
      }),
    );
    // Live streams in every API process learn of it by LISTEN; PostgreSQL delivers the notification
    // on commit only, so a rolled-back change is never streamed.
    const notice: EventNotice = { id: event.id, u: event.userId };
    await manager.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, JSON.stringify(notice)]);
    return event;
  }

  /** Newest first, keyset-paginated. */
  async list(filter: EventFilter, page: PageQueryDto): Promise<Page<EventResponseDto>> {
    const qb = this.events.createQueryBuilder('e');
    if (filter.user_id) qb.andWhere('e.user_id = :userId', { userId: filter.user_id });
    if (filter.vm_id) qb.andWhere('e.vm_id = :vmId', { vmId: filter.vm_id });
    if (filter.type) qb.andWhere('e.type = :type', { type: filter.type });
    if (filter.severity) qb.andWhere('e.severity = :severity', { severity: filter.severity });
    if (filter.since) qb.andWhere('e.created_at >= :since', { since: filter.since });
    if (filter.until) qb.andWhere('e.created_at < :until', { until: filter.until });
    return mapPage(await paginate(qb, page), toEventResponse);
  }
}
