import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { mapPage, PageOf, PageQueryDto } from '../../common/pagination';
import { headerRefs } from '../../common/response-headers';
import { UuidPipe } from '../../common/uuid.pipe';
import { ApiAuth, AuthUser, CurrentUser } from '../../common/auth';
import { RequireScope } from '../../common/auth/scopes';
import {
  CreateWebhookDto,
  DeliveryQueryDto,
  toWebhookResponse,
  UpdateWebhookDto,
  WebhookCreatedResponseDto,
  WebhookDeliveryResponseDto,
  WebhookResponseDto,
} from './dto/webhook.dto';
import { WEBHOOK_ERRORS } from './webhooks.errors';
import { WebhooksService } from './webhooks.service';

export const WebhookPage = PageOf(WebhookResponseDto);
export const WebhookDeliveryPage = PageOf(WebhookDeliveryResponseDto);

const URL_ERRORS = WEBHOOK_ERRORS.of(
  'webhooks.invalid_url',
  'webhooks.https_required',
  'webhooks.url_not_allowed',
  'webhooks.unknown_event_type',
  'webhooks.invalid_event_pattern',
);

@ApiTags('webhooks')
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @RequireScope('webhooks:write')
  @ApiOperation({
    operationId: 'createWebhook',
    summary: 'Subscribe a URL to your events',
    description:
      'Each event matching `events` (an event type such as `vm.provisioned`, an area such as `vm.*`, or `*`) is POSTed to `url` as ' +
      '`{type, timestamp, data}` (data: the event as your feed shows it), signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, ' +
      '`webhook-signature`: HMAC-SHA256 with the secret in this answer, shown only here). A delivery that fails is retried with exponential ' +
      'backoff for WEBHOOKS_RETRY_WINDOW_SECONDS (24 h); an endpoint failing longer is disabled (event `webhook.disabled`). ' +
      'URLs must be https and reach public addresses (checked again at every connection); redirects are never followed. ' +
      '`scope: "all"` (admins) subscribes to every user’s events, as the admin feed shows them. ' +
      '400 webhooks.invalid_url, webhooks.https_required, webhooks.url_not_allowed, webhooks.unknown_event_type, webhooks.invalid_event_pattern; ' +
      '403 webhooks.limit_reached, webhooks.scope_forbidden.',
  })
  @ApiCreatedResponse({
    type: WebhookCreatedResponseDto,
    description: 'The endpoint, with its signing secret (this once)',
    headers: headerRefs('Location'),
  })
  @ApiAuth(URL_ERRORS, WEBHOOK_ERRORS.of('webhooks.limit_reached', 'webhooks.scope_forbidden'))
  async create(
    @CurrentUser() user: AuthUser,
    @Body() dto: CreateWebhookDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<WebhookCreatedResponseDto> {
    const { endpoint, secret } = await this.webhooks.create(user, dto);
    res.header('Location', `/api/webhooks/${endpoint.id}`);
    return { ...toWebhookResponse(endpoint), secret };
  }

  @Get()
  @RequireScope('webhooks:read')
  @ApiOperation({
    operationId: 'listWebhooks',
    summary: 'Your webhook endpoints, newest first',
    description:
      'The endpoints your events are POSTed to, with the event patterns each receives and whether it is enabled (or why it was disabled). Signing secrets are never listed.',
  })
  @ApiOkResponse({ type: WebhookPage, description: 'A page of your endpoints (never their secrets)' })
  @ApiAuth()
  async list(@CurrentUser() user: AuthUser, @Query() page: PageQueryDto) {
    return mapPage(await this.webhooks.list(user.id, page), toWebhookResponse);
  }

  @Get(':id')
  @RequireScope('webhooks:read')
  @ApiOperation({
    operationId: 'getWebhook',
    summary: 'One of your webhook endpoints',
    description:
      'One endpoint of yours: URL, event patterns, scope, and whether deliveries are enabled. 404 for an endpoint that is not yours.',
  })
  @ApiOkResponse({ type: WebhookResponseDto, description: 'The endpoint (never its secret)' })
  @ApiAuth(WEBHOOK_ERRORS.of('webhooks.not_found'))
  async get(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string): Promise<WebhookResponseDto> {
    return toWebhookResponse(await this.webhooks.get(user.id, id));
  }

  @Patch(':id')
  @RequireScope('webhooks:write')
  @ApiOperation({
    operationId: 'updateWebhook',
    summary: 'Change a webhook endpoint’s URL, events or description, or turn it on or off',
    description: '`enabled: true` turns a disabled endpoint back on for new events; failed deliveries can then be retried one by one.',
  })
  @ApiOkResponse({ type: WebhookResponseDto, description: 'The endpoint as stored' })
  @ApiAuth(WEBHOOK_ERRORS.of('webhooks.not_found'), URL_ERRORS)
  async update(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Body() dto: UpdateWebhookDto,
  ): Promise<WebhookResponseDto> {
    return toWebhookResponse(await this.webhooks.update(user, id, dto));
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireScope('webhooks:write')
  @ApiOperation({
    operationId: 'deleteWebhook',
    summary: 'Delete a webhook endpoint',
    description: 'Its deliveries and their log go with it; nothing more is sent.',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiAuth(WEBHOOK_ERRORS.of('webhooks.not_found'))
  async delete(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string): Promise<void> {
    await this.webhooks.delete(user, id);
  }

  @Get(':id/deliveries')
  @RequireScope('webhooks:read')
  @ApiOperation({
    operationId: 'listWebhookDeliveries',
    summary: 'An endpoint’s deliveries, newest first, each with every attempt',
    description: 'One delivery per event; `attempt_log` lists each attempt (status code, duration, error, when the next was due).',
  })
  @ApiOkResponse({ type: WebhookDeliveryPage, description: 'A page of deliveries' })
  @ApiAuth(WEBHOOK_ERRORS.of('webhooks.not_found'))
  async deliveries(@CurrentUser() user: AuthUser, @Param('id', UuidPipe) id: string, @Query() query: DeliveryQueryDto) {
    return this.webhooks.deliveries(user.id, id, query);
  }

  @Post(':id/deliveries/:delivery_id/retry')
  @HttpCode(202)
  @RequireScope('webhooks:write')
  @ApiOperation({
    operationId: 'createWebhookDeliveryRetry',
    summary: 'Send a delivered or failed delivery again',
    description:
      'Attempted at once, then retried with backoff for a new window. 409 webhooks.delivery_pending while it is still being retried; 409 webhooks.endpoint_disabled.',
  })
  @ApiAcceptedResponse({ type: WebhookDeliveryResponseDto, description: 'The delivery, pending again' })
  @ApiAuth(
    WEBHOOK_ERRORS.of('webhooks.not_found', 'webhooks.delivery_not_found', 'webhooks.delivery_pending', 'webhooks.endpoint_disabled'),
  )
  async retry(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Param('delivery_id', UuidPipe) deliveryId: string,
  ): Promise<WebhookDeliveryResponseDto> {
    return this.webhooks.retry(user.id, id, deliveryId);
  }
}
