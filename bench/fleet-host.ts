/**
 * One process of `npm run bench:fleet`: serves FLEET_HOST_COUNT logical hypervisor hosts, named
 * FLEET_HOST_PREFIX + 1-based number (FLEET_HOST_FIRST..), through the product's own services.
 *
 * The process is the real worker (`createWorker`, WorkerModule) for its first host (HOST_NAME). For
 * every other host it builds the same classes again, VmWorker, VmReconciler, MetricsJobs and
 * HostHeartbeatService, each with that host's identity and every other dependency taken from this
 * process's container (one database pool, one pg-boss), and boots them as Nest would. So each
 * logical host has its own operation queue and consumers, its heartbeat, its reconcile and sampling
 * schedules, and runs the product's reconcile and sampling code; only the provider is simulated.
 * A real fleet has one process (and pools) per host; here hosts share the process's pools.
 *
 * Instrumentation only (no logic): each host's reconcile and sampling pass, and every metrics write,
 * are timed; totals go to FLEET_STATS_FILE every few seconds for the orchestrator (bench/fleet.ts).
 */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { INestApplicationContext, Logger, Type } from '@nestjs/common';
import { PARAMTYPES_METADATA, SELF_DECLARED_DEPS_METADATA } from '@nestjs/common/constants';
import { bootstrapWorker, handleShutdown } from '../src/bootstrap';
import { HostHeartbeatService } from '../src/modules/hosts/host-heartbeat.service';
import { HostsService } from '../src/modules/hosts/hosts.service';
import { MetricsJobs } from '../src/modules/metrics/metrics.jobs';
import { MetricsService } from '../src/modules/metrics/metrics.service';
import { VmReconciler } from '../src/modules/vms/vms.reconciler';
import { VmWorker } from '../src/modules/vms/vms.worker';
import { fleetHostName } from './fleet-names';

/** Timings of one kind of pass: how many, their total and worst duration (ms). */
class Timing {
  count = 0;
  totalMs = 0;
  maxMs = 0;
  add(ms: number): void {
    this.count++;
    this.totalMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }
}

const stats = { reconcile: new Timing(), collect: new Timing(), metricsWrite: new Timing(), metricsRows: 0, hosts: 0 };

/** Wraps `obj[key]` (an async method) so that every call's duration lands in `timing`. */
function timed<T extends object>(obj: T, key: keyof T & string, timing: Timing, onArgs?: (args: unknown[]) => void): void {
  const original = (obj[key] as (...args: unknown[]) => Promise<unknown>).bind(obj);
  Object.defineProperty(obj, key, {
    value: async (...args: unknown[]) => {
      onArgs?.(args);
      const t0 = performance.now();
      try {
        return await original(...args);
      } finally {
        timing.add(performance.now() - t0);
      }
    },
  });
}

/**
 * A new instance of a provider class with Nest's own constructor metadata: each parameter resolved
 * from the container, except those in `overrides` (by token).
 */
function instantiate<T>(app: INestApplicationContext, cls: Type<T>, overrides: Map<unknown, unknown>): T {
  const types = (Reflect.getMetadata(PARAMTYPES_METADATA, cls) ?? []) as unknown[];
  const declared = (Reflect.getMetadata(SELF_DECLARED_DEPS_METADATA, cls) ?? []) as { index: number; param: unknown }[];
  const args = types.map((type, index) => {
    const token = declared.find((d) => d.index === index)?.param ?? type;
    return overrides.has(token) ? overrides.get(token) : app.get(token as Type<unknown>, { strict: false });
  });
  return new cls(...args);
}

/** `base` seen through another host's name (every method the same, `name` this host's). */
function asHost<T extends { name: string }>(base: T, name: string): T {
  return Object.create(base, { name: { value: name, enumerable: true } }) as T;
}

async function main(): Promise<void> {
  const prefix = process.env.FLEET_HOST_PREFIX ?? 'fleet-';
  const first = Number(process.env.FLEET_HOST_FIRST ?? '1');
  const count = Number(process.env.FLEET_HOST_COUNT ?? '1');
  const statsFile = process.env.FLEET_STATS_FILE;
  const started = await bootstrapWorker();
  const { app } = started;
  const logger = new Logger('FleetHost');

  const metrics = app.get(MetricsService, { strict: false });
  timed(metrics, 'insertSamples', stats.metricsWrite, (args) => (stats.metricsRows += (args[0] as unknown[]).length));
  // This process's own host (HOST_NAME) runs in the container's instances.
  timed(app.get(VmReconciler, { strict: false }), 'correctDrift', stats.reconcile);
  timed(app.get(MetricsJobs, { strict: false }), 'collect', stats.collect);
  stats.hosts = 1;

  const hosts = app.get(HostsService, { strict: false });
  const heartbeat = app.get(HostHeartbeatService, { strict: false });
  const beats: HostHeartbeatService[] = [];
  for (let i = 1; i < count; i++) {
    const name = fleetHostName(prefix, first + i);
    const own = new Map<unknown, unknown>([
      [HostsService, asHost(hosts, name)],
      [HostHeartbeatService, asHost(heartbeat, name)],
    ]);
    beats.push(own.get(HostHeartbeatService) as HostHeartbeatService);
    const reconciler = instantiate(app, VmReconciler, own);
    const jobs = instantiate(app, MetricsJobs, own);
    timed(reconciler, 'correctDrift', stats.reconcile);
    timed(jobs, 'collect', stats.collect);
    // What Nest's bootstrap does for the container's instances: the worker consumes and registers.
    await instantiate(app, VmWorker, own).onApplicationBootstrap();
    reconciler.onApplicationBootstrap();
    await jobs.onApplicationBootstrap();
    stats.hosts++;
  }
  logger.log(`Fleet process serving ${stats.hosts} hosts (${fleetHostName(prefix, first)}..${fleetHostName(prefix, first + count - 1)})`);

  const flush = () => {
    if (statsFile) writeFileSync(statsFile, JSON.stringify({ pid: process.pid, at: Date.now(), ...stats }));
  };
  flush();
  setInterval(flush, 2000).unref();
  // The extra hosts' heartbeats stop with the process, as the container's does.
  process.once('SIGTERM', () => {
    for (const b of beats) b.beforeApplicationShutdown();
  });
  handleShutdown(started);
}

main().catch((err: unknown) => {
  new Logger('FleetHost').fatal(`Fleet process failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
