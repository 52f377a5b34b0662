/**
 * Default address pools: where a network's subnet comes from when the user gives no
 * --subnet. The IPv4 list and its order are Docker's, so `yard network create x` picks
 * the same subnet `docker network create x` would on the same host.
 */
import { YardError } from '../errors.js';
import {
  bitsOf,
  canonicalPrefix,
  formatPrefix,
  hasHostBits,
  parsePrefix,
  prefixRange,
  type Family,
  type Prefix,
} from './prefix.js';

/** `base` is carved into consecutive subnets of prefix length `size`. */
export interface AddressPool {
  base: string;
  size: number;
}

export const DEFAULT_POOLS_V4: readonly AddressPool[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

/**
 * Docker has no IPv6 default pool we could mirror, so this is Switchyard's own choice: a
 * fixed ULA /48 (fd00::/8 is "locally assigned", RFC 4193) carved into /64s, the size
 * SLAAC and most tooling expect. Fixed rather than random so that test fixtures and docs
 * can name the addresses; a site that needs another range passes --subnet.
 */
export const DEFAULT_POOLS_V6: readonly AddressPool[] = [{ base: 'fdd0:5957:7964::/48', size: 64 }];

interface Carving {
  pool: Prefix;
  size: number;
}

function parsePool(p: AddressPool): Carving {
  const pool = parsePrefix(p.base);
  const bad = (what: string) =>
    new YardError('INVALID_ARGUMENT', `default address pool base=${p.base},size=${p.size} ${what}`, {
      field: '--default-address-pool',
      hint: 'write it as base=<CIDR>,size=<prefix length no shorter than the base>, e.g. base=10.10.0.0/16,size=24',
    });
  if (pool === null) throw bad('has a malformed base');
  if (hasHostBits(pool)) throw bad(`has host bits set in its base (use ${formatPrefix(canonicalPrefix(pool))})`);
  if (!Number.isInteger(p.size) || p.size < pool.len || p.size > bitsOf(pool.family)) {
    throw bad(`has a size outside /${pool.len}../${bitsOf(pool.family)}`);
  }
  return { pool, size: p.size };
}

/** Used prefixes as disjoint, sorted [first, last] intervals, so a walk can skip them in order. */
function mergedIntervals(family: Family, used: readonly Prefix[]): Array<{ first: bigint; last: bigint }> {
  const sorted = used
    .filter((p) => p.family === family)
    .map(prefixRange)
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Array<{ first: bigint; last: bigint }> = [];
  for (const r of sorted) {
    const top = out[out.length - 1];
    if (top && r.first <= top.last + 1n) {
      if (r.last > top.last) top.last = r.last;
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/** Index of the first interval ending at or after `value`. */
function firstEndingFrom(intervals: ReadonlyArray<{ last: bigint }>, value: bigint): number {
  let lo = 0;
  let hi = intervals.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (intervals[mid]!.last < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The first carved subnet, in pool order, that overlaps no used prefix. A used prefix
 * blocks every candidate it touches, whether it is bigger (a /8 route) or smaller (a /24
 * inside a /16 candidate). The walk jumps past each blocking interval, so the cost is
 * O(used log used) plus one step per interval, not per candidate.
 */
export function allocateSubnet(family: Family, used: readonly Prefix[], pools?: readonly AddressPool[]): Prefix {
  const all = (pools ?? (family === 4 ? DEFAULT_POOLS_V4 : DEFAULT_POOLS_V6)).map(parsePool);
  const carvings = all.filter((c) => c.pool.family === family);
  const blocked = mergedIntervals(family, used);

  for (const { pool, size } of carvings) {
    const step = 1n << BigInt(bitsOf(family) - size);
    const { first: poolFirst, last: poolLast } = prefixRange(pool);
    let candidate = poolFirst;
    let i = firstEndingFrom(blocked, candidate);
    while (candidate <= poolLast) {
      const candidateLast = candidate + step - 1n;
      while (i < blocked.length && blocked[i]!.last < candidate) i++;
      const hit = blocked[i];
      if (hit === undefined || hit.first > candidateLast) {
        return { family, base: candidate, len: size };
      }
      // Every candidate up to the interval's end is blocked too (the interval is
      // contiguous and reaches into this one), so resume at the first boundary past it.
      candidate = ((hit.last + step) / step) * step;
    }
  }

  const names = carvings.map((c) => `${formatPrefix(c.pool)} in /${c.size}s`).join(', ') || 'none configured';
  throw new YardError('POOLS_EXHAUSTED', `no free IPv${family} subnet is left in the default address pools (${names})`, {
    field: '--subnet',
    hint: 'pass an explicit --subnet, or remove networks you no longer need',
  });
}
