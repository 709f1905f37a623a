import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { decodeCursor, Page, PageQueryDto } from '../../common/pagination';
import type { Env } from '../../config/env.validation';
import { QueueService } from '../../queue/queue.service';
import type { AuthUser } from '../../common/auth';
import { EventsService } from '../events/events.service';
import { checkHost } from './address-policy';
import { CreateWebhookDto, DeliveryQueryDto, toDeliveryResponse, UpdateWebhookDto, WebhookDeliveryResponseDto } from './dto/webhook.dto';
import { WebhookEndpoint } from './entities/webhook-endpoint.entity';
import { checkEventPatterns, KNOWN_EVENT_TYPES } from './event-patterns';
import { WEBHOOK_QUEUE, WebhookJob, webhookSettings, WebhookSettings } from './webhook-settings';
import { WEBHOOK_ERRORS } from './webhooks.errors';
import { WebhookEndpointPatch, WebhooksRepository } from './webhooks.repository';

/** A new signing secret: Standard Webhooks' `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A URL as events may show it: no query or fragment (they may carry a receiver's token). */
function urlForEvents(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

@Injectable()
export class WebhooksService {
  private readonly settings: WebhookSettings;

  constructor(
    private readonly dataSource: DataSource,
    private readonly repo: WebhooksRepository,
    private readonly events: EventsService,
    private readonly queue: QueueService,
    config: ConfigService<Env, true>,
  ) {
    this.settings = webhookSettings(config);
  }

  /** The URL normalized, or the precise 400 for why it cannot be a webhook's. */
  async checkUrl(raw: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw WEBHOOK_ERRORS.error('webhooks.invalid_url', 'url is not an absolute URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw WEBHOOK_ERRORS.error('webhooks.invalid_url', `url must be https, not ${url.protocol}`);
    if (url.username || url.password) throw WEBHOOK_ERRORS.error('webhooks.invalid_url', 'url must not carry credentials (user:password@)');
    if (!url.hostname) throw WEBHOOK_ERRORS.error('webhooks.invalid_url', 'url has no host');
    const { allowHttp, allowLoopback } = this.settings;
    const plainToLoopbackOnly = url.protocol === 'http:' && !allowHttp;
    if (plainToLoopbackOnly && !allowLoopback) throw WEBHOOK_ERRORS.error('webhooks.https_required', 'url must use https');
    let check: Awaited<ReturnType<typeof checkHost>>;
    try {
      check = await checkHost(url.hostname, { allowLoopback, loopbackOnly: plainToLoopbackOnly });
    } catch {
      // Plain http must be seen to go to loopback; an https name not resolvable now is accepted (the
      // deliveries' errors show a typo) and every attempt checks its addresses again anyway.
      if (plainToLoopbackOnly)
        throw WEBHOOK_ERRORS.error('webhooks.https_required', 'url must use https (plain http goes to loopback addresses only)');
      return url.toString();
    }
    if (!check.allowed.length) {
      if (plainToLoopbackOnly && check.refused.every((r) => r.range.startsWith('unicast'))) {
        throw WEBHOOK_ERRORS.error('webhooks.https_required', 'url must use https (plain http goes to loopback addresses only)');
      }
      const addresses = check.refused.map((r) => `${r.address}: ${r.range.replace(/ \(.*\)$/, '')}`);
      throw WEBHOOK_ERRORS.error(
        'webhooks.url_not_allowed',
        `${url.hostname} is or resolves to an address webhooks may not reach (${addresses.join(', ')})`,
        { addresses },
      );
    }
    return url.toString();
  }

  private checkPatterns(patterns: string[]): void {
    const problems = checkEventPatterns(patterns);
    const invalid = problems.filter((p) => p.reason === 'invalid_pattern').map((p) => p.pattern);
    if (invalid.length) {
      throw WEBHOOK_ERRORS.error('webhooks.invalid_event_pattern', `Not event types, <area>.* or *: ${invalid.join(', ')}`, {
        patterns: invalid,
      });
    }
    const unknown = problems.map((p) => p.pattern);
    if (unknown.length) {
      throw WEBHOOK_ERRORS.error('webhooks.unknown_event_type', `No such event type: ${unknown.join(', ')}`, {
        event_types: unknown,
        known_event_types: [...KNOWN_EVENT_TYPES],
      });
    }
  }

  /** Creates an endpoint with its event; the secret is in the answer and nowhere else the caller can read it again. */
  async create(user: AuthUser, dto: CreateWebhookDto): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const scope = dto.scope ?? 'own';
    if (scope === 'all' && user.role !== 'admin')
      throw WEBHOOK_ERRORS.error('webhooks.scope_forbidden', 'scope "all" (every user’s events) is for admins; use "own"');
    this.checkPatterns(dto.events);
    const url = await this.checkUrl(dto.url);
    const secret = newWebhookSecret();
    const endpoint = await this.dataSource.transaction(async (m) => {
      // Serializes one user's concurrent creates, so the count cannot be passed by two at once.
      await this.repo.lockOwner(m, user.id);
      const count = await this.repo.countEndpoints(m, user.id);
      if (count >= this.settings.maxPerUser) {
        throw WEBHOOK_ERRORS.error('webhooks.limit_reached', `You have ${count} webhook endpoints, the most allowed; delete one first`, {
          limit: this.settings.maxPerUser,
        });
      }
      const saved = await this.repo.insertEndpoint(m, {
        id: uuidv7(),
        userId: user.id,
        url,
        events: dto.events,
        scope,
        description: dto.description || null,
        secret,
        enabled: true,
      });
      await this.events.record(m, {
        action: 'webhook.created',
        message: `Webhook endpoint ${urlForEvents(url)} created for ${dto.events.join(', ')}`,
        details: { webhook_id: saved.id, url: urlForEvents(url), events: dto.events, scope },
        userId: user.id,
      });
      return saved;
    });
    return { endpoint: await this.get(user.id, endpoint.id), secret };
  }

  list(userId: string, page: PageQueryDto): Promise<Page<WebhookEndpoint>> {
    return this.repo.listEndpoints(userId, page);
  }

  /** One of the user's endpoints (never its secret: `select: false`); anyone else's is "not found". */
  async get(userId: string, id: string): Promise<WebhookEndpoint> {
    const endpoint = await this.repo.findOwnEndpoint(userId, id);
    if (!endpoint) throw WEBHOOK_ERRORS.error('webhooks.not_found', 'Webhook endpoint not found');
    return endpoint;
  }

  async update(user: AuthUser, id: string, dto: UpdateWebhookDto): Promise<WebhookEndpoint> {
    if (dto.events) this.checkPatterns(dto.events);
    const url = dto.url === undefined ? undefined : await this.checkUrl(dto.url);
    await this.dataSource.transaction(async (m) => {
      const locked = await this.repo.lockOwnEndpoint(m, user.id, id);
      if (!locked) throw WEBHOOK_ERRORS.error('webhooks.not_found', 'Webhook endpoint not found');
      const changes: WebhookEndpointPatch = {};
      if (url !== undefined) changes.url = url;
      if (dto.events) changes.events = dto.events;
      if (dto.description !== undefined) changes.description = dto.description || null;
      if (dto.enabled === true && !locked.enabled)
        Object.assign(changes, { enabled: true, failingSince: null, disabledAt: null, disabledReason: null });
      if (dto.enabled === false && locked.enabled)
        Object.assign(changes, { enabled: false, disabledAt: new Date(), disabledReason: 'disabled by its owner' });
      const fields = Object.keys(changes).filter((k) => !['failingSince', 'disabledAt', 'disabledReason'].includes(k));
      if (!fields.length) return;
      await this.repo.updateEndpoint(m, id, changes);
      if (changes.enabled === false) await this.repo.failPending(m, id);
      await this.events.record(m, {
        action: 'webhook.updated',
        message: `Webhook endpoint ${id} updated (${fields.join(', ')})`,
        details: {
          webhook_id: id,
          changed: fields,
          ...(url ? { url: urlForEvents(url) } : {}),
          ...(dto.events ? { events: dto.events } : {}),
          ...(dto.enabled !== undefined ? { enabled: dto.enabled } : {}),
        },
        userId: user.id,
      });
    });
    return this.get(user.id, id);
  }

  async delete(user: AuthUser, id: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const endpoint = await this.repo.deleteOwnEndpoint(m, user.id, id);
      if (!endpoint) throw WEBHOOK_ERRORS.error('webhooks.not_found', 'Webhook endpoint not found');
      await this.events.record(m, {
        action: 'webhook.deleted',
        message: `Webhook endpoint ${urlForEvents(endpoint.url)} deleted`,
        details: { webhook_id: id, url: urlForEvents(endpoint.url), events: endpoint.events },
        userId: user.id,
      });
    });
  }

  /** The endpoint's deliveries, newest first, each with its attempts. */
  async deliveries(userId: string, endpointId: string, query: DeliveryQueryDto): Promise<Page<WebhookDeliveryResponseDto>> {
    // A malformed cursor is refused for what it is before the endpoint is looked up (as every paginated route does).
    if (query.cursor !== undefined) decodeCursor(query.cursor);
    await this.get(userId, endpointId);
    const page = await this.repo.listDeliveries(endpointId, query.status, { limit: query.limit, cursor: query.cursor });
    const attempts = await this.repo.attemptsOf(page.items.map((d) => d.id));
    return {
      items: page.items.map((d) =>
        toDeliveryResponse(
          d,
          attempts.filter((a) => a.deliveryId === d.id),
        ),
      ),
      next_cursor: page.next_cursor,
    };
  }

  /**
   * Attempts a delivered or failed delivery again, now, with a new retry window (the queue job is
   * enqueued in the same transaction). A delivery still pending is refused: it is being retried.
   */
  async retry(userId: string, endpointId: string, deliveryId: string): Promise<WebhookDeliveryResponseDto> {
    await this.dataSource.transaction(async (m) => {
      // The endpoint's row first, then the delivery's (the order of a deletion's cascade).
      const endpoint = await this.repo.lockEndpointForDelivery(m, endpointId, userId);
      if (!endpoint) throw WEBHOOK_ERRORS.error('webhooks.not_found', 'Webhook endpoint not found');
      const d = await this.repo.lockDelivery(m, deliveryId, endpointId);
      if (!d) throw WEBHOOK_ERRORS.error('webhooks.delivery_not_found', 'Delivery not found');
      if (!endpoint.enabled)
        throw WEBHOOK_ERRORS.error('webhooks.endpoint_disabled', 'The endpoint is disabled; enable it (PATCH enabled=true) first');
      if (d.status === 'pending')
        throw WEBHOOK_ERRORS.error('webhooks.delivery_pending', 'The delivery is still being attempted (see next_attempt_at)');
      await this.repo.restartDelivery(m, deliveryId);
      await this.queue.send<WebhookJob>(
        m,
        WEBHOOK_QUEUE,
        { deliveryId, attempt: d.attempts + 1 },
        { expireInSeconds: jobExpirySeconds(this.settings) },
      );
    });
    this.queue.notify(WEBHOOK_QUEUE);
    const delivery = await this.repo.findDelivery(deliveryId);
    const attempts = await this.repo.attemptsOf([deliveryId]);
    return toDeliveryResponse(delivery, attempts);
  }
}

/** A delivery job's expiry: past it, pg-boss counts its worker as dead and runs it again. */
export function jobExpirySeconds(settings: Pick<WebhookSettings, 'timeoutMs'>): number {
  return Math.ceil(settings.timeoutMs / 1000) + 60;
}
