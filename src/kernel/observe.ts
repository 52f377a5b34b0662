/** Reading the kernel back, as JSON from iproute2. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { run } from './exec.js';
import { dumpLinksAndAddrs, dumpRoutes, getLinksAndAddrs, netlinkAvailable } from './netlink.js';
import { ROUTE_PROTOCOLS, ROUTE_SCOPES, RT_TABLE_MAIN_ID, RTN_UNICAST_TYPE, type DumpedAddr, type DumpedLink } from './rtnl.js';

export interface LinkState {
  name: string;
  kind?: string;
  master?: string;
  up: boolean;
  mtu: number;
  mac?: string;
  alias?: string;
  /** Bridge-port hairpin mode (only for links enslaved to a bridge). */
  hairpin?: boolean;
  /** "addr/len" for every address except IPv6 link-local. */
  addrs: string[];
}

export interface NsState {
  exists: boolean;
  links: Map<string, LinkState>;
}

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  mtu?: number;
  address?: string;
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: { local?: string; prefixlen?: number; scope?: string; family?: string }[];
}

export async function readNamespace(ns?: string): Promise<NsState> {
  if (ns && !fs.existsSync(`/run/netns/${ns}`)) return { exists: false, links: new Map() };
  if (netlinkAvailable()) return readNamespaceNetlink(ns);
  return readNamespaceIp(ns);
}

/** `ip -j -d addr show`: where rtnetlink from the daemon is not available (and to check that reading against). */
export async function readNamespaceIp(ns?: string): Promise<NsState> {
  if (ns && !fs.existsSync(`/run/netns/${ns}`)) return { exists: false, links: new Map() };
  const r = await run('ip', [...(ns ? ['-n', ns] : []), '-j', '-d', 'addr', 'show']);
  if (r.code !== 0) return { exists: false, links: new Map() };
  const links = new Map<string, LinkState>();
  for (const l of JSON.parse(r.stdout || '[]') as IpAddrJson[]) {
    links.set(l.ifname, {
      name: l.ifname,
      kind: l.linkinfo?.info_kind,
      master: l.master,
      up: (l.flags ?? []).includes('UP'),
      mtu: l.mtu ?? 0,
      mac: l.address,
      alias: l.ifalias,
      ...(l.linkinfo?.info_slave_kind === 'bridge' ? { hairpin: !!l.linkinfo.info_slave_data?.hairpin } : {}),
      addrs: (l.addr_info ?? [])
        .filter((a) => a.local && a.scope !== 'link')
        .map((a) => `${a.local}/${a.prefixlen}`),
    });
  }
  return { exists: true, links };
}

/** The same reading as `ip -j -d addr show`, from two rtnetlink dumps in the daemon itself. */
export function readNamespaceNetlink(ns?: string): NsState {
  const d = dumpLinksAndAddrs(ns);
  if (!d) return { exists: false, links: new Map() };
  return { exists: true, links: linkStates(d.links, d.addrs, new Map(d.links.map((l) => [l.index, l.name]))) };
}

/** Only the named links of a namespace (those that exist), read as readNamespace reads them; none when it cannot be entered. */
export async function readLinks(names: readonly string[], ns?: string): Promise<Map<string, LinkState>> {
  if (!names.length) return new Map();
  if (!netlinkAvailable()) {
    const all = (await readNamespaceIp(ns)).links;
    return new Map(names.flatMap((n) => (all.has(n) ? [[n, all.get(n)!] as const] : [])));
  }
  const d = getLinksAndAddrs(ns, names);
  return d ? linkStates(d.links, d.addrs, d.names) : new Map();
}

