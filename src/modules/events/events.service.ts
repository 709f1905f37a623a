import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { mapPage, Page, PageQueryDto } from '../../common/pagination';
import { EventQueryDto } from './dto/event-query.dto';
import { EventResponseDto, toEventResponse } from './dto/event-response.dto';
import { Event } from './entities/event.entity';
import { EventsRepository } from './events.repository';
import { EVENT_ACTIONS, RecordEventInput } from './events.types';

export interface EventFilter extends Omit<EventQueryDto, keyof PageQueryDto> {
  user_id?: string;
  since?: Date;
  until?: Date;
}

/**
 * The events of one change, as they will be stored: type and default severity from the action's
 * catalog entry, time-ordered ids and one timestamp.
 */
export function buildEvents(inputs: RecordEventInput[]): Event[] {
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

@Injectable()
export class EventsService {
  constructor(private readonly events: EventsRepository) {}

  /**
   * Records an event inside the caller's transaction, so it exists exactly when the change it
   * describes does.
   */
  async record(manager: EntityManager, input: RecordEventInput): Promise<Event> {
    const [event] = await this.recordAll(manager, [input]);
    return event!;
  }

  /** Records several events of one change with a single INSERT. */
  async recordAll(manager: EntityManager, inputs: RecordEventInput[]): Promise<Event[]> {
    const events = buildEvents(inputs);
    await this.events.insert(manager, events);
    return events;
  }

  /** One event by id (webhook deliveries build their payload from it); null when there is none. */
  async get(id: string): Promise<EventResponseDto | null> {
    const event = await this.events.findById(id);
    return event ? toEventResponse(event) : null;
  }

  /** Newest first, keyset-paginated. */
  async list(filter: EventFilter, page: PageQueryDto): Promise<Page<EventResponseDto>> {
    return mapPage(await this.events.list(filter, page), toEventResponse);
  }
}
