import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsISO8601,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import {
  KNOWN_METRICS_DESCRIPTION,
  MAX_POINTS_PER_BATCH,
  MAX_SERIES_POINTS,
  METRIC_NAME_MESSAGE,
  METRIC_NAME_PATTERN,
  METRIC_UNIT_PATTERN,
} from '../metric-rules';

/** A timestamp without a zone would be read in the server's zone: require one. */
const WITH_ZONE = /T.*(Z|[+-]\d{2}(:?\d{2})?)$/;

const NAME_DESCRIPTION = `${KNOWN_METRICS_DESCRIPTION}, or a namespaced name of your own such as \`app.requests\``;

/** One point from an agent. */
export class MetricCreateDto {
  @IsString()
  @Matches(METRIC_NAME_PATTERN, { message: METRIC_NAME_MESSAGE })
  @ApiProperty({ example: 'cpu_percent', pattern: METRIC_NAME_PATTERN.source, maxLength: 64, description: NAME_DESCRIPTION })
  name: string;

  /** A finite number; known metrics also have a range (cpu_percent 0..100, the others >= 0). */
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @ApiProperty({ example: 42.5 })
  value: number;

  /** For namespaced names only; a known metric's unit is fixed (sending another one is an error). */
  @IsOptional()
  @IsString()
  @Matches(METRIC_UNIT_PATTERN, { message: 'unit must be 1 to 16 letters, digits, spaces or % / . _ -' })
  @ApiProperty({ required: false, example: 'req/s', pattern: METRIC_UNIT_PATTERN.source })
  unit?: string;

  /** When it was measured (ISO 8601 with a time zone); default: when received. Not in the future (beyond a small clock skew), not older than the retention. */
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  @Matches(WITH_ZONE, { message: 'recorded_at must end with a time zone (Z or ±hh:mm)' })
  @ApiProperty({ required: false, format: 'date-time', example: '2026-11-25T20:15:00Z' })
  recorded_at?: string;
}

export class MetricBatchDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_POINTS_PER_BATCH)
  @ValidateNested({ each: true })
  @Type(() => MetricCreateDto)
  @ApiProperty({ type: [MetricCreateDto], minItems: 1, maxItems: MAX_POINTS_PER_BATCH })
  points: MetricCreateDto[];
}

export class MetricIngestResponseDto {
  /** Points stored. */
  @ApiProperty({ type: 'integer', example: 4 })
  accepted: number;
}

export class MetricSeriesQueryDto {
  /** The metric to read. */
  @IsString()
  @Matches(METRIC_NAME_PATTERN, { message: METRIC_NAME_MESSAGE })
  @ApiProperty({ example: 'cpu_percent', pattern: METRIC_NAME_PATTERN.source })
  name: string;

  /** Start of the range, inclusive (ISO 8601). Default: 24 hours before `to`. */
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  @ApiProperty({ required: false, format: 'date-time' })
  from?: string;

  /** End of the range, exclusive (ISO 8601). Default: now. */
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  @ApiProperty({ required: false, format: 'date-time' })
  to?: string;

  /**
   * Bucket width in seconds; buckets are aligned to the Unix epoch. Raised when the range would
   * need more than 1000 buckets; default: the smallest of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, 1 day that fits.
   */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(366 * 86400)
  @ApiProperty({ required: false, type: 'integer', minimum: 1, maximum: 366 * 86400, example: 60 })
  step?: number;
}

export class MetricPointDto {
  /** Start of the bucket. */
  t: Date;

  avg: number;

  min: number;

  max: number;

  /** Samples in the bucket. */
  @ApiProperty({ type: 'integer' })
  count: number;
}

export class MetricSeriesResponseDto {
  @ApiProperty({ format: 'uuid' })
  vm_id: string;

  @ApiProperty({ example: 'cpu_percent' })
  name: string;

  /** The unit of the newest sample in the range (null when none, or unitless). */
  @ApiProperty({ type: String, nullable: true, example: '%' })
  unit: string | null;

  from: Date;

  to: Date;

  /** Bucket width in seconds actually used. */
  @ApiProperty({ type: 'integer', example: 60 })
  step: number;

  /** Buckets that hold samples, oldest first; at most 1000 whatever the range. */
  @ApiProperty({ type: [MetricPointDto], maxItems: MAX_SERIES_POINTS })
  points: MetricPointDto[];
}
