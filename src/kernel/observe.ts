/** Reading the kernel back, as JSON from iproute2. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { run } from './exec.js';

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
