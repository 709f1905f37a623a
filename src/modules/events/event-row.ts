import type { Event } from './entities/event.entity';

/** Every column of the events table, for plain-SQL reads. */
export const EVENT_COLUMNS = 'id, type, action, severity, message, details, user_id, vm_id, actor_id, created_at';

export interface EventRow {
  id: string;
  type: Event['type'];
  action: string;
  severity: Event['severity'];
  message: string;
  details: Record<string, any>;
  user_id: string | null;
  vm_id: string | null;
  actor_id: string | null;
  created_at: Date;
}

/** A row of EVENT_COLUMNS as the entity TypeORM would have hydrated. */
export function eventFromRow(r: EventRow): Event {
  return {
    id: r.id,
    type: r.type,
    action: r.action,
    severity: r.severity,
    message: r.message,
    details: r.details,
    userId: r.user_id,
    vmId: r.vm_id,
    actorId: r.actor_id,
    createdAt: r.created_at,
  };
}
