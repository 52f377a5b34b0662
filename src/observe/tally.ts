/**
 * Counting on hot paths (the DNS resolver answers tens of thousands of queries a second):
 * fixed arrays filled in place, no allocation and no label lookup per event. The metrics
 * room (metrics.ts) reads them when Prometheus scrapes.
 */

/**
 * A latency histogram with fixed bucket bounds (seconds). `observe` is at most one
 * comparison per bucket and three additions; `counts[i]` holds the observations in
 * (bounds[i-1], bounds[i]], the last slot those above every bound (+Inf).
 */
export class FastHistogram {
  readonly bounds: Float64Array;
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`histogram bounds must increase: ${bounds.join(', ')}`);
    }
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  /** Prometheus's buckets: for each bound (then +Inf), how many observations were <= it. */
  cumulative(): { le: number; count: number }[] {
    const out: { le: number; count: number }[] = [];
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i]!;
      out.push({ le: i < this.bounds.length ? this.bounds[i]! : Infinity, count: acc });
    }
    return out;
  }
}

/** DNS answer latency buckets: local answers take microseconds, forwarded ones milliseconds to the upstream timeout. */
export const DNS_LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
