import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The last run of one periodic task (a host's reconcile or sampling pass, a fleet-wide sweep): the
 * claim that makes it run once per interval however many processes share it (PeriodicService).
 */
@Entity('periodic_runs')
export class PeriodicRun {
  /** The task: `vm-reconcile.<host>`, `metrics-collect.<host>`, `host-watch`, ... */
  @PrimaryColumn({ type: 'varchar', length: 200 })
  name: string;

  /** When the current (or last) run was claimed. */
  @Column({ name: 'started_at', type: 'timestamptz', precision: 3 })
  startedAt: Date;

  /** When it ended; null while it runs (or since its process died, until the run expires). */
  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;

  /** Which process claimed it: HOST_NAME and pid. */
  @Column({ name: 'run_by', type: 'varchar', length: 120 })
  runBy: string;
}
