/**
 * The topology page's data: what the daemon knows, as a graph of nodes and edges in the
 * shape the page hands to its layout library (`{ group, data }`). Pure: the route
 * (ui/routes.ts) gathers the inputs, this file decides what is drawn.
 *
 *   nodes  this host and the overlay peers, networks, the kernel links that carry them
 *          (bridges, macvlan/ipvlan parents, VXLAN devices), sandboxes (local, and
 *          the remote ones other hosts hold on global networks), published ports
 *   edges  endpoints (sandbox to network, with the interface and its addresses), a
 *          network to its link, a published port to its sandbox, a VXLAN device to each
 *          peer's VTEP, and `host` edges from what lives in a host (its links and published
 *          ports; the remote sandboxes of a peer) to that host
 *
 * Every string a user gave (names, labels, options, aliases) is carried as data, never as
 * markup: the page puts it in the document only as text.
 */
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { specOf, publishTarget } from '../model/ports.js';
import { buildRecords, scopeOf, type Records } from '../dns/records.js';

/** An overlay peer (another daemon of the cluster) and its VXLAN endpoint address. */
export interface PeerInput {
  name: string;
  vtep: string;
}

/** A sandbox another host holds on a global network (the cluster store's view). */
export interface RemoteEndpointInput {
  networkId: string;
  sandboxId: string;
  sandboxName: string;
  endpointId: string;
  node: string;
  vtep: string;
  ipv4?: string;
  ipv6?: string;
  mac?: string;
}

export interface TopologyInput {
  /** This daemon's instance name (its host). */
  instance: string;
  networks: readonly NetworkRecord[];
  /** Sandboxes as they are now (status refreshed). */
  sandboxes: readonly SandboxRecord[];
  /** With a cluster store: this host's own name there, the peers and their sandboxes. */
  cluster?: { node?: string; connected?: boolean; peers: readonly PeerInput[]; remote: readonly RemoteEndpointInput[] };
}

export type NodeKind = 'host' | 'peer' | 'network' | 'bridge' | 'parent' | 'vxlan' | 'sandbox' | 'remote-sandbox' | 'port';
export type EdgeKind = 'endpoint' | 'carrier' | 'parent' | 'vxlan' | 'publish' | 'vtep' | 'host';

export interface TopoNode {
  group: 'nodes';
  data: { id: string; kind: NodeKind; label: string; info: Record<string, unknown> };
}

export interface TopoEdge {
  group: 'edges';
  data: { id: string; kind: EdgeKind; label: string; source: string; target: string; info: Record<string, unknown> };
}

export interface Topology {
  instance: string;
  nodes: TopoNode[];
  edges: TopoEdge[];
  counts: Record<NodeKind, number>;
}

/** Node IDs: a kind prefix, so a network and a sandbox never share one. */
export const nodeId = {
  host: (name: string) => `host:${name}`,
  network: (id: string) => `net:${id}`,
  link: (name: string) => `link:${name}`,
  sandbox: (id: string) => `sb:${id}`,
  remote: (node: string, id: string) => `rsb:${node}:${id}`,
  port: (sbId: string, spec: string) => `port:${sbId}:${spec}`,
};

const str = (v: unknown): string | undefined => (v === undefined || v === null || v === '' ? undefined : String(v));
const bare = (cidr?: string) => cidr?.split('/')[0];

/** The kernel link a network's traffic goes through on this host, if it has one. */
function linkOf(net: NetworkRecord): { kind: 'bridge' | 'parent' | 'vxlan'; name: string; extra?: { kind: 'bridge'; name: string } } | undefined {
  const ds = net.driverState ?? {};
  switch (net.driver) {
    case 'bridge':
      return { kind: 'bridge', name: str(ds.bridge) ?? `br-${net.id.slice(0, 12)}` };
    case 'macvlan':
    case 'ipvlan':
      return str(ds.parent) ? { kind: 'parent', name: String(ds.parent) } : undefined;
    case 'overlay': {
      const vx = str(ds.vxlan);
      const br = str(ds.bridge);
      if (vx) return { kind: 'vxlan', name: vx, ...(br ? { extra: { kind: 'bridge' as const, name: br } } : {}) };
      return br ? { kind: 'bridge', name: br } : undefined;
    }
    default:
      return undefined;
  }
}

/** Every sandbox's DNS names per network (sandbox ID -> network ID -> names), in one pass over the records. */
function dnsNamesIndex(records: Records): Map<string, Map<string, string[]>> {
  const index = new Map<string, Map<string, string[]>>();
  for (const [netId, nn] of records.networks) {
    for (const [name, holders] of nn.names) {
      for (const h of holders) {
        let per = index.get(h.sandboxId);
        if (!per) index.set(h.sandboxId, (per = new Map()));
        const list = per.get(netId) ?? [];
        if (!list.includes(name)) list.push(name);
        per.set(netId, list);
      }
    }
  }
  return index;
}

