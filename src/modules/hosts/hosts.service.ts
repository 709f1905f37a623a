import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource, EntityManager } from 'typeorm';
import { decodeTextCursor, encodeTextCursor, Page, PageQueryDto } from '../../common/pagination';
import { APP_VERSION } from '../../common/version';
import type { Env } from '../../config/env.validation';
import { prepared } from '../../database/prepared';
import type { SqlPart } from '../../database/sql-params';
import type { AuthUser } from '../../common/auth';
import { EventsService } from '../events/events.service';
import { hostCapacity, Resources } from './host-capacity';
import { HOST_ERRORS } from './hosts.errors';

/** Seconds a client should wait after `capacity.unavailable` (a host may register or free room by then). */
export const CAPACITY_RETRY_AFTER_SECONDS = 30;

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

/**
 * What counts against a host: its VMs that are not destroyed and not released. A VM holds its
 * cores, RAM and disk from placement (provisioning) through stopped and failed, because its
 * machine (or what a failed `vagrant up` left of it) stays on the host until destroyed; `released_at`
 * marks a failed VM whose machine is known gone. The partial index vms_host_allocated_idx covers it.
 */
const ALLOCATED = `SELECT COALESCE(sum(cpu_cores), 0)::int AS cpu, COALESCE(sum(ram_mb), 0)::int AS ram,
  COALESCE(sum(disk_gb), 0)::int AS disk, count(*)::int AS vms
  FROM vms WHERE host = h.name AND status <> 'destroyed' AND released_at IS NULL`;

/** A host has room when allocated + the VM fits under capacity x ratio on every resource. */
const FITS = `a.cpu + $1 <= h.cpu_cores * h.cpu_allocation_ratio AND a.ram + $2 <= h.ram_mb * h.ram_allocation_ratio
  AND a.disk + $3 <= h.disk_gb * h.disk_allocation_ratio`;

const ONLINE = (secondsParam: string) => `h.last_seen_at > now() - make_interval(secs => ${secondsParam})`;

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

/**
 * Hypervisor hosts: registration and heartbeats of this process's host (worker processes only),
 * placement of new VMs, availability for VM actions, the admin view and draining.
 */
