import { describe, expect, it } from '@jest/globals';
import { checkPoint, chooseStep, MAX_SERIES_POINTS } from './metric-rules';

const now = Date.parse('2026-11-25T12:00:00Z');
const rules = { now, maxFutureSeconds: 60, retentionDays: 30 };

describe('chooseStep', () => {
  it('keeps a requested step that fits', () => {
    expect(chooseStep(3600, 60)).toBe(60);
    expect(chooseStep(3600, 7)).toBe(7);
  });

  it('picks the smallest nice step that fits when none is asked', () => {
    expect(chooseStep(600)).toBe(1);
    expect(chooseStep(86_400)).toBe(120);
    expect(chooseStep(30 * 86_400)).toBe(3600);
    expect(chooseStep(5 * 365 * 86_400)).toBe(2 * 86_400);
  });

  it('raises a step too small for the range', () => {
    expect(chooseStep(30 * 86_400, 60)).toBe(3600);
  });

  it.each([1, 999, 1000, 59_999, 86_400, 2_591_999, 2_592_000, 31_536_000])(
    'never lets a range of %i s touch more than MAX_SERIES_POINTS epoch-aligned buckets',
    (range) => {
      const step = chooseStep(range, 1);
      // Count the buckets [from, from + range) touches, for starts on and just before a boundary.
      for (const from of [0, step - 0.001, step / 2, 1_764_072_000.123]) {
        const touched = Math.floor((from + range - 0.0001) / step) - Math.floor(from / step) + 1;
        expect(touched).toBeLessThanOrEqual(MAX_SERIES_POINTS);
      }
    },
  );
});

describe('checkPoint', () => {
  it('defaults recorded_at to now and a known metric’s unit to its own', () => {
    expect(checkPoint({ name: 'cpu_percent', value: 12.5 }, rules)).toEqual({
      point: { name: 'cpu_percent', value: 12.5, unit: '%', recordedAt: new Date(now) },
    });
    expect(checkPoint({ name: 'load_1m', value: 0.4 }, rules)).toMatchObject({ point: { unit: null } });
  });

  it('keeps a namespaced metric’s own unit and any finite value', () => {
    expect(checkPoint({ name: 'app.latency', value: -3, unit: 'ms', recorded_at: '2026-11-25T11:59:00Z' }, rules)).toEqual({
      point: { name: 'app.latency', value: -3, unit: 'ms', recordedAt: new Date('2026-11-25T11:59:00Z') },
    });
  });

  it.each([
    ['recorded_at', { name: 'cpu_percent', value: 1, recorded_at: '2026-11-25T12:01:01Z' }, /in the future/],
    ['recorded_at', { name: 'cpu_percent', value: 1, recorded_at: '2026-10-26T11:59:59Z' }, /30-day retention/],
    ['unit', { name: 'memory_used_mb', value: 1, unit: 'GB' }, /measured in MB/],
    ['unit', { name: 'load_1m', value: 1, unit: 'x' }, /no unit/],
    ['value', { name: 'cpu_percent', value: 100.5 }, /between 0 and 100/],
    ['value', { name: 'disk_used_gb', value: -1 }, /between 0 and inf/],
  ])('rejects a bad %s', (field, point, message) => {
    const result = checkPoint(point, rules);
    expect(result).toEqual({ problems: [{ field, message: expect.stringMatching(message) }] });
  });

  it('accepts recorded_at within the allowed skew', () => {
    expect(checkPoint({ name: 'cpu_percent', value: 1, recorded_at: '2026-11-25T12:00:59Z' }, rules)).toHaveProperty('point');
  });
});
