import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { AppError } from './app-error';
import { decodeCursor, decodeTextCursor, encodeCursor, encodeTextCursor, MAX_INSTANT, MIN_INSTANT } from './pagination';

/** The decoder's only outcomes: a key, or 400 pagination.invalid_cursor (never another error). */
function outcome(decode: () => unknown): 'ok' | 'invalid_cursor' {
  try {
    decode();
    return 'ok';
  } catch (e) {
    if (e instanceof AppError && e.status === 400 && e.code === 'pagination.invalid_cursor') return 'invalid_cursor';
    throw e;
  }
}

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');
const json = (value: unknown) => b64(JSON.stringify(value) ?? 'undefined');
const uuid = '0192d4e8-8a3b-7c1d-9e2f-0a1b2c3d4e5f';
const issuedInstant = fc.date({ min: MIN_INSTANT, max: MAX_INSTANT, noInvalidDate: true });
const issuedId = fc.uuid().map((u) => u.toLowerCase());

/** Text that has broken naive decoders: NUL, lone surrogates, huge numbers, other shapes. */
const hostileValue = fc.oneof(
  fc.anything(),
  fc.constantFrom<unknown>(
    'a\u0000b',
    '\ud800',
    '\udc00x',
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    '-271821-04-20T00:00:00Z',
    '+275760-09-13T00:00:00.000Z',
    '0000-12-31T23:59:59.999Z',
    '10000-01-01T00:00:00.000Z',
    '--------------------------------------',
    uuid.toUpperCase(),
    `${uuid}\u0000`,
    null,
    {},
    [],
  ),
);

describe('cursor decoding', () => {
  it('round-trips every cursor it issues', () => {
    fc.assert(
      fc.property(issuedInstant, issuedId, (createdAt, id) => {
        expect(decodeCursor(encodeCursor({ createdAt, id }))).toEqual({ createdAt, id });
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 100 }).filter((s) => !s.includes('\u0000')),
        (name) => {
          expect(decodeTextCursor(encodeTextCursor(name), 100)).toBe(name);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('answers 400 pagination.invalid_cursor, never anything else, for any other text or bytes', () => {
    const arbitraryRaw = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.uint8Array({ maxLength: 150 }).map((bytes) => b64(Buffer.from(bytes))),
      fc.string({ unit: 'binary', maxLength: 100 }).map(b64),
      fc.tuple(hostileValue, hostileValue).map(json),
      fc.tuple(issuedInstant, hostileValue).map(([d, id]) => json([d.toISOString(), id])),
      fc.tuple(hostileValue, issuedId).map(([ts, id]) => json([ts, id])),
      fc.array(hostileValue, { maxLength: 4 }).map(json),
      hostileValue.map(json),
    );
    fc.assert(
      fc.property(arbitraryRaw, (raw) => {
        const key = outcome(() => decodeCursor(raw));
        // Whatever it accepts is exactly a cursor it could have issued.
        if (key === 'ok') expect(encodeCursor(decodeCursor(raw))).toBe(raw);
        const text = outcome(() => decodeTextCursor(raw, 100));
        if (text === 'ok') {
          const name = decodeTextCursor(raw, 100);
          expect(name.includes('\u0000')).toBe(false);
          expect(encodeTextCursor(name)).toBe(raw);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['a NUL inside the text (YQBi is "a\\0b")', 'YQBi'],
    ['a NUL alone', b64('\u0000')],
    ['bytes that are not UTF-8', b64(Buffer.from([0x61, 0xff, 0xfe]))],
    ['a UTF-8-encoded lone surrogate', b64(Buffer.from([0xed, 0xa0, 0x80]))],
    ['an escaped lone surrogate as the instant', json(['\ud800', uuid])],
    ['an escaped lone surrogate in the id', json(['2026-01-01T00:00:00.000Z', '\udc00'])],
    ['an object', json({ ts: '2026-01-01T00:00:00.000Z', id: uuid })],
    ['three elements', json(['2026-01-01T00:00:00.000Z', uuid, 1])],
    ['one element', json(['2026-01-01T00:00:00.000Z'])],
    ['a number as the instant', json([1e308, uuid])],
    ['a huge number as the id', json(['2026-01-01T00:00:00.000Z', 1e308])],
    ['a non-UUID id', json(['2026-01-01T00:00:00.000Z', '-'.repeat(36)])],
    ['an upper-case UUID', json(['2026-01-01T00:00:00.000Z', uuid.toUpperCase()])],
    ['year -271821', json(['-271821-04-20T00:00:00.000Z', uuid])],
    ['year 10000', json(['+010000-01-01T00:00:00.000Z', uuid])],
    ['an instant not written as issued', json(['2026-01-01', uuid])],
    ['padding', `${encodeCursor({ createdAt: new Date('2026-01-01T00:00:00.000Z'), id: uuid })}==`],
    ['empty', ''],
    ['not base64 at all', '!!!'],
  ])('refuses %s', (_what, raw) => {
    expect(outcome(() => decodeCursor(raw))).toBe('invalid_cursor');
  });

  it('refuses text cursors with NUL, bytes that are not UTF-8, or keys longer than allowed', () => {
    for (const raw of [
      'YQBi',
      b64('\u0000'),
      b64(Buffer.from([0x61, 0xff])),
      b64(Buffer.from([0xed, 0xa0, 0x80])),
      '',
      b64('x'.repeat(101)),
      'YQBi=',
    ]) {
      expect({ raw, outcome: outcome(() => decodeTextCursor(raw, 100)) }).toEqual({ raw, outcome: 'invalid_cursor' });
    }
    expect(decodeTextCursor(b64('host-1.example'), 100)).toBe('host-1.example');
  });
});
