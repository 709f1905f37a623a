import { Type } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Type as TransformType } from 'class-transformer';
import { IsInt, IsOptional, IsString, isUUID, Max, MaxLength, Min } from 'class-validator';
import { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { COMMON_ERRORS } from './common.errors';
import { prepared } from '../database/prepared';

export class PageQueryDto {
  /** Page size. */
  @IsOptional() @TransformType(() => Number) @IsInt() @Min(1) @Max(100)
  @ApiProperty({ type: 'integer', required: false, minimum: 1, maximum: 100, default: 20 })
  limit?: number = 20;

  @IsOptional() @IsString() @MaxLength(200)
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

/** Rows fetched with LIMIT limit + 1: the extra row only says there is a next page. */
function pageFromProbe<T>(rows: T[], limit: number, keyOf: (row: T) => Cursor): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(keyOf(last)) : null };
}

/**
 * Keyset pagination, newest first, on (created_at, id). Cost stays flat as the table grows,
 * given an index that ends in (created_at DESC, id DESC). Timestamps are stored with millisecond
 * precision so a cursor round-trips through a JS Date exactly.
 */
export async function paginate<E extends ObjectLiteral & { createdAt: Date; id: string }>(
  qb: SelectQueryBuilder<E>,
  query: PageQueryDto,
): Promise<Page<E>> {
  const alias = qb.alias;
  const limit = query.limit ?? 20;
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    qb.andWhere(`(${alias}.created_at, ${alias}.id) < (:cursorTs, :cursorId)`, { cursorTs: c.createdAt, cursorId: c.id });
  }
  const rows = await qb
    .orderBy(`${alias}.created_at`, 'DESC')
    .addOrderBy(`${alias}.id`, 'DESC')
    .take(undefined)
    .limit(limit + 1)
    .getMany();
  return pageFromProbe(rows, limit, (e) => ({ createdAt: e.createdAt, id: e.id }));
}

/** A list query in plain SQL for paginateSql: conditions use $1.. in the order of `params`. */
export interface SqlPageQuery {
  /** `SELECT <columns> FROM <table>`; the columns include created_at and id. */
  select: string;
  where: string[];
  params: unknown[];
}

/** Collects `column op $n` conditions and their parameters for a SqlPageQuery. */
export class SqlConditions {
  readonly where: string[] = [];
  readonly params: unknown[] = [];

  /** `condition` receives the placeholder of `value`, e.g. (p) => `user_id = ${p}`. */
  add(condition: (placeholder: string) => string, value: unknown): this {
    this.params.push(value);
    this.where.push(condition(`$${this.params.length}`));
    return this;
  }

  /** A condition without a parameter. */
  raw(condition: string): this {
    this.where.push(condition);
    return this;
  }
}

/**
 * The same keyset page as paginate() (order, cursor format, limit + 1 probe), from plain SQL and
 * a row mapper: for the busiest lists, where building an ORM query and hydrating entities cost
 * more per request than the query itself.
 */
export async function paginateSql<R extends { created_at: Date; id: string }, T>(
  db: { query(sql: string, params?: unknown[]): Promise<unknown> },
  q: SqlPageQuery,
  query: PageQueryDto,
  map: (row: R) => T,
): Promise<Page<T>> {
  const limit = query.limit ?? 20;
  const where = [...q.where];
  const params = [...q.params];
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    params.push(c.createdAt, c.id);
    where.push(`(created_at, id) < ($${params.length - 1}, $${params.length})`);
  }
  params.push(limit + 1);
  const text = `${q.select}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`;
  const rows = (await db.query(prepared(text), params)) as R[];
  return mapPage(pageFromProbe(rows, limit, (r) => ({ createdAt: r.created_at, id: r.id })), map);
}
