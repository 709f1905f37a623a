import { Check, Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A hypervisor host: registered and kept alive by its worker processes, drained by admins. */
@Entity('hosts')
@Check('hosts_capacity_positive', `"cpu_cores" > 0 AND "ram_mb" > 0 AND "disk_gb" > 0`)
export class Host {
  /** HOST_NAME of its workers. */
  @PrimaryColumn({ type: 'varchar', length: 100 })
  name: string;

  @Column({ name: 'cpu_cores', type: 'integer' })
  cpuCores: number;

  @Column({ name: 'ram_mb', type: 'integer' })
  ramMb: number;

  @Column({ name: 'disk_gb', type: 'integer' })
  diskGb: number;

  @Column({ name: 'cpu_allocation_ratio', type: 'double precision' })
  cpuAllocationRatio: number;

  @Column({ name: 'ram_allocation_ratio', type: 'double precision' })
  ramAllocationRatio: number;

  @Column({ name: 'disk_allocation_ratio', type: 'double precision' })
  diskAllocationRatio: number;

  /**
   * RAM its VMs hold, for ordering placement's shortlist only: added to by placement, recomputed
   * exactly by the heartbeat once a minute (destroys and releases are corrected then). bigint: a string in JS.
   */
  @Column({ name: 'allocated_ram_mb', type: 'bigint', default: 0 })
  allocatedRamMb: string;

  /** false: drained by an admin (no new VMs; its VMs keep working). */
  @Column({ type: 'boolean', default: true })
  schedulable: boolean;

  @Column({ name: 'schedulable_reason', type: 'varchar', length: 500, nullable: true })
  schedulableReason: string | null;

  /** The application version of the worker that last heartbeated. */
  @Column({ type: 'varchar', length: 64 })
  version: string;

  @Column({ name: 'last_seen_at', type: 'timestamptz', precision: 3 })
  lastSeenAt: Date;

  /** When the "offline too long" warnings of the current outage were recorded. */
  @Column({ name: 'offline_warned_at', type: 'timestamptz', precision: 3, nullable: true })
  offlineWarnedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
