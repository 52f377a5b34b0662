import { describe, expect, it } from 'vitest';
import { percentile, summarize } from './stats.js';

describe('bench stats', () => {
  it('takes nearest-rank percentiles, so each figure is a sample that was measured', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(s, 0.5)).toBe(50);
    expect(percentile(s, 0.99)).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
  });

  it('summarizes unsorted samples without reordering them', () => {
    const samples = [5, 1, 4, 2, 3];
    expect(summarize(samples)).toEqual({ n: 5, min: 1, median: 3, p99: 5, max: 5 });
    expect(samples).toEqual([5, 1, 4, 2, 3]);
  });

  it('gives NaN for no samples rather than a made-up zero', () => {
    expect(summarize([]).median).toBeNaN();
  });
});