@Injectable()
export class HostsService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(HostsService.name);
  /** This process's HOST_NAME: the host it registers, if it is a worker. */
  readonly name: string;
  private readonly offlineSeconds: number;
  private heartbeat?: NodeJS.Timeout;
  private lastHeartbeatError = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly events: EventsService,
    private readonly config: ConfigService<Env, true>,
  ) {
    this.name = config.get('HOST_NAME', { infer: true });
    this.offlineSeconds = config.get('HOST_OFFLINE_SECONDS', { infer: true });
  }

  /**
   * Registers this host (capacity, ratios, version) and keeps it online with a heartbeat every
   * HOST_HEARTBEAT_SECONDS. Called by the worker once it consumes the host's queue, so a host that
   * placement can choose always has a consumer. An admin's drain survives re-registration.
   */
  async register(): Promise<void> {
    const capacity = hostCapacity({
      HOST_CPU_CORES: this.config.get('HOST_CPU_CORES', { infer: true }),
      HOST_RAM_MB: this.config.get('HOST_RAM_MB', { infer: true }),
      HOST_DISK_GB: this.config.get('HOST_DISK_GB', { infer: true }),
      VAGRANT_WORKDIR: this.config.get('VAGRANT_WORKDIR', { infer: true }),
    });
    const params = [
      this.name,
      capacity.cpuCores,
      capacity.ramMb,
      capacity.diskGb,
      this.config.get('HOST_CPU_ALLOCATION_RATIO', { infer: true }),
      this.config.get('HOST_RAM_ALLOCATION_RATIO', { infer: true }),
      this.config.get('HOST_DISK_ALLOCATION_RATIO', { infer: true }),
      APP_VERSION,
    ];
    // The upsert is the heartbeat too: a row deleted by hand comes back on the next beat.
    const beat = () =>
      this.dataSource.query(
        prepared(`INSERT INTO hosts (name, cpu_cores, ram_mb, disk_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, version, last_seen_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
          ON CONFLICT (name) DO UPDATE SET cpu_cores = $2, ram_mb = $3, disk_gb = $4, cpu_allocation_ratio = $5,
            ram_allocation_ratio = $6, disk_allocation_ratio = $7, version = $8, last_seen_at = now(), updated_at = now()`),
        params,
      );
    await beat();
    this.logger.log(
      `Host ${this.name} registered: ${capacity.cpuCores} cores, ${capacity.ramMb} MB RAM, ${capacity.diskGb} GB disk ` +
        `(allocation ratios cpu ${params[4]}, ram ${params[5]}, disk ${params[6]})`,
    );
    this.heartbeat = setInterval(() => {
      beat().catch((err: Error) => {
        // The database blinking must not stop the process; the host shows offline until a beat lands.
        if (Date.now() - this.lastHeartbeatError > 10_000) {
          this.lastHeartbeatError = Date.now();
          this.logger.warn(`Heartbeat of host ${this.name} failed: ${err.message}`);
        }
      });
    }, this.config.get('HOST_HEARTBEAT_SECONDS', { infer: true }) * 1000);
    this.heartbeat.unref();
  }

  beforeApplicationShutdown(): void {
    // Other processes may serve this host: stop beating, never mark it offline ourselves.
    clearInterval(this.heartbeat);
  }

  /**
   * Places a VM needing `need` inside the caller's (create) transaction: among online, schedulable
   * hosts with room under their allocation ratios, the one the weigher ranks first (spread: most
   * free RAM; pack: least). The chosen host's row is locked until the transaction ends, so
   * concurrent creates queue per host and can never overfill it.
   *
   * The candidate's sums come from a snapshot taken before its lock was granted, so they must be
   * read again under it: `write(host, fits)` makes the caller's writes in ONE statement, conditional
   * on `fits` (a one-row query of a boolean column `fits`: the host still has room, as read in that
   * statement's own, newer snapshot), and returns undefined when it wrote nothing. That statement is
   * the only round trip between the lock and the commit: creates on one host wait for each other as
   * briefly as they can. A create that lost the race tries the next host. No host fits: 503
   * `capacity.unavailable`.
   */
  async place<T>(m: EntityManager, need: Resources, write: (host: string, fits: SqlPart) => Promise<T | undefined>): Promise<T> {
    const order = this.config.get('HOST_WEIGHER', { infer: true }) === 'pack' ? 'ASC' : 'DESC';
    const candidates = (wait: boolean) =>
      m.query(
        prepared(`SELECT h.name FROM hosts h CROSS JOIN LATERAL (${ALLOCATED}) a
          WHERE h.schedulable AND ${ONLINE('$4')} AND h.name <> ALL($5::text[]) AND ${FITS}
          ORDER BY h.ram_mb * h.ram_allocation_ratio - a.ram ${order}, h.name LIMIT 1 FOR UPDATE OF h${wait ? '' : ' SKIP LOCKED'}`),
        [need.cpuCores, need.ramMb, need.diskGb, this.offlineSeconds, tried],
      ) as Promise<{ name: string }[]>;
    const tried: string[] = [];
    for (;;) {
      // The best host no other create holds, else the best one, waiting for it: concurrent creates
      // spread over hosts instead of queueing on one.
      let [candidate] = await candidates(false);
      if (!candidate) [candidate] = await candidates(true);
      if (!candidate) throw await this.noCapacity(m, need);
      const written = await write(candidate.name, {
        text: `SELECT ${FITS} AS fits FROM hosts h CROSS JOIN LATERAL (${ALLOCATED}) a WHERE h.name = $4`,
        values: [need.cpuCores, need.ramMb, need.diskGb, candidate.name],
      });
      if (written !== undefined) return written;
      tried.push(candidate.name);
    }
  }

  /**
   * A resize on `host`: takes the host's row lock (the one placement takes, so creates and resizes on
   * one host run one after another), then, in a statement of its own (a snapshot newer than the lock),
   * checks that what the host holds plus `extra` still fits under its ratios. 409 capacity.host_full
   * (naming the first resource short) otherwise. A host that never registered has no capacity to check.
   */
  async assertRoomForMore(m: EntityManager, host: string, extra: Resources): Promise<void> {
    const locked: unknown[] = await m.query(prepared(`SELECT 1 FROM hosts WHERE name = $1 FOR UPDATE`), [host]);
    if (!locked.length) return;
    const [row]: { cpu: boolean; ram: boolean; disk: boolean }[] = await m.query(
      prepared(`SELECT a.cpu + $1 <= h.cpu_cores * h.cpu_allocation_ratio AS cpu, a.ram + $2 <= h.ram_mb * h.ram_allocation_ratio AS ram,
          a.disk + $3 <= h.disk_gb * h.disk_allocation_ratio AS disk
        FROM hosts h CROSS JOIN LATERAL (${ALLOCATED}) a WHERE h.name = $4`),
      [extra.cpuCores, extra.ramMb, extra.diskGb, host],
    );
    const short = !row.cpu ? 'cpu_cores' : !row.ram ? 'ram_mb' : !row.disk ? 'disk_gb' : null;
    if (short) {
      throw HOST_ERRORS.error(
        'capacity.host_full',
        `The VM’s hypervisor host has no room for ${extra.cpuCores} more cores, ${extra.ramMb} MB more RAM and ${extra.diskGb} GB more disk (short of ${short}); nothing was charged`,
        { resource: short },
      );
    }
  }

  private async noCapacity(m: EntityManager, need: Resources): Promise<Error> {
    const [{ hosts }]: { hosts: number }[] = await m.query(`SELECT count(*)::int AS hosts FROM hosts`);
    const detail = hosts
      ? `No online, schedulable host has room for ${need.cpuCores} cores, ${need.ramMb} MB RAM and ${need.diskGb} GB disk; try again later or smaller`
      : 'No hypervisor host has registered yet (a worker registers its host when it starts); try again shortly';
    return HOST_ERRORS.error('capacity.unavailable', detail, {}, { 'Retry-After': String(CAPACITY_RETRY_AFTER_SECONDS) });
  }

  /** Whether a host is online now; `unknown`: no host of that name has registered (a VM from before hosts). */
  async availability(m: EntityManager, name: string): Promise<HostStatus | 'unknown'> {
    const [row]: { online: boolean }[] = await m.query(prepared(`SELECT ${ONLINE('$2')} AS online FROM hosts h WHERE h.name = $1`), [
      name,
      this.offlineSeconds,
    ]);
    return row ? (row.online ? 'online' : 'offline') : 'unknown';
  }

  /** Names of the hosts that are online now. */
  async onlineNames(): Promise<string[]> {
    const rows: { name: string }[] = await this.dataSource.query(`SELECT name FROM hosts h WHERE ${ONLINE('$1')}`, [this.offlineSeconds]);
    return rows.map((r) => r.name);
  }

  private async states(where: string, params: unknown[], tail = '', m: EntityManager = this.dataSource.manager): Promise<HostState[]> {
    const n = params.length + 1;
    const rows: HostRow[] = await m.query(
      `SELECT h.*, ${ONLINE(`$${n}`)} AS online, a.* FROM hosts h CROSS JOIN LATERAL (${ALLOCATED}) a ${where ? `WHERE ${where}` : ''} ORDER BY h.name ${tail}`,
      [...params, this.offlineSeconds],
    );
    return rows.map(toHostState);
  }

  /** Every host (the Prometheus gauges). */
  all(): Promise<HostState[]> {
    return this.states('', []);
  }

  /** Hosts by name. */
  async list(page: PageQueryDto): Promise<Page<HostState>> {
    const limit = page.limit ?? 20;
    const params: unknown[] = [limit + 1];
    let where = '';
    if (page.cursor) {
      params.push(decodeTextCursor(page.cursor, HOST_NAME_MAX_LENGTH));
      where = 'h.name > $2';
    }
    const rows = await this.states(where, params, 'LIMIT $1');
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > limit && last ? encodeTextCursor(last.name) : null };
  }

  async get(name: string, m?: EntityManager): Promise<HostState> {
    const [host] = await this.states('h.name = $1', [name], '', m);
    if (!host) throw HOST_ERRORS.error('host.not_found', `No host named ${JSON.stringify(name)}`);
    return host;
  }

  /** Drains (false) or returns (true) a host, with an admin event naming the admin and the reason. */
  async setSchedulable(admin: AuthUser, name: string, schedulable: boolean, reason?: string): Promise<HostState> {
    return this.dataSource.transaction(async (m) => {
      const [rows] = await m.query(
        `UPDATE hosts SET schedulable = $2, schedulable_reason = $3, updated_at = now() WHERE name = $1
          RETURNING (SELECT schedulable FROM hosts WHERE name = $1) AS was`,
        [name, schedulable, reason ?? null],
      );
      if (!rows.length) throw HOST_ERRORS.error('host.not_found', `No host named ${JSON.stringify(name)}`);
      await this.events.record(m, {
        action: 'admin.host_updated',
        message: `Admin ${admin.username} ${schedulable ? 'returned host ' + name + ' to service' : 'drained host ' + name}`,
        details: { host: name, schedulable, was_schedulable: rows[0].was, reason: reason ?? null },
        actorId: admin.id,
      });
      return this.get(name, m);
    });
  }

  /**
   * Hosts offline longer than HOST_OFFLINE_WARN_SECONDS whose outage has not been reported yet,
   * each claimed (in the caller's transaction) so that one process reports it once per outage.
   */
  async claimLongOffline(m: EntityManager): Promise<{ name: string; lastSeenAt: Date }[]> {
    const [rows]: [{ name: string; last_seen_at: Date }[]] = await m.query(
      `UPDATE hosts SET offline_warned_at = now()
        WHERE last_seen_at < now() - make_interval(secs => $1) AND (offline_warned_at IS NULL OR offline_warned_at < last_seen_at)
        RETURNING name, last_seen_at`,
      [this.config.get('HOST_OFFLINE_WARN_SECONDS', { infer: true })],
    );
    return rows.map((r) => ({ name: r.name, lastSeenAt: r.last_seen_at }));
  }
}
