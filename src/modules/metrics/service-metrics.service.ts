import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createServer, Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Env } from '../../config/env.validation';
import { QueueService } from '../../queue/queue.service';
import { CreditsService } from '../credits/credits.service';
import { EventStreamService } from '../events/event-stream.service';
import type { Resources } from '../hosts/host-capacity';
import { HostsService, HostState } from '../hosts/hosts.service';
import { VmsService } from '../vms/vms.service';

/** Label value for requests no route matched: raw paths would make the label unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Service metrics for operators in the Prometheus text format. Each app has its own registry
 * (tests run several apps in one process). Counters and histograms count what THIS process did
 * (sum them across processes); the `vmapi_vms`, `vmapi_queue_jobs` and `vmapi_credits_debited_total`
 * series are read from the database at scrape time, so every process reports the same value
 * (take one, or max, across processes).
 */
@Injectable()
export class ServiceMetrics implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ServiceMetrics.name);
  readonly registry = new Registry();
  /** Collected and served somewhere: METRICS_ENABLED, and a metrics port or METRICS_ON_API=admin. */
  readonly enabled: boolean;
  /** The metrics listener's port; 0 = none. */
  readonly port: number;
  private readonly host?: string;
  private server?: Server;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(
    config: ConfigService<Env, true>,
    queue: QueueService,
    vms: VmsService,
    credits: CreditsService,
    streams: EventStreamService,
    hosts: HostsService,
  ) {
    this.port = config.get('METRICS_PORT', { infer: true });
    this.host = config.get('METRICS_HOST', { infer: true }) ?? config.get('LISTEN_HOST', { infer: true });
    this.enabled =
      config.get('METRICS_ENABLED', { infer: true }) && (this.port !== 0 || config.get('METRICS_ON_API', { infer: true }) === 'admin');
    const registers = [this.registry];
    if (this.enabled) collectDefaultMetrics({ register: this.registry });

    this.httpRequests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered by this process, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency in this process, by route template and status (event streams excluded)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });

    const jobs = new Counter({
      name: 'vmapi_queue_jobs_processed_total',
      help: 'Jobs this process ran, by queue and outcome (completed, failed)',
      labelNames: ['queue', 'outcome'],
      registers,
    });
    const jobDuration = new Histogram({
      name: 'vmapi_queue_job_duration_seconds',
      help: 'Time jobs took in this process, by queue',
      labelNames: ['queue'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
      registers,
    });
    queue.onJobOutcome((name, outcome, seconds) => {
      jobs.inc({ queue: name, outcome });
      jobDuration.observe({ queue: name }, seconds);
    });

    const logger = this.logger;
    /** A database-backed series that cannot be read is left out of this scrape, not the whole scrape. */
    const guarded = (what: string, read: () => Promise<void>) => async () => {
      try {
        await read();
      } catch (err) {
        logger.warn(`Service metrics: cannot read ${what}: ${(err as Error).message}`);
      }
    };

    const seenDepths = new Set<string>();
    const depth: Gauge<'queue' | 'state'> = new Gauge({
      name: 'vmapi_queue_jobs',
      help: 'Jobs waiting (created, retry) and running (active) per queue, across all processes',
      labelNames: ['queue', 'state'],
      registers,
      collect: guarded('queue depths', async () => {
        const rows = await queue.depths();
        const now = new Set(rows.map((r) => `${r.queue}\u0000${r.state}`));
        // Queues seen before and now empty report 0 rather than vanishing.
        for (const key of seenDepths) {
          if (!now.has(key)) {
            const [q, state] = key.split('\u0000');
            depth.set({ queue: q, state }, 0);
          }
        }
        for (const r of rows) {
          seenDepths.add(`${r.queue}\u0000${r.state}`);
          depth.set({ queue: r.queue, state: r.state }, r.count);
        }
      }),
    });

    const vmGauge: Gauge<'status'> = new Gauge({
      name: 'vmapi_vms',
      help: 'VMs by status, across all users',
      labelNames: ['status'],
      registers,
      collect: guarded('VM counts', async () => {
        for (const [status, count] of Object.entries(await vms.countByStatus())) vmGauge.set({ status }, count);
      }),
    });

    // A total from the append-only ledger: monotonic, and right across restarts and processes.
    const debited: Counter<'kind'> = new Counter({
      name: 'vmapi_credits_debited_total',
      help: 'Credits debited from users since the beginning of the ledger, by kind (vm_create, admin_adjustment)',
      labelNames: ['kind'],
      registers,
      collect: guarded('the credit ledger', async () => {
        const totals = await credits.debitedTotals();
        debited.reset();
        for (const t of totals) debited.inc({ kind: t.kind }, t.credits);
      }),
    });

    // Hosts: one read per scrape feeds all their series (each gauge's collect asks for it).
    let hostRead: { at: number; states: Promise<HostState[]> } | undefined;
    const readHosts = () => {
      if (!hostRead || Date.now() - hostRead.at > 1000) hostRead = { at: Date.now(), states: hosts.all() };
      return hostRead.states;
    };
    const RESOURCES: [keyof Resources, string][] = [
      ['cpuCores', 'cpu_cores'],
      ['ramMb', 'ram_mb'],
      ['diskGb', 'disk_gb'],
    ];
    const perResource = (name: string, help: string, pick: (h: HostState) => Resources): void => {
      const gauge: Gauge<'host' | 'resource'> = new Gauge({
        name,
        help,
        labelNames: ['host', 'resource'],
        registers,
        collect: guarded('hosts', async () => {
          const states = await readHosts();
          gauge.reset();
          for (const h of states) for (const [key, resource] of RESOURCES) gauge.set({ host: h.name, resource }, pick(h)[key]);
        }),
      });
    };
    perResource(
      'vmapi_host_capacity',
      'What each hypervisor host has (cores, MB RAM, GB disk), before allocation ratios',
      (h) => h.capacity,
    );
    perResource(
      'vmapi_host_allocated',
      'What the VMs placed on each host take (not destroyed, not failed-and-released)',
      (h) => h.allocated,
    );
    perResource('vmapi_host_free', 'Room left on each host for new VMs: capacity x allocation ratio - allocated', (h) => h.free);
    const perHost = (name: string, help: string, value: (h: HostState) => number): void => {
      const gauge: Gauge<'host'> = new Gauge({
        name,
        help,
        labelNames: ['host'],
        registers,
        collect: guarded('hosts', async () => {
          const states = await readHosts();
          gauge.reset();
          for (const h of states) gauge.set({ host: h.name }, value(h));
        }),
      });
    };
    perHost('vmapi_host_vms', 'VMs counting against each host', (h) => h.vmCount);
    perHost('vmapi_host_online', '1 while the host heartbeats (within HOST_OFFLINE_SECONDS), else 0', (h) =>
      h.status === 'online' ? 1 : 0,
    );
    perHost('vmapi_host_schedulable', '1 when placement may choose the host, 0 when drained', (h) => (h.schedulable ? 1 : 0));

    const openStreams: Gauge = new Gauge({
      name: 'vmapi_event_streams',
      help: 'Server-Sent Events streams open in this process',
      registers,
      collect: () => openStreams.set(streams.size),
    });
  }

  /** One answered HTTP request (the middleware calls this when the response is done). */
  observeHttp(method: string, route: string, status: number, seconds: number | null): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    if (seconds !== null) this.httpDuration.observe(labels, seconds);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.enabled || this.port === 0) return;
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found: GET /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(
                `METRICS_PORT ${this.port} is in use (another process of this service on this machine?): give each process its own METRICS_PORT, or 0 for none`,
              )
            : err,
        ),
      );
      // Without a host, Node listens on every interface (`::`, dual-stack, or 0.0.0.0).
      server.listen(this.port, this.host, () => resolve());
    });
    this.server = server;
    this.logger.log(`Service metrics on http://${this.host ?? '0.0.0.0'}:${this.port}/metrics`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections());
  }
}
