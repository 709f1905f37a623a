import { Type } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Type as TransformType } from 'class-transformer';
import { IsInt, IsOptional, IsString, isUUID, Max, MaxLength, Min } from 'class-validator';
import { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { Db, typedQuery } from '../database/typed-query';
import { COMMON_ERRORS } from './common.errors';
import { prepared } from '../database/prepared';

export class PageQueryDto {
  /** Page size. */
  @IsOptional()
  @TransformType(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  @ApiProperty({ type: 'integer', required: false, minimum: 1, maximum: 100, default: 20 })
  limit?: number = 20;

  @IsOptional()
  @IsString()
  @MaxLength(200)
  @ApiProperty({ required: false, maxLength: 200, description: 'Opaque cursor from the previous page’s `next_cursor`' })
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Builds the Swagger-visible page class for one item type. */
export function PageOf<T>(item: Type<T>): Type<Page<T>> {
  class PageDto {
    @ApiProperty({ type: [item] })
    items: T[];

    @ApiProperty({ type: String, nullable: true, description: 'Pass as ?cursor= for the next page; null on the last page' })
    next_cursor: string | null;
  }
  Object.defineProperty(PageDto, 'name', { value: `${item.name.replace(/ResponseDto$|Dto$/, '')}Page` });
  return PageDto;
}

/** The same page with each item mapped (e.g. entity -> response DTO). */
export function mapPage<A, B>(page: Page<A>, map: (item: A) => B): Page<B> {
  return { items: page.items.map(map), next_cursor: page.next_cursor };
}

/** The instants a filter or cursor may name: years 1 to 9999 (PostgreSQL's timestamptz reaches further, JS's Date less far back). */
export const MIN_INSTANT = new Date('0001-01-01T00:00:00Z');
export const MAX_INSTANT = new Date('9999-12-31T23:59:59.999Z');

export interface Cursor {
  createdAt: Date;
  id: string;
}

/** Ids as PostgreSQL prints a uuid: what an issued cursor holds. */
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function invalidCursor(): Error {
  return COMMON_ERRORS.error('pagination.invalid_cursor', 'The cursor is not one this API issued');
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdAt.toISOString(), c.id])).toString('base64url');
}

/**
 * The (created_at, id) key of an issued cursor, or 400 pagination.invalid_cursor for anything else:
 * only a cursor that re-encodes to the same text is accepted, so bytes that are not UTF-8, NUL,
 * escaped lone surrogates, other shapes and out-of-range instants never reach the database.
 */
export function decodeCursor(raw: string): Cursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (!Array.isArray(value) || value.length !== 2) throw invalidCursor();
  const [ts, id] = value as unknown[];
  if (typeof ts !== 'string' || typeof id !== 'string' || !CANONICAL_UUID.test(id)) throw invalidCursor();
  const createdAt = new Date(ts);
  // An instant PostgreSQL and a JS Date agree on, written as toISOString() writes it.
  if (!(createdAt >= MIN_INSTANT && createdAt <= MAX_INSTANT)) throw invalidCursor();
  const cursor = { createdAt, id };
  if (encodeCursor(cursor) !== raw) throw invalidCursor();
  return cursor;
}

/** A cursor over a text key (e.g. host names, ordered by name). */
export function encodeTextCursor(key: string): string {
  return Buffer.from(key).toString('base64url');
}

/**
 * The text key of an issued text cursor, or 400 pagination.invalid_cursor: the key must be non-empty,
 * at most `maxLength` characters, free of NUL (PostgreSQL refuses it in text), and re-encode to the
 * same cursor (which rules out bytes that are not UTF-8).
 */
export function decodeTextCursor(raw: string, maxLength: number): string {
  const key = Buffer.from(raw, 'base64url').toString('utf8');
  if (!key || key.length > maxLength || key.includes('\u0000') || encodeTextCursor(key) !== raw) throw invalidCursor();
  return key;
}

/** The order of a keyset page: the key columns, their direction and the cursor's codec. */
export interface KeysetOrder {
  /** The key columns as the query names them (qualified when it joins), unique together. */
  columns: readonly string[];
  direction: 'ASC' | 'DESC';
  /** The key of an issued cursor, or 400 pagination.invalid_cursor. */
  decode(raw: string): unknown[];
  encode(key: readonly unknown[]): string;
}

