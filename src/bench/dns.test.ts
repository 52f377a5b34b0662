import { describe, expect, it } from 'vitest';
import { backlogDrops, parseDnsperf } from './dns.js';

// Trimmed from a real `dnsperf -v` run (2.10.0) inside a lab sandbox.
const OUTPUT = `DNS Performance Testing Tool
Version 2.10.0

[Status] Sending queries (to 127.0.0.11:53)
> NOERROR web2 A 0.000465
> NOERROR web2 A 0.000100
> NXDOMAIN web2 A 0.000200
> NOERROR web2 A 0.000300
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         5
  Queries completed:    4 (80.00%)
  Queries lost:         1 (20.00%)

  Response codes:       NOERROR 3 (75.00%), NXDOMAIN 1 (25.00%)
  Run time (s):         2.000193
  Queries per second:   4913.025893
`;

describe('parseDnsperf', () => {
  it('reads the summary and the per-answer latencies in milliseconds', () => {
    const p = parseDnsperf(OUTPUT);
    expect(p).toMatchObject({ sent: 5, completed: 4, lost: 1, notNoerror: 1 });
    expect(p.qps).toBeCloseTo(4913.03, 1);
    expect(p.p50).toBeCloseTo(0.3, 6);
    expect(p.p99).toBeCloseTo(0.465, 6);
  });

  it('gives NaN percentiles when nothing answered', () => {
    const p = parseDnsperf('Queries sent: 3\n  Queries completed: 0 (0.00%)\n  Queries lost: 3 (100.00%)\n');
    expect(p.completed).toBe(0);
    expect(p.lost).toBe(3);
    expect(Number.isNaN(p.p50)).toBe(true);
  });
});

describe('backlogDrops', () => {
  it('sums the second column (hex) of every CPU in /proc/net/softnet_stat', () => {
    const stat = '0000a1b2 00000003 00000000 00000000\n0000ffff 0000000a 00000001 00000000\n';
    expect(backlogDrops(stat)).toBe(13);
    expect(backlogDrops('0000a1b2 00000000 00000000\n')).toBe(0);
  });
});
