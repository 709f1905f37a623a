import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource, EntityManager } from 'typeorm';
import { byTextKey, KeysetFilter, keysetPage, mapPage, Page, PageQueryDto } from '../../common/pagination';
import type { Env } from '../../config/env.validation';
import { prepared } from '../../database/prepared';
import type { SqlPart } from '../../database/sql-params';
import { Db, typedQuery, typedQueryOne, typedWrite } from '../../database/typed-query';
import type { Resources } from './host-capacity';

export type HostStatus = 'online' | 'offline';

/** A host as admins and placement see it: capacity, what its VMs take and what is left (after overcommit). */
export interface HostState {
  name: string;
  status: HostStatus;
  schedulable: boolean;
  schedulableReason: string | null;
  capacity: Resources;
  ratios: { cpu: number; ram: number; disk: number };
  allocated: Resources;
  free: Resources;
  vmCount: number;
  lastSeenAt: Date;
  version: string;
  createdAt: Date;
}

/** What a host registers (and repeats on every heartbeat). */
export interface HostRegistration {
  name: string;
  capacity: Resources;
  ratios: { cpu: number; ram: number; disk: number };
  version: string;
}

/**
 * What counts against a host: its VMs that are not destroyed and not released. A VM holds its
 * cores, RAM and disk from placement (provisioning) through stopped and failed, because its
 * machine (or what a failed `vagrant up` left of it) stays on the host until destroyed; `released_at`
 * marks a failed VM whose machine is known gone. The partial index vms_host_allocated_idx covers it.
 */
const ALLOCATED = `SELECT COALESCE(sum(cpu_cores), 0)::int AS cpu, COALESCE(sum(ram_mb), 0)::int AS ram,
  COALESCE(sum(disk_gb), 0)::int AS disk, count(*)::int AS vms
  FROM vms WHERE host = h.name AND status <> 'destroyed' AND released_at IS NULL`;

/** The exact RAM host $1's VMs hold (as ALLOCATED counts it): the heartbeat's refresh of `allocated_ram_mb` (once a minute). */
const ALLOCATED_RAM = `SELECT COALESCE(sum(ram_mb), 0) FROM vms WHERE host = $1::varchar AND status <> 'destroyed' AND released_at IS NULL`;

/**
 * Hosts whose exact sums placement reads first: the best by `allocated_ram_mb` (kept on the row), so a
 * create sums the VMs of these few hosts instead of every host's. That figure only orders; the exact
 * sums filter and weigh, and the whole fleet is read when none of these fits.
 */
const SHORTLIST = 20;

/** A host has room when allocated + the VM fits under capacity x ratio on every resource. */
const FITS = `a.cpu + $1 <= h.cpu_cores * h.cpu_allocation_ratio AND a.ram + $2 <= h.ram_mb * h.ram_allocation_ratio
  AND a.disk + $3 <= h.disk_gb * h.disk_allocation_ratio`;

const ONLINE = (secondsParam: string, alias = 'h') => `${alias}.last_seen_at > now() - make_interval(secs => ${secondsParam})`;

interface HostRow {
  name: string;
  cpu_cores: number;
  ram_mb: number;
  disk_gb: number;
  cpu_allocation_ratio: number;
  ram_allocation_ratio: number;
  disk_allocation_ratio: number;
  schedulable: boolean;
  schedulable_reason: string | null;
  version: string;
  last_seen_at: Date;
  created_at: Date;
  online: boolean;
  cpu: number;
  ram: number;
  disk: number;
  vms: number;
}

function toHostState(r: HostRow): HostState {
  const capacity = { cpuCores: r.cpu_cores, ramMb: r.ram_mb, diskGb: r.disk_gb };
  const allocated = { cpuCores: r.cpu, ramMb: r.ram, diskGb: r.disk };
  return {
    name: r.name,
    status: r.online ? 'online' : 'offline',
    schedulable: r.schedulable,
    schedulableReason: r.schedulable_reason,
    capacity,
    ratios: { cpu: r.cpu_allocation_ratio, ram: r.ram_allocation_ratio, disk: r.disk_allocation_ratio },
    allocated,
    free: {
      cpuCores: Math.floor(r.cpu_cores * r.cpu_allocation_ratio) - r.cpu,
      ramMb: Math.floor(r.ram_mb * r.ram_allocation_ratio) - r.ram,
      diskGb: Math.floor(r.disk_gb * r.disk_allocation_ratio) - r.disk,
    },
    vmCount: r.vms,
    lastSeenAt: r.last_seen_at,
    version: r.version,
    createdAt: r.created_at,
  };
}

/** hosts.name is varchar(100): a longer cursor key names no host. */
const HOST_NAME_MAX_LENGTH = 100;