function namesOf(records: Records, index: Map<string, Map<string, string[]>>, sb: SandboxRecord): { network: string; names: string[] }[] {
  return scopeOf(records, sb).map((nn) => ({
    network: nn.net.name,
    names: [...(index.get(sb.id)?.get(nn.net.id) ?? [])].sort((a, b) => a.length - b.length || a.localeCompare(b)),
  }));
}

/** The names the embedded DNS answers for a sandbox, per network it serves names on. */
export function sandboxDnsNames(networks: readonly NetworkRecord[], sandboxes: readonly SandboxRecord[], sb: SandboxRecord): { network: string; names: string[] }[] {
  const records = buildRecords(networks, sandboxes);
  return namesOf(records, dnsNamesIndex(records), sb);
}

function endpointInfo(net: NetworkRecord | undefined, ep: EndpointRecord): Record<string, unknown> {
  return {
    network: net?.name ?? ep.networkId.slice(0, 12),
    ifname: ep.ifname,
    ...(ep.hostIfname ? { hostIfname: ep.hostIfname } : {}),
    ...(ep.ipv4 ? { ipv4: ep.ipv4 } : {}),
    ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}),
    ...(ep.mac ? { mac: ep.mac } : {}),
    aliases: [...ep.aliases],
  };
}

/** The graph of what the daemon knows (see the file's comment). */
export function buildTopology(input: TopologyInput): Topology {
  const nodes = new Map<string, TopoNode>();
  const edges = new Map<string, TopoEdge>();
  const addNode = (id: string, kind: NodeKind, label: string, info: Record<string, unknown>) => {
    if (!nodes.has(id)) nodes.set(id, { group: 'nodes', data: { id, kind, label, info } });
  };
  const addEdge = (id: string, kind: EdgeKind, label: string, source: string, target: string, info: Record<string, unknown> = {}) => {
    if (nodes.has(source) && nodes.has(target) && !edges.has(id)) edges.set(id, { group: 'edges', data: { id, kind, label, source, target, info } });
  };

  const host = nodeId.host(input.instance);
  addNode(host, 'host', input.instance, { role: 'this host', ...(input.cluster?.node ? { clusterNode: input.cluster.node } : {}), ...(input.cluster ? { clusterConnected: !!input.cluster.connected } : {}) });

  const live = input.networks.filter((n) => !n.deleting && !n.configOnly);
  const sandboxes = input.sandboxes.filter((s) => !s.deleting);
  const byId = new Map(live.map((n) => [n.id, n]));
  const records = buildRecords(live, sandboxes);
  const dnsIndex = dnsNamesIndex(records);
  const used = new Set(sandboxes.flatMap((s) => Object.keys(s.endpoints)));
  // host and none carry nothing of their own: drawn only when a sandbox uses them.
  const drawn = live.filter((n) => !(n.predefined && (n.driver === 'host' || n.driver === 'null')) || used.has(n.id));

  for (const net of [...drawn].sort((a, b) => a.name.localeCompare(b.name))) {
    const id = nodeId.network(net.id);
    const link = linkOf(net);
    addNode(id, 'network', net.name, {
      id: net.id,
      name: net.name,
      driver: net.driver,
      scope: net.scope,
      internal: net.internal,
      ipv6: net.ipv6,
      subnets: net.ipam.config.map((p) => ({ subnet: p.subnet, ...(p.gateway ? { gateway: p.gateway } : {}), ...(p.ipRange ? { ipRange: p.ipRange } : {}) })),
      labels: { ...net.labels },
      options: { ...net.options },
      ...(net.driverState.vni !== undefined ? { vni: net.driverState.vni } : {}),
      ...(net.driverState.mode !== undefined ? { mode: net.driverState.mode } : {}),
      ...(link ? { link: link.name } : {}),
    });
    if (link) {
      const lid = nodeId.link(link.name);
      addNode(lid, link.kind, link.name, { name: link.name, kind: link.kind });
      addEdge(`host:${link.name}`, 'host', '', lid, host);
      addEdge(`carrier:${net.id}:${link.name}`, link.kind === 'parent' ? 'parent' : link.kind === 'vxlan' ? 'vxlan' : 'carrier', link.kind === 'parent' ? `parent ${link.name}` : '', id, lid);
      if (link.extra) {
        const bid = nodeId.link(link.extra.name);
        addNode(bid, 'bridge', link.extra.name, { name: link.extra.name, kind: 'bridge' });
        addEdge(`host:${link.extra.name}`, 'host', '', bid, host);
        addEdge(`carrier:${net.id}:${link.extra.name}`, 'carrier', '', id, bid);
      }
    }
  }

  for (const sb of [...sandboxes].sort((a, b) => a.name.localeCompare(b.name))) {
    const id = nodeId.sandbox(sb.id);
    const eps = Object.values(sb.endpoints).sort((a, b) => a.order - b.order);
    const target = publishTarget(sb, byId);
    addNode(
      id,
      'sandbox',
      sb.name,
      {
        id: sb.id,
        name: sb.name,
        status: sb.status,
        hostname: sb.hostname,
        netns: sb.netns,
        ...(sb.runtime ? { runtime: sb.runtime.kind } : {}),
        labels: { ...sb.labels },
        addresses: eps.map((ep) => endpointInfo(byId.get(ep.networkId), ep)),
        dnsNames: namesOf(records, dnsIndex, sb),
        ports: (sb.ports ?? []).map((m) => specOf(m)),
        ...(target ? { publishedTo: bare(target.ep.ipv4) ?? bare(target.ep.ipv6) } : {}),
      },
    );
    // A sandbox with no endpoint (a runtime's before it joins) still shows where it is.
    if (!eps.some((ep) => byId.has(ep.networkId))) addEdge(`host:${id}`, 'host', '', id, host);
    for (const ep of eps) {
      const net = byId.get(ep.networkId);
      if (!net) continue;
      const addr = bare(ep.ipv4) ?? bare(ep.ipv6);
      addEdge(`ep:${ep.id}`, 'endpoint', [ep.ifname, addr].filter(Boolean).join(' '), id, nodeId.network(net.id), endpointInfo(net, ep));
    }
    for (const m of sb.ports ?? []) {
      const spec = specOf(m);
      const pid = nodeId.port(sb.id, spec);
      const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
      addNode(pid, 'port', `${m.hostIp ? (m.hostIp.includes(':') ? `[${m.hostIp}]` : m.hostIp) : '*'}:${range(m.hostPort, m.hostPortEnd)}/${m.proto}`, { spec, proto: m.proto, hostIp: m.hostIp || '', hostPort: range(m.hostPort, m.hostPortEnd), containerPort: range(m.containerPort, m.containerPortEnd), sandbox: sb.name, published: !!target });
      addEdge(`host:${pid}`, 'host', '', pid, host);
      addEdge(`publish:${sb.id}:${spec}`, 'publish', `-> ${range(m.containerPort, m.containerPortEnd)}`, pid, id);
    }
  }

  if (input.cluster) {
    const self = input.cluster.node ?? input.instance;
    for (const p of [...input.cluster.peers].sort((a, b) => a.name.localeCompare(b.name))) {
      if (p.name === self) continue;
      addNode(nodeId.host(p.name), 'peer', p.name, { name: p.name, vtep: p.vtep, role: 'overlay peer' });
    }
    for (const r of [...input.cluster.remote].sort((a, b) => a.sandboxName.localeCompare(b.sandboxName) || a.networkId.localeCompare(b.networkId))) {
      if (r.node === self) continue;
      const net = byId.get(r.networkId);
      if (!net) continue;
      const peer = nodeId.host(r.node);
      addNode(peer, 'peer', r.node, { name: r.node, vtep: r.vtep, role: 'overlay peer' });
      const rid = nodeId.remote(r.node, r.sandboxId);
      addNode(rid, 'remote-sandbox', r.sandboxName, { id: r.sandboxId, name: r.sandboxName, node: r.node, vtep: r.vtep, addresses: [] as unknown[] });
      addEdge(`host:${rid}`, 'host', '', rid, peer);
      const info = { network: net.name, ...(r.ipv4 ? { ipv4: r.ipv4 } : {}), ...(r.ipv6 ? { ipv6: r.ipv6 } : {}), ...(r.mac ? { mac: r.mac } : {}) };
      (nodes.get(rid)!.data.info.addresses as unknown[]).push(info);
      addEdge(`ep:${r.endpointId}`, 'endpoint', bare(r.ipv4) ?? bare(r.ipv6) ?? '', rid, nodeId.network(net.id), info);
    }
    // Each overlay network's VXLAN device reaches every peer's VTEP.
    for (const net of drawn.filter((n) => n.driver === 'overlay')) {
      const link = linkOf(net);
      if (link?.kind !== 'vxlan') continue;
      for (const p of input.cluster.peers) {
        if (p.name === self) continue;
        addEdge(`vtep:${link.name}:${p.name}`, 'vtep', `VTEP ${p.vtep}`, nodeId.link(link.name), nodeId.host(p.name), { vtep: p.vtep, vni: net.driverState.vni });
      }
    }
  }

  const counts = { host: 0, peer: 0, network: 0, bridge: 0, parent: 0, vxlan: 0, sandbox: 0, 'remote-sandbox': 0, port: 0 } as Record<NodeKind, number>;
  for (const n of nodes.values()) counts[n.data.kind]++;
  return { instance: input.instance, nodes: [...nodes.values()], edges: [...edges.values()], counts };
}
