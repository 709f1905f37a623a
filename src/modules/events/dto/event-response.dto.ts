import { ApiProperty } from '@nestjs/swagger';
import { PageOf } from '../../../common/pagination';
import { EVENT_SEVERITIES, EVENT_TYPES, type Event, type EventSeverity, type EventType } from '../entities/event.entity';

export class EventResponseDto {
  id: string;

  @ApiProperty({ enum: EVENT_TYPES, enumName: 'EventType' })
  type: EventType;

  /** Dotted action name, e.g. `vm.create`. */
  @ApiProperty({ example: 'vm.create' })
  action: string;

  @ApiProperty({ enum: EVENT_SEVERITIES, enumName: 'EventSeverity' })
  severity: EventSeverity;

  message: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  details: Record<string, unknown>;

  @ApiProperty({ type: String, nullable: true, format: 'uuid' })
  user_id: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'uuid' })
  vm_id: string | null;

  /** Who caused it, when not the user themselves (an admin). */
  @ApiProperty({ type: String, nullable: true, format: 'uuid' })
  actor_id: string | null;

  created_at: Date;
}

export function toEventResponse(e: Event): EventResponseDto {
  return {
    id: e.id,
    type: e.type,
    action: e.action,
    severity: e.severity,
    message: e.message,
    details: e.details,
    user_id: e.userId,
    vm_id: e.vmId,
    actor_id: e.actorId,
    created_at: e.createdAt,
  };
}

/** Details only admins see: which hypervisor host runs a VM is the operator's business, never a user's. */
const ADMIN_ONLY_DETAILS = ['host'];

/** An event as its user sees it (their feed and stream): without the admin-only details. */
export function toUserEventView(e: EventResponseDto): EventResponseDto {
  if (!ADMIN_ONLY_DETAILS.some((key) => key in e.details)) return e;
  const details = { ...e.details };
  for (const key of ADMIN_ONLY_DETAILS) delete details[key];
  return { ...e, details };
}

/** A page of events (user and admin feeds). */
export const EventPage = PageOf(EventResponseDto);
