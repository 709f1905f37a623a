import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { Vm } from '../../vms/entities/vm.entity';

/**
 * One sample of one VM metric: from the scheduled collector (provider stats) or an external agent.
 * The table is append-only and large, so its key is a bigint identity (never shown to clients),
 * not a uuid. It is partitioned by RANGE on recorded_at (migrations/1796500000000-PartitionedMetrics.ts;
 * MetricsRepository makes and drops the partitions), so recorded_at is part of the primary key; TypeORM
 * sees the parent table only, and never synchronizes (db:check compares it with the migrations).
 */
@Entity('metrics')
// Series reads: one VM, one name, a time range. Defined in the migration as (vm_id, name, recorded_at)
// INCLUDE (value), which TypeORM cannot express: the covering index answers the downsampled read with an
// index-only scan (bench/metrics-query.ts: a 30-day series about 6x faster than with heap fetches).
@Index('metrics_vm_name_recorded_idx', { synchronize: false })
export class Metric {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ name: 'vm_id', type: 'uuid' })
  vmId: string;

  @ManyToOne(() => Vm, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'vm_id' })
  vm?: Vm;

  /** A known name (`cpu_percent`, ...) or a namespaced one (`app.requests`). */
  @Column({ type: 'varchar', length: 64 })
  name: string;

  @Column({ type: 'double precision' })
  value: number;

  @Column({ type: 'varchar', length: 16, nullable: true })
  unit: string | null;

  @PrimaryColumn({ name: 'recorded_at', type: 'timestamptz', precision: 3 })
  recordedAt: Date;
}
