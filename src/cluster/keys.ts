/**
 * The cluster store's layout (etcd keys, values are JSON):
 *
 *   /switchyard/v1/nodes/<node>                 {name, vtep, dev}            leased: gone when the daemon dies
 *   /switchyard/v1/networks/<id>                the NetworkRecord, as created
 *   /switchyard/v1/networks-rev                 guard: every network create/remove rewrites it,
 *                                               so "no overlapping subnet" and "VNI free" are
 *                                               checked and written in one compare-and-swap
 *   /switchyard/v1/vni/<vni>                    network id
 *   /switchyard/v1/ipam/<network id>/<address>  {endpoint, sandbox, node}    persistent (the address stays
 *                                               with its endpoint while its host is down)
 *   /switchyard/v1/endpoints/<network id>/<endpoint id>  RemoteEndpoint      leased to its node
 */
import type { NetworkRecord } from '../model/types.js';

export const PREFIX = '/switchyard/v1/';

export const K = {
  node: (node: string) => `${PREFIX}nodes/${node}`,
  nodes: `${PREFIX}nodes/`,
  network: (id: string) => `${PREFIX}networks/${id}`,
  networks: `${PREFIX}networks/`,
  networksRev: `${PREFIX}networks-rev`,
  vni: (vni: number) => `${PREFIX}vni/${vni}`,
  vnis: `${PREFIX}vni/`,
  addr: (netId: string, ip: string) => `${PREFIX}ipam/${netId}/${ip}`,
  addrs: (netId: string) => `${PREFIX}ipam/${netId}/`,
  endpoint: (netId: string, epId: string) => `${PREFIX}endpoints/${netId}/${epId}`,
  endpoints: (netId: string) => `${PREFIX}endpoints/${netId}/`,
};

export interface NodeInfo {
  name: string;
  /** VTEP address (the --cluster-advertise interface's address). */
  vtep: string;
  dev: string;
}

/** An endpoint as every host sees it. */
export interface RemoteEndpoint {
  id: string;
  networkId: string;
  sandboxId: string;
  sandboxName: string;
  aliases: string[];
  node: string;
  vtep: string;
  mac?: string;
  ipv4?: string;
  ipv6?: string;
  created: string;
}

export interface AddrClaim {
  endpoint: string;
  sandbox: string;
  node: string;
}

/** Everything under PREFIX, decoded: what one list (or list + watch) of the store yields. */
export interface ClusterView {
  nodes: Map<string, NodeInfo>;
  networks: Map<string, NetworkRecord>;
  /** network id -> endpoint id -> endpoint */
  endpoints: Map<string, Map<string, RemoteEndpoint>>;
}

export function decodeView(kvs: ReadonlyMap<string, string>): ClusterView {
  const view: ClusterView = { nodes: new Map(), networks: new Map(), endpoints: new Map() };
  for (const [key, value] of kvs) {
    const rest = key.slice(PREFIX.length).split('/');
    let v: unknown;
    try {
      v = JSON.parse(value);
    } catch {
      continue;
    }
    if (rest[0] === 'nodes' && rest.length === 2) view.nodes.set(rest[1]!, v as NodeInfo);
    else if (rest[0] === 'networks' && rest.length === 2) view.networks.set(rest[1]!, v as NetworkRecord);
    else if (rest[0] === 'endpoints' && rest.length === 3) {
      const m = view.endpoints.get(rest[1]!) ?? new Map<string, RemoteEndpoint>();
      m.set(rest[2]!, v as RemoteEndpoint);
      view.endpoints.set(rest[1]!, m);
    }
  }
  return view;
}
