import type { DataSource, EntityManager } from 'typeorm';
import type { EventsService } from '../events/events.service';
import type { RecordEventInput } from '../events/events.types';
import type { VmStatus } from './vm-state';
import { prepared } from '../../database/prepared';

/**
 * Status changes as single conditional UPDATEs, shared by the worker (operation outcomes) and the
 * reconciler (drift, stuck VMs): the row changes only if it is still in the status the caller saw,
 * so a concurrent change always wins over a stale one.
 */

/** Seconds of the current run, added to the accumulated uptime when a VM stops running. */
export const ADD_CURRENT_RUN = `uptime_seconds + COALESCE(floor(extract(epoch FROM now() - last_started_at))::int, 0)`;

/** Assignments for a VM that starts running; $3..$5 are its ip address, ssh port and host. */
export const STARTED_SET = `last_started_at = now(), ip_address = $3, ssh_port = $4, host = $5`;

/** Assignments for a VM that stops running normally: bank the current run, drop the connection. */
export const STOPPED_SET = `uptime_seconds = ${ADD_CURRENT_RUN}, last_started_at = NULL, ip_address = NULL, ssh_port = NULL`;

/** Assignments for a VM that becomes `failed`: bank the current run (the connection is kept for diagnosis). */
export const FAILED_SET = `uptime_seconds = ${ADD_CURRENT_RUN}, last_started_at = NULL`;

export interface TransitionGuard {
  /** Only if the status has not changed since this instant (the reader's `status_changed_at`). */
  statusChangedAt?: Date;
  /** Only if no worker holds the VM's operation lease. */
  unleased?: boolean;
}

export interface TransitionedRow {
  id: string;
  user_id: string;
  name: string;
}

/**
 * Moves VM `id` from `from` to `to` (plus the `set` assignments, whose placeholders start at $3 and
 * take `params`) if it is still in `from` and the guard holds. Returns the row, or null when it was not.
 */
export async function transitionVm(
  m: EntityManager,
  id: string,
  from: VmStatus,
  to: VmStatus,
  set = '',
  params: unknown[] = [],
  guard: TransitionGuard = {},
): Promise<TransitionedRow | null> {
  const values: unknown[] = [id, from, ...params];
  let where = 'id = $1 AND status = $2';
  if (guard.statusChangedAt) {
    values.push(guard.statusChangedAt);
    where += ` AND status_changed_at = $${values.length}`;
  }
  if (guard.unleased) where += ' AND (locked_by IS NULL OR locked_until < now())';
  values.push(to);
  const [rows] = await m.query(
    prepared(`UPDATE vms SET status = $${values.length}, status_changed_at = now(), updated_at = now()${set ? `, ${set}` : ''}
      WHERE ${where} RETURNING id, user_id, name`),
    values,
  );
  return (rows as TransitionedRow[])[0] ?? null;
}

export interface Transition {
  id: string;
  from: VmStatus;
  to: VmStatus;
  set?: string;
  params?: unknown[];
  guard?: TransitionGuard;
  /** More writes of the same transaction, made only if the transition applied. */
  also?: (m: EntityManager, row: TransitionedRow) => Promise<void>;
}

/**
 * transitionVm and the event describing it, in one transaction; the event is recorded only if the
 * transition applied. Returns the row, or null when the VM had moved on.
 */
export function transitionWithEvent(
  db: DataSource,
  events: EventsService,
  t: Transition,
  event: (row: TransitionedRow) => RecordEventInput,
): Promise<TransitionedRow | null> {
  return db.transaction(async (m) => {
    const row = await transitionVm(m, t.id, t.from, t.to, t.set, t.params, t.guard);
    if (row) {
      await t.also?.(m, row);
      await events.record(m, event(row));
    }
    return row;
  });
}