/** Newest first on (created_at, id): every list of things that happened or were created. */
export function newestFirst(alias?: string): KeysetOrder {
  const col = (c: string) => (alias ? `${alias}.${c}` : c);
  return {
    columns: [col('created_at'), col('id')],
    direction: 'DESC',
    decode: (raw) => {
      const c = decodeCursor(raw);
      return [c.createdAt, c.id];
    },
    encode: ([createdAt, id]) => encodeCursor({ createdAt: createdAt as Date, id: id as string }),
  };
}

export const NEWEST_FIRST = newestFirst();

/** Ascending on one unique text column (e.g. host names), cursors at most `maxLength` characters. */
export function byTextKey(column: string, maxLength: number): KeysetOrder {
  return {
    columns: [column],
    direction: 'ASC',
    decode: (raw) => [decodeTextCursor(raw, maxLength)],
    encode: ([key]) => encodeTextCursor(key as string),
  };
}

/** Collects `column op $n` conditions and their parameters for keysetPage's plain SQL. */
export class KeysetFilter {
  readonly where: string[] = [];
  readonly params: unknown[] = [];

  /** The placeholder of a value the SELECT itself uses (take these before any condition). */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** `condition` receives the placeholder of `value`, e.g. (p) => `user_id = ${p}`. */
  add(condition: (placeholder: string) => string, value: unknown): this {
    this.where.push(condition(this.param(value)));
    return this;
  }

  /** A condition without a parameter. */
  raw(condition: string): this {
    this.where.push(condition);
    return this;
  }
}

/** A list in plain SQL: `SELECT <columns> FROM <tables>` (the key columns among them) and its filter. */
export interface SqlSource {
  db: Db;
  select: string;
  filter: KeysetFilter;
}

function isQueryBuilder<E extends ObjectLiteral>(source: SqlSource | SelectQueryBuilder<E>): source is SelectQueryBuilder<E> {
  return source instanceof SelectQueryBuilder;
}

/**
 * The one keyset paginator. A page is the rows after the cursor's key in `order`, fetched with
 * LIMIT limit + 1 (the extra row only says there is a next page), so its cost stays flat as the
 * table grows given an index ending in the key columns. The source is plain SQL (the busiest lists:
 * no ORM query building or hydration, a prepared statement) or a TypeORM query builder; `keyOf`
 * reads a row's key in the order's column order. Timestamps are stored with millisecond precision
 * so a cursor round-trips through a JS Date exactly.
 */
export async function keysetPage<R extends ObjectLiteral>(
  source: SqlSource | SelectQueryBuilder<R>,
  order: KeysetOrder,
  page: PageQueryDto,
  keyOf: (row: R) => readonly unknown[],
): Promise<Page<R>> {
  const limit = page.limit ?? 20;
  const after = page.cursor ? order.decode(page.cursor) : null;
  const cmp = order.direction === 'DESC' ? '<' : '>';
  const tuple = (items: readonly string[]) => (items.length === 1 ? items[0] : `(${items.join(', ')})`);
  let rows: R[];
  if (isQueryBuilder(source)) {
    if (after) {
      const names = after.map((_, i) => `keyset${i}`);
      source.andWhere(
        `${tuple(order.columns)} ${cmp} ${tuple(names.map((n) => `:${n}`))}`,
        Object.fromEntries(names.map((n, i) => [n, after[i]])),
      );
    }
    order.columns.forEach((c, i) => (i ? source.addOrderBy(c, order.direction) : source.orderBy(c, order.direction)));
    rows = await source
      .take(undefined)
      .limit(limit + 1)
      .getMany();
  } else {
    const where = [...source.filter.where];
    const params = [...source.filter.params];
    if (after) {
      const placeholders = after.map((v) => `$${params.push(v)}`);
      where.push(`${tuple(order.columns)} ${cmp} ${tuple(placeholders)}`);
    }
    params.push(limit + 1);
    const text = `${source.select}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order.columns
      .map((c) => `${c} ${order.direction}`)
      .join(', ')} LIMIT $${params.length}`;
    rows = await typedQuery<R>(source.db, prepared(text), params);
  }
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? order.encode(keyOf(last)) : null };
}
