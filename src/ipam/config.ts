/**
 * planIpam turns the --subnet/--gateway/--ip-range/--aux-address flags of `network create`
 * into the pool configs a network record keeps. It validates everything up front, so a
 * network is either created with a coherent IPAM config or not at all, and it fills in
 * what Docker fills in: a default-pool subnet when none is given, and the gateway.
 */
import { YardError } from '../errors.js';
import { allocateSubnet } from './pools.js';
import { poolStats } from './allocator.js';
import {
  addrAdd,
  canonicalPrefix,
  formatAddr,
  formatPrefix,
  hasHostBits,
  parseAddr,
  parsePrefix,
  prefixContains,
  prefixContainsPrefix,
  prefixesOverlap,
  prefixRange,
  type Addr,
  type Family,
  type Prefix,
} from './prefix.js';

export interface SubnetRequest {
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  auxAddresses?: Record<string, string>;
}

/** Canonical text forms only: what the store keeps and the API shows. */
export interface PoolConfig {
  subnet: string;
  gateway?: string;
  /**
   * The gateway was chosen by Switchyard inside a subnet given without --gateway. Docker's
   * inspect leaves such a gateway out of IPAM.Config (it shows a gateway only when given or
   * when the whole pool came from the default pools), and so does Switchyard's.
   */
  gatewayChosen?: true;
  ipRange?: string;
  auxAddresses: Record<string, string>;
}

/** `owner` reads after "of", e.g. `network app-net` or `a route on the host (dev lan0)`. */
export interface UsedSubnet {
  prefix: string;
  owner: string;
}

export interface PlanRequest {
  networkName: string;
  configs: SubnetRequest[];
  enableIPv6: boolean;
  needsGateway: boolean;
  /** Default true; false for networks that must not get an IPv4 subnet by default. */
  allocateDefaultV4?: boolean;
}

const CIDR_EXAMPLE = 'write it as address/length, e.g. 10.20.0.0/24 or fd00:1::/64';

/** Ranges that can never be a network's subnet: nothing routes them as ordinary unicast. */
const NOT_UNICAST: ReadonlyArray<{ prefix: Prefix; what: string }> = (
  [
    ['0.0.0.0/8', 'the unspecified ("this network") range 0.0.0.0/8'],
    ['127.0.0.0/8', 'the loopback range 127.0.0.0/8'],
    ['169.254.0.0/16', 'the link-local range 169.254.0.0/16'],
    ['224.0.0.0/4', 'the multicast range 224.0.0.0/4'],
    ['255.255.255.255/32', 'the broadcast address 255.255.255.255'],
    ['::/128', 'the unspecified address ::'],
    ['::1/128', 'the loopback address ::1'],
    ['::/96', 'the IPv4-compatible range ::/96 (deprecated, RFC 4291)'],
    ['::ffff:0:0/96', 'the IPv4-mapped range ::ffff:0:0/96 (IPv4 addresses seen through IPv6 sockets)'],
    ['64:ff9b::/96', 'the NAT64 range 64:ff9b::/96 (RFC 6052)'],
    ['64:ff9b:1::/48', 'the local-use NAT64 range 64:ff9b:1::/48 (RFC 8215)'],
    ['2002::/16', 'the 6to4 range 2002::/16 (RFC 3056)'],
    ['fe80::/10', 'the link-local range fe80::/10'],
    ['ff00::/8', 'the multicast range ff00::/8'],
  ] as const
).map(([text, what]) => ({ prefix: parsePrefix(text)!, what }));

/** Longest usable prefix: room for a network address, a gateway and at least one endpoint. */
const MAX_LEN: Record<Family, number> = { 4: 30, 6: 126 };

/**
 * Shortest accepted prefix. A network's subnet is claimed whole (routes on the host,
 * firewall sets, overlap checks against every later network), so a /3 would take an
 * eighth of the Internet away from the host: IPv4 subnets may be at most a /8 (as
 * 10.0.0.0/8), IPv6 ones at most a /16.
 */
export const MIN_LEN: Record<Family, number> = { 4: 8, 6: 16 };

/** An empty string (an unset form field or API property) counts as not given. */
const given = (s: string | undefined): string | undefined => (s === '' ? undefined : s);

