/**
 * The peer table (pure): which forwarding and neighbour entries a host's VXLAN device must
 * hold for a network, and the plan that takes the device from what it has to that.
 */
import type { Plan } from '../plan/ops.js';
import type { ClusterView, RemoteEndpoint } from './keys.js';

export interface PeerEntry {
  mac: string;
  vtep: string;
  ips: string[];
}

/** Endpoints of `netId` on other hosts (whose nodes are alive), keyed by MAC. */
export function desiredPeers(view: ClusterView, netId: string, me: string): Map<string, PeerEntry> {
  const out = new Map<string, PeerEntry>();
  for (const ep of view.endpoints.get(netId)?.values() ?? []) {
    if (ep.node === me || !ep.mac || !view.nodes.has(ep.node)) continue;
    out.set(ep.mac.toLowerCase(), { mac: ep.mac.toLowerCase(), vtep: ep.vtep, ips: ipsOf(ep) });
  }
  return out;
}

function ipsOf(ep: RemoteEndpoint): string[] {
  return [ep.ipv4, ep.ipv6].filter((a): a is string => !!a).map((a) => a.split('/')[0]!);
}

export function peerPlan(dev: string, desired: ReadonlyMap<string, PeerEntry>, current: { fdb: ReadonlyMap<string, string>; neigh: ReadonlyMap<string, string> }): Plan {
  const plan: Plan = [];
  const wantIps = new Map<string, string>();
  for (const p of desired.values()) for (const ip of p.ips) wantIps.set(ip, p.mac);
  // Removals first: a MAC or address that moved to another endpoint is replaced below.
  for (const [ip] of current.neigh) if (!wantIps.has(ip)) plan.push({ op: 'neigh.del', dev, ip });
  for (const [mac, dst] of current.fdb) if (!desired.has(mac)) plan.push({ op: 'fdb.del', dev, mac, dst });
  for (const p of desired.values()) {
    if (current.fdb.get(p.mac) !== p.vtep) plan.push({ op: 'fdb.replace', dev, mac: p.mac, dst: p.vtep });
  }
  for (const [ip, mac] of wantIps) {
    if (current.neigh.get(ip) !== mac) plan.push({ op: 'neigh.replace', dev, ip, mac });
  }
  return plan;
}
