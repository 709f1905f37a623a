import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import { DELIVERY_STATUSES, type DeliveryStatus, type WebhookDelivery } from '../entities/webhook-delivery.entity';
import type { WebhookAttempt } from '../entities/webhook-attempt.entity';
import { WEBHOOK_SCOPES, type WebhookEndpoint, type WebhookScope } from '../entities/webhook-endpoint.entity';
import { PageQueryDto } from '../../../common/pagination';

export const WEBHOOK_URL_MAX = 2048;
export const WEBHOOK_EVENTS_MAX = 64;
export const WEBHOOK_DESCRIPTION_MAX = 200;

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

export class CreateWebhookDto {
  /** Where events are POSTed: https (plain http only where the operator allows it). No credentials in it. */
  @Transform(trim)
  @IsString()
  @MaxLength(WEBHOOK_URL_MAX)
  @ApiProperty({ example: 'https://hooks.example.com/vm-platform', maxLength: WEBHOOK_URL_MAX })
  url: string;

  /** Event types (`vm.provisioned`), areas (`vm.*`, `auth.*`, ...) or `*` for every event. */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(WEBHOOK_EVENTS_MAX)
  @ArrayUnique({ message: 'events must not repeat an entry' })
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  @ApiProperty({ type: [String], example: ['vm.*', 'system.credit_deduction'], minItems: 1, maxItems: WEBHOOK_EVENTS_MAX })
  events: string[];

  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(WEBHOOK_DESCRIPTION_MAX)
  @Matches(NO_CONTROL, { message: 'description must not contain control characters' })
  @ApiProperty({ required: false, example: 'CI notifications', maxLength: WEBHOOK_DESCRIPTION_MAX })
  description?: string;

  /** `own` (default): your events, as your feed shows them. `all`: every user's events, as the admin feed shows them (admins only). */
  @IsOptional()
  @IsIn(WEBHOOK_SCOPES)
  @ApiProperty({ enum: WEBHOOK_SCOPES, enumName: 'WebhookScope', required: false, example: 'own' })
  scope?: WebhookScope;
}

export class UpdateWebhookDto {
  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(WEBHOOK_URL_MAX)
  @ApiProperty({ required: false, example: 'https://hooks.example.com/vm-platform', maxLength: WEBHOOK_URL_MAX })
  url?: string;

  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(WEBHOOK_EVENTS_MAX)
  @ArrayUnique({ message: 'events must not repeat an entry' })
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  @ApiProperty({ type: [String], required: false, example: ['vm.*'], minItems: 1, maxItems: WEBHOOK_EVENTS_MAX })
  events?: string[];

  /** null removes it. */
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @Transform(trim)
  @IsString()
  @MaxLength(WEBHOOK_DESCRIPTION_MAX)
  @Matches(NO_CONTROL, { message: 'description must not contain control characters' })
  @ApiProperty({ type: String, required: false, nullable: true, example: 'CI notifications', maxLength: WEBHOOK_DESCRIPTION_MAX })
  description?: string | null;

  /** true turns a disabled endpoint back on (new events only; retry failed deliveries one by one). */
  @IsOptional()
  @IsBoolean()
  @ApiProperty({ required: false, example: true })
  enabled?: boolean;
}

export class WebhookResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'https://hooks.example.com/vm-platform' })
  url: string;

  @ApiProperty({ type: [String], example: ['vm.*'] })
  events: string[];

  @ApiProperty({ enum: WEBHOOK_SCOPES, enumName: 'WebhookScope' })
  scope: WebhookScope;

  @ApiProperty({ type: String, nullable: true })
  description: string | null;

  /** false once deliveries have failed for longer than the retry window (or after PATCH enabled=false). */
  enabled: boolean;

  /** The first failed attempt since the last successful one; null while deliveries succeed. */
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  failing_since: Date | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  disabled_at: Date | null;

  @ApiProperty({ type: String, nullable: true, example: 'deliveries failed for 86400 s; last error: the receiver answered 503' })
  disabled_reason: string | null;

  created_at: Date;
  updated_at: Date;
}

export class WebhookCreatedResponseDto extends WebhookResponseDto {
  /** The signing secret (Standard Webhooks `whsec_<base64>`): shown this once, never again. */
  @ApiProperty({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  secret: string;
}

export class WebhookAttemptDto {
  /** 1 for the first attempt. */
  @ApiProperty({ type: 'integer', example: 1 })
  attempt: number;

  /** The receiver's HTTP status; null when there was none (address refused, timeout, connection error). */
  @ApiProperty({ type: 'integer', nullable: true, example: 503 })
  status_code: number | null;

  @ApiProperty({ type: 'integer', example: 42 })
  duration_ms: number;

  @ApiProperty({ type: String, nullable: true, example: 'the receiver answered 503' })
  error: string | null;

  attempted_at: Date;

  /** When the next attempt was scheduled after this one; null when none was (delivered, given up). */
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  next_attempt_at: Date | null;
}

export class WebhookDeliveryResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  /** The event delivered; also the `webhook-id` header of every attempt. */
  @ApiProperty({ format: 'uuid' })
  event_id: string;

  @ApiProperty({ example: 'vm.provisioned' })
  event_type: string;

  @ApiProperty({ enum: DELIVERY_STATUSES, enumName: 'WebhookDeliveryStatus' })
  status: DeliveryStatus;

  @ApiProperty({ type: 'integer' })
  attempts: number;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  next_attempt_at: Date | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  delivered_at: Date | null;

  created_at: Date;

  /** Every attempt, oldest first. */
  @ApiProperty({ type: [WebhookAttemptDto] })
  attempt_log: WebhookAttemptDto[];
}

export class DeliveryQueryDto extends PageQueryDto {
  @IsOptional()
  @IsIn(DELIVERY_STATUSES)
  @ApiProperty({ enum: DELIVERY_STATUSES, enumName: 'WebhookDeliveryStatus', required: false })
  status?: DeliveryStatus;
}

export function toWebhookResponse(w: WebhookEndpoint): WebhookResponseDto {
  return {
    id: w.id,
    url: w.url,
    events: w.events,
    scope: w.scope,
    description: w.description,
    enabled: w.enabled,
    failing_since: w.failingSince,
    disabled_at: w.disabledAt,
    disabled_reason: w.disabledReason,
    created_at: w.createdAt,
    updated_at: w.updatedAt,
  };
}

export function toAttemptDto(a: WebhookAttempt): WebhookAttemptDto {
  return {
    attempt: a.attempt,
    status_code: a.statusCode,
    duration_ms: a.durationMs,
    error: a.error,
    attempted_at: a.attemptedAt,
    next_attempt_at: a.nextAttemptAt,
  };
}

export function toDeliveryResponse(d: WebhookDelivery, attempts: WebhookAttempt[]): WebhookDeliveryResponseDto {
  return {
    id: d.id,
    event_id: d.eventId,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.nextAttemptAt,
    delivered_at: d.deliveredAt,
    created_at: d.createdAt,
    attempt_log: attempts.map(toAttemptDto),
  };
}