function parseSubnet(text: string, enableIPv6: boolean): Prefix {
  const p = parsePrefix(text);
  if (p === null) {
    // Docker's words first (dockerd answers them with a 500), then Switchyard's.
    throw new YardError('INVALID_SUBNET', `Invalid subnet ${text} : invalid CIDR address: ${text}; --subnet ${text} is not a valid CIDR subnet`, {
      field: '--subnet',
      hint: CIDR_EXAMPLE,
    });
  }
  if (p.family === 6 && !enableIPv6) {
    throw new YardError('INVALID_ARGUMENT', `--subnet ${text} is IPv6 but IPv6 is off`, {
      field: '--subnet',
      // Docker 20.10 takes such a subnet, shows it and never uses it (no address on the
      // bridge or on any endpoint); Switchyard refuses what it would not use.
      hint: 'add --ipv6 to use it (dual stack), or leave the IPv6 --subnet out',
    });
  }
  if (hasHostBits(p)) {
    throw new YardError('INVALID_SUBNET', `--subnet ${text} has host bits set`, {
      field: '--subnet',
      hint: `use ${formatPrefix(canonicalPrefix(p))}`,
    });
  }
  // A huge prefix that starts inside a special range is named by that range (0.0.0.0/0 is
  // "the unspecified range"); one that merely spans special ranges, by its size.
  const startsSpecial = NOT_UNICAST.find((s) => prefixContains(s.prefix, { family: p.family, value: p.base }));
  if (p.len < MIN_LEN[p.family] && !startsSpecial) {
    throw new YardError('INVALID_SUBNET', `--subnet ${text} is larger than a /${MIN_LEN[p.family]}`, {
      field: '--subnet',
      hint: `use a /${MIN_LEN[p.family]} or longer prefix (IPv4 at most /8, IPv6 at most /16), e.g. ${p.family === 4 ? '10.20.0.0/16' : 'fd00:1::/64'}`,
    });
  }
  const special = NOT_UNICAST.find((s) => prefixesOverlap(s.prefix, p));
  if (special) {
    throw new YardError('INVALID_SUBNET', `--subnet ${text} overlaps ${special.what}`, {
      field: '--subnet',
      hint: 'use a private unicast range such as 10.20.0.0/24 (IPv4) or fd00:1::/64 (IPv6)',
    });
  }
  if (p.len > MAX_LEN[p.family]) {
    throw new YardError('INVALID_SUBNET', `--subnet ${text} is too small for a gateway and an endpoint`, {
      field: '--subnet',
      hint: `use a /${MAX_LEN[p.family]} or shorter prefix`,
    });
  }
  return p;
}

/** Used prefixes come from records and routes; a bare address (a host route) is a /32 or /128. */
function parseUsed(u: UsedSubnet): Prefix {
  const p = parsePrefix(u.prefix);
  if (p) return canonicalPrefix(p);
  const a = parseAddr(u.prefix);
  if (a) return { family: a.family, base: a.value, len: a.family === 4 ? 32 : 128 };
  throw new YardError('INTERNAL', `internal error: used subnet "${u.prefix}" of ${u.owner} is not a prefix`, {
    hint: 'this is a bug in Switchyard; please report it with the daemon log',
  });
}

function isNetworkOrBroadcast(subnet: Prefix, a: Addr): 'network' | 'broadcast' | null {
  const { first, last } = prefixRange(subnet);
  if (a.value === first) return 'network';
  if (subnet.family === 4 && a.value === last) return 'broadcast';
  return null;
}

function parseGateway(text: string, subnet: Prefix): Addr {
  const sub = formatPrefix(subnet);
  const g = parseAddr(text);
  if (g === null) {
    throw new YardError('INVALID_GATEWAY', `--gateway ${text} is not a valid IP address`, {
      field: '--gateway',
      hint: `write a single address inside ${sub}, e.g. ${formatAddr(addrAdd({ family: subnet.family, value: subnet.base }, 1n))}`,
    });
  }
  if (!prefixContains(subnet, g)) {
    throw new YardError('INVALID_GATEWAY', `failed to allocate gateway (${text}): Requested address is out of range; --gateway ${text} is outside its --subnet ${sub}`, {
      field: '--gateway',
      hint: `pick an address inside ${sub} or omit --gateway`,
    });
  }
  const kind = isNetworkOrBroadcast(subnet, g);
  if (kind) {
    throw new YardError('INVALID_GATEWAY', `--gateway ${text} is the ${kind} address of ${sub}`, {
      field: '--gateway',
      hint: `pick a host address such as ${formatAddr(addrAdd({ family: subnet.family, value: subnet.base }, 1n))}`,
    });
  }
  return g;
}

