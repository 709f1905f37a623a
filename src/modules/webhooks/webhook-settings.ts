import type { ConfigService } from '@nestjs/config';
import type { Env } from '../../config/env.validation';
import type { RetrySchedule } from './backoff';
import type { SenderSettings } from './webhook-sender';

export interface WebhookSettings extends SenderSettings {
  maxPerUser: number;
  concurrency: number;
  retry: RetrySchedule;
}

export function webhookSettings(config: ConfigService<Env, true>): WebhookSettings {
  const get = <K extends keyof Env>(key: K) => config.get(key, { infer: true }) as Env[K];
  return {
    maxPerUser: get('WEBHOOKS_MAX_PER_USER'),
    allowHttp: get('WEBHOOKS_ALLOW_HTTP'),
    allowLoopback: get('WEBHOOKS_ALLOW_LOOPBACK'),
    timeoutMs: get('WEBHOOKS_TIMEOUT_MS'),
    maxResponseBytes: get('WEBHOOKS_MAX_RESPONSE_BYTES'),
    concurrency: get('WEBHOOKS_CONCURRENCY'),
    retry: {
      baseMs: get('WEBHOOKS_RETRY_BASE_DELAY_MS'),
      maxMs: Math.max(get('WEBHOOKS_RETRY_MAX_DELAY_MS'), get('WEBHOOKS_RETRY_BASE_DELAY_MS')),
      windowMs: get('WEBHOOKS_RETRY_WINDOW_SECONDS') * 1000,
    },
  };
}

/** The queue of delivery attempts: one job per attempt. */
export const WEBHOOK_QUEUE = 'webhook-delivery';

/** A job: attempt number `attempt` of one delivery (a job for an attempt already made is stale). */
export interface WebhookJob {
  deliveryId: string;
  attempt: number;
}

/** NOTIFY channel on which the outbox trigger announces new deliveries. */
export const WEBHOOKS_CHANNEL = 'vmapi_webhooks';
