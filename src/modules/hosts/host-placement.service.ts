import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { EntityManager } from 'typeorm';
import type { Env } from '../../config/env.validation';
import type { SqlPart } from '../../database/sql-params';
import type { Resources } from './host-capacity';
import { HOST_ERRORS } from './hosts.errors';
import { HostsRepository } from './hosts.repository';

/** Seconds a client should wait after `capacity.unavailable` (a host may register or free room by then). */
export const CAPACITY_RETRY_AFTER_SECONDS = 30;

/** Where a new VM goes: the filter (online, schedulable, room under the ratios) and the weigher (HOST_WEIGHER). */
@Injectable()
export class HostPlacementService {
  private readonly order: 'ASC' | 'DESC';

  constructor(
    private readonly hosts: HostsRepository,
    config: ConfigService<Env, true>,
  ) {
    this.order = config.get('HOST_WEIGHER', { infer: true }) === 'pack' ? 'ASC' : 'DESC';
  }

  /**
   * Places a VM needing `need` inside the caller's (create) transaction: among online, schedulable
   * hosts with room under their allocation ratios, the one the weigher ranks first (spread: most
   * free RAM; pack: least). The chosen host's row is locked until the transaction ends, so
   * concurrent creates queue per host and can never overfill it.
   *
   * The candidate's sums come from a snapshot taken before its lock was granted, so they must be
   * read again under it: `write(host, fits)` makes the caller's writes conditional on `fits` (a
   * one-row query of a boolean column `fits`: the host still has room, as read in that statement's
   * own, newer snapshot), and returns undefined when it wrote nothing. A create that lost the race
   * tries the next host. No host fits: 503 `capacity.unavailable`.
   */
  async place<T>(m: EntityManager, need: Resources, write: (host: string, fits: SqlPart) => Promise<T | undefined>): Promise<T> {
    const tried: string[] = [];
    for (;;) {
      // The best host no other create holds, else the best one, waiting for it: concurrent creates
      // spread over hosts instead of queueing on one.
      const host =
        (await this.hosts.lockCandidate(m, need, tried, this.order, false)) ??
        (await this.hosts.lockCandidate(m, need, tried, this.order, true));
      if (host === undefined) throw await this.noCapacity(m, need);
      const written = await write(host, this.hosts.fitsPart(host, need));
      if (written !== undefined) {
        // The shortlist's order sees this VM at once (the heartbeat recomputes the figure exactly once a minute).
        await this.hosts.addAllocatedRam(m, host, need.ramMb);
        return written;
      }
      tried.push(host);
    }
  }

  /**
   * A resize on `host`, inside the caller's (resize) transaction: takes the host's row lock, the one
   * placement takes, so creates and resizes on one host run one after another, then checks that what
   * the host holds plus `extra` still fits under its ratios: 409 capacity.host_full (naming the first
   * resource short) otherwise. A host that never registered has no capacity to check.
   */
  async assertRoomForMore(m: EntityManager, host: string, extra: Resources): Promise<void> {
    const room = await this.hosts.lockAndCheckRoom(m, host, extra);
    if (!room) return;
    const short = !room.cpu ? 'cpu_cores' : !room.ram ? 'ram_mb' : !room.disk ? 'disk_gb' : null;
    if (short) {
      throw HOST_ERRORS.error(
        'capacity.host_full',
        `The VM’s hypervisor host has no room for ${extra.cpuCores} more cores, ${extra.ramMb} MB more RAM and ${extra.diskGb} GB more disk ` +
          `(short of ${short}); nothing was charged`,
        { resource: short },
      );
    }
  }

  private async noCapacity(m: EntityManager, need: Resources): Promise<Error> {
    const detail = (await this.hosts.count(m))
      ? `No online, schedulable host has room for ${need.cpuCores} cores, ${need.ramMb} MB RAM and ${need.diskGb} GB disk; try again later or smaller`
      : 'No hypervisor host has registered yet (a worker registers its host when it starts); try again shortly';
    return HOST_ERRORS.error('capacity.unavailable', detail, {}, { 'Retry-After': String(CAPACITY_RETRY_AFTER_SECONDS) });
  }
}