function parseIpRange(text: string, subnet: Prefix): Prefix {
  const sub = formatPrefix(subnet);
  const r = parsePrefix(text);
  if (r === null) {
    throw new YardError('INVALID_IP_RANGE', `--ip-range ${text} is not a valid CIDR range`, {
      field: '--ip-range',
      hint: `write it as address/length inside ${sub}`,
    });
  }
  if (hasHostBits(r)) {
    throw new YardError('INVALID_IP_RANGE', `--ip-range ${text} has host bits set`, {
      field: '--ip-range',
      hint: `use ${formatPrefix(canonicalPrefix(r))}`,
    });
  }
  if (!prefixContainsPrefix(subnet, r)) {
    throw new YardError('INVALID_IP_RANGE', `--ip-range ${text} is not inside its --subnet ${sub}`, {
      field: '--ip-range',
      hint: `pick a range inside ${sub} or omit --ip-range`,
    });
  }
  return r;
}

interface Draft {
  subnet: Prefix;
  gateway?: Addr;
  gatewayChosen?: true;
  ipRange?: Prefix;
  aux: Array<[string, Addr]>;
}

function checkNoOrphans(c: SubnetRequest): void {
  const orphan = (field: string, value: string) =>
    new YardError('INVALID_ARGUMENT', `${field} ${value} needs --subnet`, {
      field,
      hint: `give the --subnet it belongs to, or omit ${field}`,
    });
  const gateway = given(c.gateway);
  const ipRange = given(c.ipRange);
  if (gateway !== undefined) throw orphan('--gateway', gateway);
  if (ipRange !== undefined) throw orphan('--ip-range', ipRange);
  const [name, ip] = Object.entries(c.auxAddresses ?? {})[0] ?? [];
  if (name !== undefined) throw orphan('--aux-address', `${name}=${ip}`);
}

/** Aux addresses are matched to subnets by containment, like Docker, whichever config named them. */
function placeAux(drafts: Draft[], configs: SubnetRequest[]): void {
  const seen = new Map<string, string>(); // canonical ip -> aux name
  const byName = new Map<string, string>();
  for (const [name, text] of configs.flatMap((c) => Object.entries(c.auxAddresses ?? {}))) {
    const given = `--aux-address ${name}=${text}`;
    const fail = (what: string, hint: string) =>
      new YardError('INVALID_AUX_ADDRESS', `${given} ${what}`, { field: '--aux-address', hint });
    if (name === '') throw fail('has no name', 'write it as name=ip, e.g. printer=10.20.0.9');
    const a = parseAddr(text);
    if (a === null) throw fail('is not a valid IP address', 'write it as name=ip, e.g. printer=10.20.0.9');
    const ip = formatAddr(a);
    const prev = byName.get(name);
    if (prev !== undefined) {
      if (prev === ip) continue;
      throw fail(`reuses the name ${name} (already ${prev})`, 'give each aux address its own name');
    }
    const holder = seen.get(ip);
    if (holder !== undefined) throw fail(`repeats the address of ${holder}`, 'give each aux address its own address');
    const home = drafts.find((d) => prefixContains(d.subnet, a));
    if (!home) {
      const subs = drafts.filter((d) => d.subnet.family === a.family).map((d) => formatPrefix(d.subnet));
      throw fail(
        `is outside every --subnet${subs.length ? ` (${subs.join(', ')})` : ''}`,
        'pick an address inside one of them',
      );
    }
    const kind = isNetworkOrBroadcast(home.subnet, a);
    if (kind) throw fail(`is the ${kind} address of ${formatPrefix(home.subnet)}`, 'pick a host address inside it');
    if (home.gateway && home.gateway.value === a.value) {
      throw fail(
        `is the gateway of ${formatPrefix(home.subnet)}`,
        'pick another address, or pass --gateway to put the gateway elsewhere',
      );
    }
    byName.set(name, ip);
    seen.set(ip, name);
    home.aux.push([name, a]);
  }
}

