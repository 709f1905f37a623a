import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { Vm } from './vm.entity';

export const SNAPSHOT_STATUSES = ['creating', 'available', 'failed', 'deleting'] as const;
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

/**
 * A snapshot of a VM's disk, kept on the VM's host (an internal qcow2 snapshot of its libvirt domain,
 * or a simulator record). Its row goes when it is deleted, and with the VM's destroy or rebuild.
 */
@Entity('vm_snapshots')
@Index('vm_snapshots_vm_name_key', ['vmId', 'name'], { unique: true })
@Index('vm_snapshots_vm_created_idx', ['vmId', 'createdAt', 'id'])
@Check('vm_snapshots_status_check', `"status" IN ('creating', 'available', 'failed', 'deleting')`)
@Check('vm_snapshots_size_positive', `"size_gb" > 0`)
export class VmSnapshot {
  /** Assigned by the service before insert, so the ledger row and the job can name it in the same transaction. */
  @PrimaryColumn('uuid')
  id: string;

  @Column({ name: 'vm_id', type: 'uuid' })
  vmId: string;

  @ManyToOne(() => Vm, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'vm_id', foreignKeyConstraintName: 'FK_vm_snapshots_vm' })
  vm?: Vm;

  @Column({ type: 'varchar', length: 63 })
  name: string;

  @Column({ type: 'varchar', length: 16 })
  status: SnapshotStatus;

  /** The VM's disk size when it was taken: what a restore brings back. */
  @Column({ name: 'size_gb', type: 'integer' })
  sizeGb: number;

  /** Credits charged for it (never refunded). */
  @Column({ type: 'integer' })
  cost: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