function linkStates(dumped: DumpedLink[], dumpedAddrs: DumpedAddr[], names: ReadonlyMap<number, string>): Map<string, LinkState> {
  // Addresses by link (no link-local ones): one pass, not one per link.
  const addrs = new Map<number, string[]>();
  for (const a of dumpedAddrs) {
    if (a.scope === 253) continue;
    const list = addrs.get(a.index) ?? addrs.set(a.index, []).get(a.index)!;
    list.push(`${a.local}/${a.prefixlen}`);
  }
  const links = new Map<string, LinkState>();
  for (const l of dumped) {
    links.set(l.name, {
      name: l.name,
      kind: l.kind,
      master: l.masterIndex ? names.get(l.masterIndex) : undefined,
      up: l.up,
      mtu: l.mtu,
      mac: l.mac,
      alias: l.alias,
      ...(l.hairpin !== undefined ? { hairpin: l.hairpin } : {}),
      addrs: addrs.get(l.index) ?? [],
    });
  }
  return links;
}

let cachedNs: string | null | undefined;
/** Name of the network namespace this process runs in (`ip netns identify`), or null when it has none. */
export function currentNetnsName(): string | null {
  if (cachedNs !== undefined) return cachedNs;
  try {
    const out = execFileSync('ip', ['netns', 'identify', String(process.pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    cachedNs = out.split('\n')[0] || null;
  } catch {
    cachedNs = null;
  }
  return cachedNs;
}

/** Named namespaces (the files under /run/netns). */
export function listNetns(): string[] {
  try {
    return fs.readdirSync('/run/netns');
  } catch {
    return [];
  }
}

export interface RouteState {
  dst: string;
  dev?: string;
  /** The next hop, the source address the kernel picks, and who made the route (kernel, boot, static, ...). */
  gateway?: string;
  prefsrc?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
}

/**
 * Routes of a namespace's main table (the daemon's without `ns`), both families: IPAM's
 * "routed on the host" check, and a sandbox's routes on the topology page.
 */
export async function readRoutes(ns?: string): Promise<RouteState[]> {
  if (netlinkAvailable()) return readRoutesNetlink(ns);
  return readRoutesIp(ns);
}

/** `ip -j route show` of both families (the fallback, and what the rtnetlink reading is checked against). */
export async function readRoutesIp(ns?: string): Promise<RouteState[]> {
  const out: RouteState[] = [];
  const results = await Promise.all(['-4', '-6'].map((fam) => run('ip', [fam, ...(ns ? ['-n', ns] : []), '-j', 'route', 'show'])));
  for (const r of results) {
    if (r.code !== 0) continue;
    for (const rt of JSON.parse(r.stdout || '[]') as RouteState[]) {
      out.push({
        dst: rt.dst,
        dev: rt.dev,
        ...(rt.gateway ? { gateway: rt.gateway } : {}),
        ...(rt.prefsrc ? { prefsrc: rt.prefsrc } : {}),
        ...(rt.protocol ? { protocol: rt.protocol } : {}),
        ...(rt.scope ? { scope: rt.scope } : {}),
        ...(typeof rt.metric === 'number' ? { metric: rt.metric } : {}),
      });
    }
  }
  return out;
}

/** The same reading as `ip -j route show` of both families, from rtnetlink dumps: the main table's unicast routes. */
export function readRoutesNetlink(ns?: string): RouteState[] {
  const d = dumpRoutes(ns);
  if (!d) return [];
  const out: RouteState[] = [];
  for (const r of d.routes) {
    if (r.table !== RT_TABLE_MAIN_ID || r.type !== RTN_UNICAST_TYPE) continue;
    const host = r.dstLen === (r.family === 6 ? 128 : 32);
    const dst = r.dstLen === 0 ? 'default' : host ? r.dst : `${r.dst}/${r.dstLen}`;
    out.push({
      dst,
      dev: r.oif ? d.names.get(r.oif) : undefined,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      ...(r.prefsrc ? { prefsrc: r.prefsrc } : {}),
      // As `ip` prints them: "boot" and the global scope are the defaults, left out.
      ...(r.protocol !== 3 ? { protocol: ROUTE_PROTOCOLS[r.protocol] ?? String(r.protocol) } : {}),
      ...(r.scope !== 0 ? { scope: ROUTE_SCOPES[r.scope] ?? String(r.scope) } : {}),
      ...(r.priority !== undefined ? { metric: r.priority } : {}),
    });
  }
  return out;
}