const STATE_SELECT = (onlineParam: string) =>
  `SELECT h.*, ${ONLINE(onlineParam)} AS online, a.* FROM hosts h CROSS JOIN LATERAL (${ALLOCATED}) a`;

/**
 * The hosts table and what its hosts hold (sums over vms). "Online" is a heartbeat within
 * HOST_OFFLINE_SECONDS, evaluated by the database's clock.
 */
@Injectable()
export class HostsRepository {
  private readonly offlineSeconds: number;

  constructor(
    private readonly dataSource: DataSource,
    config: ConfigService<Env, true>,
  ) {
    this.offlineSeconds = config.get('HOST_OFFLINE_SECONDS', { infer: true });
  }

  /**
   * Registers a host or refreshes it (the heartbeat): a row deleted by hand comes back on the next
   * beat. An admin's drain is kept. With `recount`, `allocated_ram_mb` is summed again from the
   * host's VMs (placement keeps it current between recounts by adding what it places).
   */
  async upsert(h: HostRegistration, recount: boolean): Promise<void> {
    const allocated = recount ? `(${ALLOCATED_RAM})` : '0';
    await typedWrite(
      this.dataSource,
      prepared(`INSERT INTO hosts (name, cpu_cores, ram_mb, disk_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, version,
            last_seen_at, allocated_ram_mb)
          VALUES ($1::varchar, $2, $3, $4, $5, $6, $7, $8, now(), ${allocated})
          ON CONFLICT (name) DO UPDATE SET cpu_cores = $2, ram_mb = $3, disk_gb = $4, cpu_allocation_ratio = $5,
            ram_allocation_ratio = $6, disk_allocation_ratio = $7, version = $8, last_seen_at = now(), updated_at = now()
            ${recount ? ', allocated_ram_mb = EXCLUDED.allocated_ram_mb' : ''}`),
      [h.name, h.capacity.cpuCores, h.capacity.ramMb, h.capacity.diskGb, h.ratios.cpu, h.ratios.ram, h.ratios.disk, h.version],
    );
  }

  /**
   * The best online, schedulable host (not in `tried`) with room for `need`, by free RAM (`DESC`:
   * spread, `ASC`: pack), locked until the transaction ends; `wait` false skips hosts another
   * transaction holds.
   */
  async lockCandidate(
    m: EntityManager,
    need: Resources,
    tried: string[],
    order: 'ASC' | 'DESC',
    wait: boolean,
  ): Promise<string | undefined> {
    // Candidates: online, schedulable, not tried yet; the first of them by exact free RAM that fits, locked.
    const candidate = (t: string) => `${t}.schedulable AND ${ONLINE('$4', t)} AND ${t}.name <> ALL($5::text[])`;
    const best = (from: string, where: string) =>
      prepared(`SELECT h.name FROM ${from} CROSS JOIN LATERAL (${ALLOCATED}) a WHERE ${where} AND ${FITS}
          ORDER BY h.ram_mb * h.ram_allocation_ratio - a.ram ${order}, h.name LIMIT 1 FOR UPDATE OF h${wait ? '' : ' SKIP LOCKED'}`);
    const params = [need.cpuCores, need.ramMb, need.diskGb, this.offlineSeconds, tried];
    const shortlist = `(SELECT s.name FROM hosts s WHERE ${candidate('s')}
          ORDER BY s.ram_mb * s.ram_allocation_ratio - s.allocated_ram_mb ${order}, s.name LIMIT ${SHORTLIST}) c JOIN hosts h ON h.name = c.name`;
    const shortlisted = await typedQueryOne<{ name: string }>(m, best(shortlist, 'true'), params);
    if (shortlisted) return shortlisted.name;
    // None of the shortlist fits (its figures were stale): the whole fleet.
    const row = await typedQueryOne<{ name: string }>(m, best('hosts h', candidate('h')), params);
    return row?.name;
  }

  /** What placement adds to the host's `allocated_ram_mb` for a VM it placed there (in the create's transaction). */
  async addAllocatedRam(m: EntityManager, host: string, ramMb: number): Promise<void> {
    await typedWrite(m, prepared(`UPDATE hosts SET allocated_ram_mb = allocated_ram_mb + $2 WHERE name = $1`), [host, ramMb]);
  }

