import { expiredPartitions, missingRanges, slotStart, timesAhead } from './metric-partitions';

const at = (iso: string) => new Date(iso);
const range = (from: string, to: string) => ({ from: at(from), to: at(to) });
const iso = (ranges: { from: Date; to: Date }[]) => ranges.map((r) => [r.from.toISOString(), r.to.toISOString()]);

describe('metric partitions', () => {
  it('aligns slots to the epoch: UTC midnights for 24 h, the hour for 6 h', () => {
    expect(slotStart(at('2026-12-06T23:59:59.999Z'), 24).toISOString()).toBe('2026-12-06T00:00:00.000Z');
    expect(slotStart(at('2026-12-07T00:00:00.000Z'), 24).toISOString()).toBe('2026-12-07T00:00:00.000Z');
    expect(slotStart(at('2026-12-06T13:10:00Z'), 6).toISOString()).toBe('2026-12-06T12:00:00.000Z');
  });

  it('asks for each slot holding a time once, nothing where partitions exist', () => {
    const times = [at('2026-12-06T23:59:00Z'), at('2026-12-06T01:00:00Z'), at('2026-12-07T00:00:01Z')];
    expect(iso(missingRanges(times, 24, []))).toEqual([
      ['2026-12-06T00:00:00.000Z', '2026-12-07T00:00:00.000Z'],
      ['2026-12-07T00:00:00.000Z', '2026-12-08T00:00:00.000Z'],
    ]);
    expect(
      missingRanges(times, 24, [range('2026-12-06T00:00Z', '2026-12-07T00:00Z'), range('2026-12-07T00:00Z', '2026-12-08T00:00Z')]),
    ).toEqual([]);
  });

  it('fills only the gaps when existing partitions have another width', () => {
    // Days made before METRICS_PARTITION_HOURS became 6: nothing to make inside them.
    expect(missingRanges([at('2026-12-06T13:00Z')], 6, [range('2026-12-06T00:00Z', '2026-12-07T00:00Z')])).toEqual([]);
    // 6-hour partitions made before it became 24: the day is made of what they leave.
    const existing = [range('2026-12-06T06:00Z', '2026-12-06T12:00Z'), range('2026-12-06T18:00Z', '2026-12-07T00:00Z')];
    expect(iso(missingRanges([at('2026-12-06T20:00Z')], 24, existing))).toEqual([
      ['2026-12-06T00:00:00.000Z', '2026-12-06T06:00:00.000Z'],
      ['2026-12-06T12:00:00.000Z', '2026-12-06T18:00:00.000Z'],
    ]);
  });

  it('covers now to 48 hours ahead', () => {
    expect(timesAhead(at('2026-12-06T13:00Z'), 24).map((t) => t.toISOString())).toEqual([
      '2026-12-06T00:00:00.000Z',
      '2026-12-07T00:00:00.000Z',
      '2026-12-08T00:00:00.000Z',
    ]);
    expect(timesAhead(at('2026-12-06T13:00Z'), 6)).toHaveLength(9);
  });

  it('expires a partition only when all of it is older than the cutoff', () => {
    const parts = [range('2026-11-05T00:00Z', '2026-11-06T00:00Z'), range('2026-11-06T00:00Z', '2026-11-07T00:00Z')];
    expect(iso(expiredPartitions(parts, at('2026-11-06T00:00Z')))).toEqual([['2026-11-05T00:00:00.000Z', '2026-11-06T00:00:00.000Z']]);
    expect(expiredPartitions(parts, at('2026-11-05T23:59Z'))).toEqual([]);
  });
});
