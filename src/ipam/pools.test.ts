import { describe, expect, it } from 'vitest';
import { allocateSubnet, DEFAULT_POOLS_V4, DEFAULT_POOLS_V6 } from './pools.js';
import { formatPrefix, parsePrefix, type Prefix } from './prefix.js';
import { thrown } from '../../test/unit/thrown.js';

const P = (t: string): Prefix => parsePrefix(t)!;
const next4 = (used: string[]) => formatPrefix(allocateSubnet(4, used.map(P)));
const next6 = (used: string[]) => formatPrefix(allocateSubnet(6, used.map(P)));


/** All subnets the default IPv4 pools yield, in order, by allocating until exhaustion. */
function drainV4(): string[] {
  const used: Prefix[] = [];
  for (;;) {
    try {
      used.push(allocateSubnet(4, used));
    } catch {
      return used.map(formatPrefix);
    }
  }
}

describe('default pools', () => {
  it('are Docker\'s IPv4 pools, in Docker\'s order', () => {
    expect(DEFAULT_POOLS_V4.map((p) => `${p.base}:${p.size}`)).toEqual([
      '172.17.0.0/16:16',
      '172.18.0.0/16:16',
      '172.19.0.0/16:16',
      '172.20.0.0/14:16',
      '172.24.0.0/14:16',
      '172.28.0.0/14:16',
      '192.168.0.0/16:20',
    ]);
    expect(DEFAULT_POOLS_V6).toEqual([{ base: 'fdd0:5957:7964::/48', size: 64 }]);
  });

  it('carve into 15 /16s then 16 /20s', () => {
    const all = drainV4();
    expect(all).toHaveLength(31);
    expect(all.slice(0, 15)).toEqual(Array.from({ length: 15 }, (_, i) => `172.${17 + i}.0.0/16`));
    expect(all.slice(15)).toEqual(Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`));
  });
});

describe('allocateSubnet', () => {
  it('follows Docker\'s order', () => {
    expect(next4([])).toBe('172.17.0.0/16');
    expect(next4(['172.17.0.0/16'])).toBe('172.18.0.0/16');
    expect(next4(['172.16.0.0/12'])).toBe('192.168.0.0/20');
    expect(next4(['172.16.0.0/12', '192.168.0.0/20'])).toBe('192.168.16.0/20');
  });

  it('skips subnets a smaller used prefix (a host route) reaches into', () => {
    expect(next4(['172.17.0.0/16', '172.18.5.0/24'])).toBe('172.19.0.0/16');
    expect(next4(['172.17.0.1/32'])).toBe('172.18.0.0/16');
    expect(next4(['172.16.0.0/12', '192.168.1.0/24'])).toBe('192.168.16.0/20');
  });

  it('skips every subnet inside a bigger used prefix', () => {
    expect(next4(['172.17.0.0/16', '172.18.0.0/15', '172.20.0.0/14'])).toBe('172.24.0.0/16');
    expect(next4(['172.0.0.0/8'])).toBe('192.168.0.0/20');
  });

  it('ignores used prefixes of the other family and ones outside the pools', () => {
    expect(next4(['fdd0:5957:7964::/48', '10.0.0.0/8', '192.168.0.0/16'])).toBe('172.17.0.0/16');
  });

  it('accepts used prefixes with host bits (interface addresses)', () => {
    expect(next4(['172.17.0.1/16'])).toBe('172.18.0.0/16');
  });

  it('allocates IPv6 /64s from the ULA pool', () => {
    expect(next6([])).toBe('fdd0:5957:7964::/64');
    expect(next6(['fdd0:5957:7964::/64'])).toBe('fdd0:5957:7964:1::/64');
    expect(next6(['fdd0:5957:7964::/63', 'fdd0:5957:7964:2::1/128'])).toBe('fdd0:5957:7964:3::/64');
    expect(next6(['10.0.0.0/8'])).toBe('fdd0:5957:7964::/64');
  });

  it('throws POOLS_EXHAUSTED naming --subnet when nothing is free', () => {
    const e = thrown(() => allocateSubnet(4, [P('128.0.0.0/1')]));
    expect(e.code).toBe('POOLS_EXHAUSTED');
    expect(e.field).toBe('--subnet');
    expect(e.message).toContain('IPv4');
    expect(e.hint).toContain('--subnet');
    expect(thrown(() => allocateSubnet(6, [P('fdd0:5957:7964::/48')])).code).toBe('POOLS_EXHAUSTED');
    const all = drainV4().map(P);
    expect(thrown(() => allocateSubnet(4, all)).code).toBe('POOLS_EXHAUSTED');
  });

  it('takes custom pools and validates them', () => {
    const pools = [
      { base: 'fd00::/60', size: 64 },
      { base: '10.10.0.0/16', size: 24 },
    ];
    expect(formatPrefix(allocateSubnet(4, [P('10.10.0.0/23')], pools))).toBe('10.10.2.0/24');
    expect(formatPrefix(allocateSubnet(6, [], pools))).toBe('fd00::/64');
    expect(thrown(() => allocateSubnet(4, [], [])).code).toBe('POOLS_EXHAUSTED');
    for (const bad of [
      { base: '10.10.0.0', size: 24 },
      { base: '10.10.0.1/16', size: 24 },
      { base: '10.10.0.0/16', size: 8 },
      { base: '10.10.0.0/16', size: 33 },
    ]) {
      const e = thrown(() => allocateSubnet(4, [], [bad]));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.field).toBe('--default-address-pool');
    }
  });

  it('stays fast with thousands of used prefixes', () => {
    // Every /64 of the IPv6 pool but the last is taken by one host route each.
    const used: Prefix[] = [];
    for (let i = 0n; i < 65535n; i++) used.push({ family: 6, base: (0xfdd059577964n << 80n) | (i << 64n) | 1n, len: 128 });
    const start = performance.now();
    expect(formatPrefix(allocateSubnet(6, used))).toBe('fdd0:5957:7964:ffff::/64');
    // And a carpet of 5000 /24s from 172.16.0.0 on, covering all of 172.16/12, in reverse order.
    const carpet: Prefix[] = [];
    for (let i = 0n; i < 5000n; i++) carpet.unshift({ family: 4, base: 0xac100000n + (i << 8n), len: 24 });
    expect(formatPrefix(allocateSubnet(4, carpet))).toBe('192.168.0.0/20');
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
