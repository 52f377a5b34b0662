/**
 * Endpoint address allocation inside a network's pools. Stateless: the caller passes the
 * addresses in use (derived from the endpoint records), so there is no allocator state
 * that could drift from the store or need its own crash recovery.
 */
import { YardError } from '../errors.js';
import type { PoolConfig } from './config.js';
import {
  formatAddr,
  formatPrefix,
  parseAddr,
  parsePrefix,
  prefixContains,
  prefixRange,
  prefixSize,
  type Addr,
  type Family,
  type Prefix,
} from './prefix.js';

export interface AllocationRequest {
  networkName: string;
  pools: PoolConfig[];
  family: Family;
  /** Canonical address -> who holds it, as it reads after "used by" (e.g. `sandbox web1`). */
  inUse: ReadonlyMap<string, string>;
  /** A static address (--ip/--ip6); omitted for a dynamic one. */
  requested?: string;
  /** The flag to name in errors; defaults to --ip or --ip6 by family. */
  field?: string;
}

export interface Allocation {
  address: string;
  prefixLen: number;
  pool: PoolConfig;
}

interface ParsedPool {
  pool: PoolConfig;
  subnet: Prefix;
  /** Where dynamic addresses come from: the --ip-range, else the whole subnet. */
  range: Prefix;
}

/** Stored configs were validated by planIpam; one that does not parse is a bug, not user error. */
function parsePool(networkName: string, pool: PoolConfig): ParsedPool {
  const subnet = parsePrefix(pool.subnet);
  const range = pool.ipRange === undefined ? subnet : parsePrefix(pool.ipRange);
  if (subnet === null || range === null) {
    throw new YardError('INTERNAL', `internal error: network ${networkName} has a malformed stored pool ${JSON.stringify(pool)}`, {
      hint: 'this is a bug in Switchyard; please report it, then recreate the network',
    });
  }
  return { pool, subnet, range };
}

/**
 * The addresses of a subnet no endpoint may get. The network address (IPv4) and the
 * subnet-router anycast address (IPv6, RFC 4291 2.6.1) share the subnet's first address;
 * IPv4 also loses its last one to broadcast. Point-to-point sized subnets (/31, /32,
 * /127, /128) have no such addresses to spare.
 */
function specialAddresses(subnet: Prefix): Map<bigint, string> {
  const out = new Map<bigint, string>();
  const { first, last } = prefixRange(subnet);
  const p2p = subnet.family === 4 ? subnet.len >= 31 : subnet.len >= 127;
  if (p2p) return out;
  out.set(first, subnet.family === 4 ? 'network address' : 'subnet-router anycast address');
  if (subnet.family === 4) out.set(last, 'broadcast address');
  return out;
}

export function reservedAddresses(pool: PoolConfig): Set<string> {
  const out = new Set<string>();
  const canonical = (text: string) => {
    const a = parseAddr(text);
    return a ? formatAddr(a) : text;
  };
  const subnet = parsePrefix(pool.subnet);
  if (subnet) for (const value of specialAddresses(subnet).keys()) out.add(formatAddr({ family: subnet.family, value }));
  if (pool.gateway) out.add(canonical(pool.gateway));
  for (const ip of Object.values(pool.auxAddresses ?? {})) out.add(canonical(ip));
  return out;
}

/**
 * `size` counts every address of the subnet; `dynamicAvailable` is what the dynamic
 * allocator could still hand out from the --ip-range (or subnet). `inUseCount` is the
 * number of endpoints holding an address of this pool; static ones outside the range make
 * the figure a slight underestimate, which is the safe side for a "nearly full" warning.
 */
export function poolStats(pool: PoolConfig, inUseCount: number): { size: bigint; dynamicAvailable: bigint } {
  const subnet = parsePrefix(pool.subnet);
  if (subnet === null) return { size: 0n, dynamicAvailable: 0n };
  const range = (pool.ipRange && parsePrefix(pool.ipRange)) || subnet;
  let reservedInRange = 0n;
  for (const text of reservedAddresses(pool)) {
    const a = parseAddr(text);
    if (a && prefixContains(range, a)) reservedInRange++;
  }
  const free = prefixSize(range) - reservedInRange - BigInt(inUseCount);
  return { size: prefixSize(subnet), dynamicAvailable: free > 0n ? free : 0n };
}