/** A subnet (or its --ip-range) that leaves no address for a sandbox is refused: every run would fail. */
function checkUsable(d: Draft): void {
  if (poolStats(toPoolConfig(d), 0).dynamicAvailable > 0n) return;
  const sub = formatPrefix(d.subnet);
  if (d.ipRange) {
    const range = formatPrefix(d.ipRange);
    throw new YardError('INVALID_IP_RANGE', `--ip-range ${range} has no address left for sandboxes (the network${d.subnet.family === 4 ? '/broadcast' : ''} address, the gateway and aux addresses of ${sub} take all of it)`, {
      field: '--ip-range',
      hint: `widen --ip-range, or move it inside ${sub} away from the gateway`,
    });
  }
  throw new YardError('INVALID_AUX_ADDRESS', `--aux-address leaves no address of --subnet ${sub} for sandboxes`, {
    field: '--aux-address',
    hint: 'reserve fewer aux addresses or use a larger --subnet',
  });
}

function toPoolConfig(d: Draft): PoolConfig {
  return {
    subnet: formatPrefix(d.subnet),
    ...(d.gateway && { gateway: formatAddr(d.gateway) }),
    ...(d.gateway && d.gatewayChosen && { gatewayChosen: true as const }),
    ...(d.ipRange && { ipRange: formatPrefix(d.ipRange) }),
    auxAddresses: Object.fromEntries(d.aux.map(([name, a]) => [name, formatAddr(a)])),
  };
}

export function planIpam(req: PlanRequest, ctx: { used: UsedSubnet[] }): PoolConfig[] {
  const used = ctx.used.map((u) => ({ prefix: parseUsed(u), owner: u.owner }));
  const drafts: Draft[] = [];

  for (const c of req.configs) {
    const subnetText = given(c.subnet);
    if (subnetText === undefined) {
      // An empty config (e.g. an API body's `[{}]`) asks for nothing beyond the defaults.
      checkNoOrphans(c);
      continue;
    }
    const subnet = parseSubnet(subnetText, req.enableIPv6);
    const text = formatPrefix(subnet);
    const twin = drafts.find((d) => prefixesOverlap(d.subnet, subnet));
    if (twin) {
      throw new YardError('SUBNET_OVERLAP', `--subnet ${text} overlaps --subnet ${formatPrefix(twin.subnet)}, also given for network ${req.networkName}`, {
        field: '--subnet',
        hint: 'give each --subnet a range of its own',
      });
    }
    const clash = used.find((u) => prefixesOverlap(u.prefix, subnet));
    if (clash) {
      // Docker's words first (dockerd answers them with a 403, as Switchyard does).
      throw new YardError('SUBNET_OVERLAP', `Pool overlaps with other one on this address space: --subnet ${text} overlaps ${formatPrefix(clash.prefix)} of ${clash.owner}`, {
        field: '--subnet',
        hint: 'pick a --subnet that is free, or omit --subnet to get one from the default pools',
      });
    }
    const draft: Draft = { subnet, aux: [] };
    const gateway = given(c.gateway);
    const ipRange = given(c.ipRange);
    if (gateway !== undefined) draft.gateway = parseGateway(gateway, subnet);
    else if (req.needsGateway) {
      draft.gateway = addrAdd({ family: subnet.family, value: subnet.base }, 1n);
      draft.gatewayChosen = true;
    }
    if (ipRange !== undefined) draft.ipRange = parseIpRange(ipRange, subnet);
    drafts.push(draft);
  }
  placeAux(drafts, req.configs);
  for (const d of drafts) checkUsable(d);

  // The request's own subnets count as used, so a default never lands on top of them.
  const taken = [...used.map((u) => u.prefix), ...drafts.map((d) => d.subnet)];
  const fromPool = (family: Family): Draft => {
    const subnet = allocateSubnet(family, taken);
    taken.push(subnet);
    const draft: Draft = { subnet, aux: [] };
    if (req.needsGateway) draft.gateway = addrAdd({ family, value: subnet.base }, 1n);
    return draft;
  };
  const v4 = drafts.filter((d) => d.subnet.family === 4);
  const v6 = drafts.filter((d) => d.subnet.family === 6);
  if (v4.length === 0 && req.allocateDefaultV4 !== false) v4.push(fromPool(4));
  if (v6.length === 0 && req.enableIPv6) v6.push(fromPool(6));
  return [...v4, ...v6].map(toPoolConfig);
}
