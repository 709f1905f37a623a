import { Logger } from '@nestjs/common';
import { Client } from 'pg';

const HEALTH_CHECK_MS = 30_000;
const MAX_RECONNECT_DELAY_MS = 30_000;

export interface PgListenerOptions {
  url: string;
  /** Shown in pg_stat_activity. */
  applicationName: string;
  channel: string;
  onNotification(payload: string): void;
  /** LISTENing again after a lost connection: notifications sent meanwhile were missed. */
  onReconnected?(): void;
  /** The connection is gone: from now until onReconnected, notifications are missed. */
  onLost?(): void;
  /** Whether to reconnect after a loss (else the next start() connects). Default: always. */
  wanted?(): boolean;
}

/**
 * One dedicated PostgreSQL connection LISTENing on one channel, for the life of the process.
 * PostgreSQL delivers NOTIFYs on commit only, to every listening session. When the connection
 * drops (or a periodic health query fails on a silently dead one) it reconnects with backoff.
 */
export class PgListener {
  private readonly logger: Logger;
  private client: Client | null = null;
  private connecting: Promise<void> | null = null;
  private reconnectTimer?: NodeJS.Timeout;
  private healthTimer?: NodeJS.Timeout;
  private failures = 0;
  private closed = false;

  constructor(private readonly options: PgListenerOptions) {
    this.logger = new Logger(`PgListener:${options.channel}`);
  }

  get listening(): boolean {
    return this.client !== null;
  }

  /**
   * Connects and LISTENs unless already done; rejects when the database cannot be reached (and,
   * when `wanted`, keeps retrying in the background).
   */
  async start(): Promise<void> {
    if (this.closed) throw new Error('the listener is closed');
    if (this.client) return;
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    try {
      await this.connecting;
    } catch (err) {
      this.scheduleReconnect();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.healthTimer);
    const client = this.client;
    this.client = null;
    await this.connecting?.catch(() => undefined);
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.options.url, application_name: this.options.applicationName, keepAlive: true });
    // Attached before connecting: an 'error' without a listener would crash the process.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg) => {
      if (msg.channel === this.options.channel) this.options.onNotification(msg.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.options.channel}`);
      if (this.closed) throw new Error('shutting down');
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    this.failures = 0;
    // A silently dead TCP connection would otherwise go unnoticed until the next notification that never comes.
    this.healthTimer = setInterval(() => void client.query('SELECT 1').catch((err: Error) => this.lost(client, err)), HEALTH_CHECK_MS);
  }

  private lost(client: Client, err?: Error): void {
    if (this.client !== client) return;
    this.client = null;
    clearInterval(this.healthTimer);
    client.removeAllListeners('notification');
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.options.onLost?.();
    this.logger.warn(`LISTEN connection lost${err ? `: ${err.message}` : ''}; reconnecting`);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.closed || !(this.options.wanted?.() ?? true)) return;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, 500 * 2 ** this.failures++);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.start().then(
        () => this.options.onReconnected?.(),
        (e: Error) => {
          this.logger.warn(`Reconnecting the LISTEN connection failed: ${e.message}`);
          this.scheduleReconnect();
        },
      );
    }, delay);
  }
}
