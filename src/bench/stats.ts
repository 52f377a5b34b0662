/** Order statistics of timing samples (nearest-rank percentiles: every figure is a real sample). */

export interface Stats {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
}

/** Nearest rank: the smallest sample with at least q of the samples at or below it. */
export function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function summarize(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, median: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[s.length - 1] ?? NaN };
}
