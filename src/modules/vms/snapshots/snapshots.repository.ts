import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { KeysetFilter, keysetPage, mapPage, NEWEST_FIRST, Page, PageQueryDto } from '../../../common/pagination';
import { prepared } from '../../../database/prepared';
import { Db, typedQueryOne, typedWrite } from '../../../database/typed-query';
import { type SnapshotStatus, VmSnapshot } from '../entities/vm-snapshot.entity';

const SNAPSHOT_COLUMNS = 'id, vm_id, name, status, size_gb, cost, created_at, updated_at';

/** A row of SNAPSHOT_COLUMNS as PostgreSQL returns it. */
interface SnapshotRow {
  id: string;
  vm_id: string;
  name: string;
  status: SnapshotStatus;
  size_gb: number;
  cost: number;
  created_at: Date;
  updated_at: Date;
}

function snapshotFromRow(r: SnapshotRow): VmSnapshot {
  return Object.assign(new VmSnapshot(), {
    id: r.id,
    vmId: r.vm_id,
    name: r.name,
    status: r.status,
    sizeGb: r.size_gb,
    cost: r.cost,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}

/** What a finished snapshot operation reports of its snapshot. */
export interface SnapshotSummary {
  name: string;
  size_gb: number;
}

/**
 * The vm_snapshots table: every statement on it lives here, typed at this boundary. Methods that
 * take a manager run in the caller's transaction (the VM's row lock held by the caller).
 */
@Injectable()
export class SnapshotsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** A VM's snapshots, newest first. */
  async list(vmId: string, page: PageQueryDto): Promise<Page<VmSnapshot>> {
    const f = new KeysetFilter().add((p) => `vm_id = ${p}`, vmId);
    const rows = await keysetPage<SnapshotRow>(
      { db: this.dataSource, select: `SELECT ${SNAPSHOT_COLUMNS} FROM vm_snapshots`, filter: f },
      NEWEST_FIRST,
      page,
      (r) => [r.created_at, r.id],
    );
    return mapPage(rows, snapshotFromRow);
  }

  /** One snapshot of one VM; `lock` takes its row lock. */
  async findOne(vmId: string, id: string, opts: { m?: EntityManager; lock?: boolean } = {}): Promise<VmSnapshot | undefined> {
    const row = await typedQueryOne<SnapshotRow>(
      opts.m ?? this.dataSource,
      prepared(`SELECT ${SNAPSHOT_COLUMNS} FROM vm_snapshots WHERE id = $1 AND vm_id = $2${opts.lock ? ' FOR UPDATE' : ''}`),
      [id, vmId],
    );
    return row && snapshotFromRow(row);
  }

  /** How many snapshots the VM holds (any status), and whether one of them is named `name`. */
  async usage(m: EntityManager, vmId: string, name: string): Promise<{ count: number; taken: boolean }> {
    const row = await typedQueryOne<{ count: number; taken: boolean | null }>(
      m,
      prepared(`SELECT count(*)::int AS count, bool_or(name = $2) AS taken FROM vm_snapshots WHERE vm_id = $1`),
      [vmId, name],
    );
    return { count: row?.count ?? 0, taken: row?.taken ?? false };
  }

  /** A new snapshot, `creating`; returns it as stored. */
  async insert(m: EntityManager, s: Pick<VmSnapshot, 'id' | 'vmId' | 'name' | 'sizeGb' | 'cost'>): Promise<VmSnapshot> {
    const { rows } = await typedWrite<SnapshotRow>(
      m,
      prepared(`INSERT INTO vm_snapshots (id, vm_id, name, status, size_gb, cost) VALUES ($1, $2, $3, 'creating', $4, $5)
        RETURNING ${SNAPSHOT_COLUMNS}`),
      [s.id, s.vmId, s.name, s.sizeGb, s.cost],
    );
    const row = rows[0];
    if (!row) throw new Error(`snapshot ${s.id} was not inserted`);
    return snapshotFromRow(row);
  }

  /** Marks a snapshot `deleting` (the caller holds its row lock); returns it as stored. */
  async markDeleting(m: EntityManager, id: string): Promise<VmSnapshot> {
    const { rows } = await typedWrite<SnapshotRow>(
      m,
      prepared(`UPDATE vm_snapshots SET status = 'deleting', updated_at = now() WHERE id = $1 RETURNING ${SNAPSHOT_COLUMNS}`),
      [id],
    );
    const row = rows[0];
    if (!row) throw new Error(`snapshot ${id} vanished under its row lock`);
    return snapshotFromRow(row);
  }

  /** Whether a job on the snapshot is still wanted: it exists and is still in `status` (creating / deleting). */
  async isIn(vmId: string, id: string, status: SnapshotStatus, db: Db = this.dataSource): Promise<boolean> {
    const row = await typedQueryOne<{ one: number }>(
      db,
      prepared(`SELECT 1 AS one FROM vm_snapshots WHERE id = $1 AND vm_id = $2 AND status = $3`),
      [id, vmId, status],
    );
    return row !== undefined;
  }

  /** A taken snapshot: `creating` -> `available`; undefined when it was no longer creating (gone with its VM). */
  async markAvailable(m: EntityManager, id: string): Promise<SnapshotSummary | undefined> {
    const { rows } = await typedWrite<SnapshotSummary>(
      m,
      prepared(
        `UPDATE vm_snapshots SET status = 'available', updated_at = now() WHERE id = $1 AND status = 'creating' RETURNING name, size_gb`,
      ),
      [id],
    );
    return rows[0];
  }

  /** A deleted snapshot's row goes; undefined when it was no longer deleting. */
  async removeDeleted(m: EntityManager, id: string): Promise<SnapshotSummary | undefined> {
    const { rows } = await typedWrite<SnapshotSummary>(
      m,
      prepared(`DELETE FROM vm_snapshots WHERE id = $1 AND status = 'deleting' RETURNING name, size_gb`),
      [id],
    );
    return rows[0];
  }

  /** A snapshot whose operation failed: `failed`; undefined when it was no longer creating or deleting. */
  async markFailed(m: EntityManager, id: string): Promise<SnapshotSummary | undefined> {
    const { rows } = await typedWrite<SnapshotSummary>(
      m,
      prepared(`UPDATE vm_snapshots SET status = 'failed', updated_at = now()
        WHERE id = $1 AND status IN ('creating', 'deleting') RETURNING name, size_gb`),
      [id],
    );
    return rows[0];
  }

  /** Every snapshot of a VM goes (its destroy or rebuild wiped them from the host); returns their names. */
  async removeAllOf(m: EntityManager, vmId: string): Promise<string[]> {
    const { rows } = await typedWrite<{ name: string }>(m, prepared(`DELETE FROM vm_snapshots WHERE vm_id = $1 RETURNING name`), [vmId]);
    return rows.map((r) => r.name).sort();
  }
}