/** Docker (up to 20.10) derived a bridge endpoint's MAC from its IPv4 address: 02:42:a:b:c:d. */
export function macFromIPv4(addr: string): string {
  const a = parseAddr(addr);
  if (a === null || a.family !== 4) {
    throw new YardError('INVALID_IP', `cannot derive a MAC address from ${addr}: it is not an IPv4 address`, {
      field: '--ip',
      hint: 'pass an IPv4 address such as 10.20.0.5',
    });
  }
  const bytes = [0x02, 0x42, ...[24n, 16n, 8n, 0n].map((s) => Number((a.value >> s) & 0xffn))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

const familyName = (f: Family) => `IPv${f}`;

function noPoolError(r: AllocationRequest, field: string): YardError {
  const fam = familyName(r.family);
  const hint =
    r.family === 6
      ? 'create the network with --ipv6 to give it an IPv6 subnet'
      : `omit ${field}, or create the network with an IPv4 --subnet`;
  // A requested address: Docker 20.10's words first (its 400 for an address of a family
  // the network has no subnet of), then Switchyard's.
  const message = r.requested
    ? `user specified IP address is supported only when connecting to networks with user configured subnets; ${field} ${r.requested} cannot be used: network ${r.networkName} has no ${fam} subnet`
    : `network ${r.networkName} has no ${fam} subnet to take an address from`;
  return new YardError('INVALID_IP', message, { field, hint });
}

function staticAddress(r: AllocationRequest, field: string, pools: ParsedPool[], text: string): Allocation {
  const fail = (code: 'INVALID_IP' | 'ADDRESS_IN_USE', what: string, hint: string) =>
    new YardError(code, `${field} ${text} ${what}`, { field, hint });
  const a = parseAddr(text);
  if (a === null) {
    throw fail('INVALID_IP', 'is not a valid IP address', `write it like ${r.family === 4 ? '10.20.0.5' : 'fd00:1::5'}`);
  }
  if (a.family !== r.family) {
    throw fail(
      'INVALID_IP',
      `is an ${familyName(a.family)} address`,
      a.family === 6 ? 'use --ip6 for IPv6 addresses' : 'use --ip for IPv4 addresses',
    );
  }
  if (pools.length === 0) throw noPoolError(r, field);
  const home = pools.find((p) => prefixContains(p.subnet, a));
  if (!home) {
    const subs = pools.map((p) => formatPrefix(p.subnet)).join(', ');
    throw fail('INVALID_IP', `is outside network ${r.networkName}'s subnets (${subs})`, `pick an address inside one of them or omit ${field}`);
  }
  const sub = formatPrefix(home.subnet);
  const special = specialAddresses(home.subnet).get(a.value);
  if (special) throw fail('INVALID_IP', `is the ${special} of ${sub}`, `pick a host address inside ${sub} or omit ${field}`);

  const same = (t: string | undefined) => {
    const b = t === undefined ? null : parseAddr(t);
    return b !== null && b.family === a.family && b.value === a.value;
  };
  const pickOther = `pick another address or omit ${field}`;
  if (same(home.pool.gateway)) throw fail('ADDRESS_IN_USE', `is network ${r.networkName}'s gateway`, pickOther);
  const aux = Object.entries(home.pool.auxAddresses ?? {}).find(([, ip]) => same(ip));
  if (aux) throw fail('ADDRESS_IN_USE', `is reserved as aux address ${aux[0]} on network ${r.networkName}`, pickOther);
  const canonical = formatAddr(a);
  const holder = r.inUse.get(canonical);
  if (holder !== undefined) {
    throw fail('ADDRESS_IN_USE', `is already used by ${holder} on network ${r.networkName}`, pickOther);
  }
  return { address: canonical, prefixLen: home.subnet.len, pool: home.pool };
}

/**
 * Lowest free address of one pool's range. Every candidate skipped is reserved or in use,
 * so the walk visits at most reserved + inUse + 1 addresses however big the range is.
 */
function lowestFree(p: ParsedPool, inUse: ReadonlyMap<string, string>): Addr | null {
  const family = p.subnet.family;
  const reserved = reservedAddresses(p.pool);
  const { first, last } = prefixRange(p.range);
  if (family === 4) {
    // Plain numbers, not bigints: the walk passes every address in use below the first free one.
    for (let v = Number(first), end = Number(last); v <= end; v++) {
      const text = `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
      if (!reserved.has(text) && !inUse.has(text)) return { family, value: BigInt(v) };
    }
    return null;
  }
  for (let value = first; value <= last; value++) {
    const text = formatAddr({ family, value });
    if (!reserved.has(text) && !inUse.has(text)) return { family, value };
  }
  return null;
}

export function allocateAddress(r: AllocationRequest): Allocation {
  const field = r.field ?? (r.family === 4 ? '--ip' : '--ip6');
  const pools = r.pools.map((p) => parsePool(r.networkName, p)).filter((p) => p.subnet.family === r.family);
  if (r.requested !== undefined && r.requested !== '') return staticAddress(r, field, pools, r.requested);
  if (pools.length === 0) throw noPoolError(r, field);

  for (const p of pools) {
    const a = lowestFree(p, r.inUse);
    if (a) return { address: formatAddr(a), prefixLen: p.subnet.len, pool: p.pool };
  }
  const ranges = pools
    .map((p) => (p.pool.ipRange === undefined ? formatPrefix(p.subnet) : `${formatPrefix(p.range)} (--ip-range of ${formatPrefix(p.subnet)})`))
    .join(', ');
  throw new YardError('ADDRESSES_EXHAUSTED', `network ${r.networkName} has no free ${familyName(r.family)} address left in ${ranges}`, {
    field,
    hint: 'widen --ip-range or --subnet (by recreating the network), or remove sandboxes from it',
  });
}
