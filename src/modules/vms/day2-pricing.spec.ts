import { describe, expect, it } from '@jest/globals';
import { resizePrice, snapshotPrice } from './day2-pricing';

describe('snapshot price', () => {
  it('is max(1, ceil(disk_gb / 10 * credits per 10 GB))', () => {
    expect(snapshotPrice(20, 1)).toBe(2);
    expect(snapshotPrice(25, 1)).toBe(3);
    expect(snapshotPrice(10, 0.5)).toBe(1);
    expect(snapshotPrice(100, 2.5)).toBe(25);
    expect(snapshotPrice(2048, 1)).toBe(205);
  });

  it('costs at least one credit, even when free per GB', () => {
    expect(snapshotPrice(10, 0)).toBe(1);
    expect(snapshotPrice(10, 0.01)).toBe(1);
  });

  it('does not charge a floating-point hair above a whole number', () => {
    // 30 / 10 * 0.1 * ... : 3 * 0.1 is 0.30000000000000004 in floating point
    expect(snapshotPrice(30, 0.1 * 10)).toBe(3);
    expect(snapshotPrice(10, 0.1 + 0.2)).toBe(1);
  });
});

describe('resize price', () => {
  it('charges the positive difference of the formula costs and refunds nothing', () => {
    expect(resizePrice(34, 51)).toEqual({ charge: 17, cost: 51 });
    expect(resizePrice(51, 34)).toEqual({ charge: 0, cost: 34 });
    expect(resizePrice(34, 34)).toEqual({ charge: 0, cost: 34 });
  });
});