  /**
   * Takes `host`'s row lock (the one placement takes), then, in a statement of its own (a snapshot
   * newer than the lock), reads which resources still have room for `extra` more under the ratios
   * (one not asked for always has: a host already past a lowered capacity refuses only growth).
   * Undefined when no host of that name has registered.
   */
  async lockAndCheckRoom(
    m: EntityManager,
    host: string,
    extra: Resources,
  ): Promise<{ cpu: boolean; ram: boolean; disk: boolean } | undefined> {
    const locked = await typedQueryOne<{ one: number }>(m, prepared(`SELECT 1 AS one FROM hosts WHERE name = $1 FOR UPDATE`), [host]);
    if (!locked) return undefined;
    return typedQueryOne<{ cpu: boolean; ram: boolean; disk: boolean }>(
      m,
      prepared(`SELECT $1::int = 0 OR a.cpu + $1::int <= h.cpu_cores * h.cpu_allocation_ratio AS cpu,
          $2::int = 0 OR a.ram + $2::int <= h.ram_mb * h.ram_allocation_ratio AS ram,
          $3::int = 0 OR a.disk + $3::int <= h.disk_gb * h.disk_allocation_ratio AS disk
        FROM hosts h CROSS JOIN LATERAL (${ALLOCATED}) a WHERE h.name = $4`),
      [extra.cpuCores, extra.ramMb, extra.diskGb, host],
    );
  }

  /** A one-row query of a boolean `fits`: whether `host` has room for `need` now, for a caller's statement. */
  fitsPart(host: string, need: Resources): SqlPart {
    return {
      text: `SELECT ${FITS} AS fits FROM hosts h CROSS JOIN LATERAL (${ALLOCATED}) a WHERE h.name = $4`,
      values: [need.cpuCores, need.ramMb, need.diskGb, host],
    };
  }

  async count(db: Db = this.dataSource): Promise<number> {
    return (await typedQueryOne<{ hosts: number }>(db, `SELECT count(*)::int AS hosts FROM hosts`))?.hosts ?? 0;
  }

  /** Whether a host is online now; undefined: no host of that name has registered. */
  async online(m: EntityManager, name: string): Promise<boolean | undefined> {
    const row = await typedQueryOne<{ online: boolean }>(m, prepared(`SELECT ${ONLINE('$2')} AS online FROM hosts h WHERE h.name = $1`), [
      name,
      this.offlineSeconds,
    ]);
    return row?.online;
  }

  /** Names of the hosts that are online now. */
  async onlineNames(): Promise<string[]> {
    const rows = await typedQuery<{ name: string }>(this.dataSource, `SELECT name FROM hosts h WHERE ${ONLINE('$1')}`, [
      this.offlineSeconds,
    ]);
    return rows.map((r) => r.name);
  }

  /** Every host, by name. */
  async all(): Promise<HostState[]> {
    const rows = await typedQuery<HostRow>(this.dataSource, `${STATE_SELECT('$1')} ORDER BY h.name`, [this.offlineSeconds]);
    return rows.map(toHostState);
  }

  /** Hosts by name, keyset-paginated on the name. */
  async list(page: PageQueryDto): Promise<Page<HostState>> {
    const f = new KeysetFilter();
    const select = STATE_SELECT(f.param(this.offlineSeconds));
    const rows = await keysetPage<HostRow>(
      { db: this.dataSource, select, filter: f },
      byTextKey('h.name', HOST_NAME_MAX_LENGTH),
      page,
      (r) => [r.name],
    );
    return mapPage(rows, toHostState);
  }

  async get(name: string, db: Db = this.dataSource): Promise<HostState | undefined> {
    const row = await typedQueryOne<HostRow>(db, `${STATE_SELECT('$2')} WHERE h.name = $1`, [name, this.offlineSeconds]);
    return row && toHostState(row);
  }

  /** Sets a host's schedulable flag; returns what it was, or undefined when there is no such host. */
  async setSchedulable(m: EntityManager, name: string, schedulable: boolean, reason: string | null): Promise<{ was: boolean } | undefined> {
    const { rows } = await typedWrite<{ was: boolean }>(
      m,
      `UPDATE hosts SET schedulable = $2, schedulable_reason = $3, updated_at = now() WHERE name = $1
          RETURNING (SELECT schedulable FROM hosts WHERE name = $1) AS was`,
      [name, schedulable, reason],
    );
    return rows[0];
  }

  /** Marks hosts silent for longer than `seconds` whose outage is unreported as reported, returning them. */
  async claimLongOffline(m: EntityManager, seconds: number): Promise<{ name: string; lastSeenAt: Date }[]> {
    const { rows } = await typedWrite<{ name: string; last_seen_at: Date }>(
      m,
      `UPDATE hosts SET offline_warned_at = now()
        WHERE last_seen_at < now() - make_interval(secs => $1) AND (offline_warned_at IS NULL OR offline_warned_at < last_seen_at)
        RETURNING name, last_seen_at`,
      [seconds],
    );
    return rows.map((r) => ({ name: r.name, lastSeenAt: r.last_seen_at }));
  }
}
