import ipaddr from 'ipaddr.js';
import { Webhook } from 'standardwebhooks';
import { Agent, buildConnector, request } from 'undici';
import { APP_VERSION } from '../../common/version';
import { AddressPolicy, filteringLookup, RefusedAddressError, refusedRange, Resolver } from './address-policy';

export interface SenderSettings {
  /** WEBHOOKS_TIMEOUT_MS: the whole attempt (connect, answer, body). */
  timeoutMs: number;
  /** WEBHOOKS_MAX_RESPONSE_BYTES: what is read of an answer's body before the connection is dropped. */
  maxResponseBytes: number;
  /** WEBHOOKS_ALLOW_HTTP: plain http to any address https may reach. */
  allowHttp: boolean;
  /** WEBHOOKS_ALLOW_LOOPBACK: loopback addresses, over https or plain http. */
  allowLoopback: boolean;
}

export interface OutgoingMessage {
  /** `webhook-id`: the event's id, the same on every attempt (receivers deduplicate on it). */
  id: string;
  /** The JSON body. */
  payload: string;
  /** `whsec_...` */
  secret: string;
}

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}

const MAX_ERROR_LENGTH = 500;

/** An error's message without NUL (text columns refuse it), short. */
function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: unknown };
  const cause = e?.cause as { message?: string } | undefined;
  const text = e?.message ? `${e.message}${cause?.message && cause.message !== e.message ? `: ${cause.message}` : ''}` : String(err);
  return text.replace(/\u0000/g, '').slice(0, MAX_ERROR_LENGTH);
}

/**
 * Sends signed deliveries (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature with
 * HMAC-SHA256) through an undici Agent whose connections check their address as they connect: IP
 * literals in the connector, names in a filtering `lookup` (address-policy.ts), so what was checked
 * is what is connected to. Redirects are never followed (a 3xx is a failed attempt); every attempt
 * has a deadline and reads at most maxResponseBytes of the answer.
 */
export class WebhookSender {
  private readonly agent: Agent;

  constructor(
    private readonly settings: SenderSettings,
    resolve?: Resolver,
  ) {
    const https: AddressPolicy = { allowLoopback: settings.allowLoopback };
    // Plain http: anywhere https goes with WEBHOOKS_ALLOW_HTTP, else loopback only (with WEBHOOKS_ALLOW_LOOPBACK).
    const plain: AddressPolicy = settings.allowHttp ? https : { allowLoopback: settings.allowLoopback, loopbackOnly: true };
    const connectTimeout = Math.min(settings.timeoutMs, 10_000);
    const connectors = {
      'https:': buildConnector({ lookup: filteringLookup(https, resolve), timeout: connectTimeout }),
      'http:': buildConnector({ lookup: filteringLookup(plain, resolve), timeout: connectTimeout }),
    };
    const policies = { 'https:': https, 'http:': plain };
    this.agent = new Agent({
      connect: (options, callback) => {
        const protocol = options.protocol as keyof typeof connectors;
        const connector = connectors[protocol];
        if (!connector) return callback(new Error(`protocol ${options.protocol} is not allowed`), null);
        // An IP literal is never looked up: judge it here.
        const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
        if (ipaddr.isValid(host)) {
          const range = refusedRange(host, policies[protocol]);
          if (range !== null) return callback(new RefusedAddressError(host, [{ address: host, range }]), null);
        }
        connector(options, callback);
      },
      // Deliveries to one receiver are few and far between: do not hold its connections open long.
      keepAliveTimeout: 4_000,
      headersTimeout: settings.timeoutMs,
      bodyTimeout: settings.timeoutMs,
    });
  }

  /** Whether a URL's scheme may be used at all (plain http needs WEBHOOKS_ALLOW_HTTP or WEBHOOKS_ALLOW_LOOPBACK). */
  static schemeAllowed(url: URL, settings: Pick<SenderSettings, 'allowHttp' | 'allowLoopback'>): boolean {
    return url.protocol === 'https:' || (url.protocol === 'http:' && (settings.allowHttp || settings.allowLoopback));
  }

  /** One attempt. Never throws: every failure is an AttemptResult with its error. */
  async send(url: string, message: OutgoingMessage, now: Date = new Date()): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const target = new URL(url);
    if (!WebhookSender.schemeAllowed(target, this.settings)) {
      return { ok: false, statusCode: null, durationMs: elapsed(), error: `${target.protocol} URLs are not allowed (https only)` };
    }
    const signature = new Webhook(message.secret).sign(message.id, now, message.payload);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.settings.timeoutMs);
    try {
      const res = await request(target, {
        method: 'POST',
        dispatcher: this.agent,
        signal: deadline.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': `vm-platform-webhooks/${APP_VERSION}`,
          'webhook-id': message.id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: message.payload,
      });
      // Read (and drop) at most the cap; a longer answer ends the connection.
      await res.body.dump({ limit: this.settings.maxResponseBytes }).catch(() => undefined);
      const statusCode = res.statusCode;
      if (statusCode >= 200 && statusCode < 300) return { ok: true, statusCode, durationMs: elapsed(), error: null };
      if (statusCode >= 300 && statusCode < 400) {
        return {
          ok: false,
          statusCode,
          durationMs: elapsed(),
          error: `redirect (${statusCode}) not followed: webhooks never follow redirects`,
        };
      }
      return { ok: false, statusCode, durationMs: elapsed(), error: `the receiver answered ${statusCode}` };
    } catch (err) {
      if (deadline.signal.aborted)
        return { ok: false, statusCode: null, durationMs: elapsed(), error: `timed out after ${this.settings.timeoutMs} ms` };
      return { ok: false, statusCode: null, durationMs: elapsed(), error: describe(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
