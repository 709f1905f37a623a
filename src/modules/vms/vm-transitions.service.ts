import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { EventsService } from '../events/events.service';
import type { RecordEventInput } from '../events/events.types';
import type { VmStatus } from './vm-state';
import { TransitionedRow, TransitionGuard, VmsRepository } from './vms.repository';

/** Seconds of the current run, added to the accumulated uptime when a VM stops running. */
export const ADD_CURRENT_RUN = `uptime_seconds + COALESCE(floor(extract(epoch FROM now() - last_started_at))::int, 0)`;

/** Assignments for a VM that starts running; $3..$5 are its ip address, ssh port and host. */
export const STARTED_SET = `last_started_at = now(), ip_address = $3, ssh_port = $4, host = $5`;

/** Assignments for a VM that stops running normally: bank the current run, drop the connection. */
export const STOPPED_SET = `uptime_seconds = ${ADD_CURRENT_RUN}, last_started_at = NULL, ip_address = NULL, ssh_port = NULL`;

/** Assignments for a VM that becomes `failed`: bank the current run (the connection is kept for diagnosis). */
export const FAILED_SET = `uptime_seconds = ${ADD_CURRENT_RUN}, last_started_at = NULL`;

export type { TransitionedRow, TransitionGuard };

export interface Transition {
  id: string;
  from: VmStatus;
  to: VmStatus;
  /** More assignments (one of the *_SET above), whose placeholders start at $3 and take `params`. */
  set?: string;
  params?: unknown[];
  guard?: TransitionGuard;
  /** More writes of the same transaction, made only if the transition applied (a destroy removes the VM's snapshots). */
  also?: (m: EntityManager, row: TransitionedRow) => Promise<void>;
}

/**
 * Status changes as single conditional UPDATEs, shared by the worker (operation outcomes) and the
 * reconciler (drift, stuck VMs): the row changes only if it is still in the status the caller saw,
 * so a concurrent change always wins over a stale one.
 */
@Injectable()
export class VmTransitionsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly vms: VmsRepository,
    private readonly events: EventsService,
  ) {}

  /**
   * The transition and the event describing it, in one transaction; the event is recorded only if
   * the transition applied. Returns the row, or null when the VM had moved on.
   */
  apply(t: Transition, event: (row: TransitionedRow) => RecordEventInput): Promise<TransitionedRow | null> {
    return this.applyWithEvents(t, (row) => [event(row)]);
  }

  /**
   * As `apply`, for a transition described by several events (the worker's first boot: the
   * transition's and `vm.user_data_finished`), all recorded in its transaction, or none.
   */
  applyWithEvents(t: Transition, events: (row: TransitionedRow) => RecordEventInput[]): Promise<TransitionedRow | null> {
    return this.dataSource.transaction(async (m) => {
      const row = await this.vms.transition(m, t);
      if (!row) return null;
      await t.also?.(m, row);
      await this.events.recordAll(m, events(row));
      return row;
    });
  }
}
