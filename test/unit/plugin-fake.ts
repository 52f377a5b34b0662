/**
 * An in-memory DockerPluginBackend for the plugin's protocol tests: it keeps what it was
 * told, refuses what a real backend would refuse (unknown network, unknown option, an
 * address in use), and records every call.
 */
import { YardError } from '../../src/errors.js';
import type {
  AddressGrant, AddressRequest, DiscoveredNode, DockerEndpointCreate, DockerNetworkCreate, DockerPluginBackend, EndpointAddresses,
  ExternalConnectivity, JoinResult, PoolGrant, PoolRequest,
} from '../../src/plugin/backend.js';

export interface FakeBackend extends DockerPluginBackend {
  calls: { method: string; args: unknown[] }[];
  networks: Map<string, DockerNetworkCreate>;
  endpoints: Map<string, DockerEndpointCreate & { sandboxKey?: string; external?: ExternalConnectivity }>;
  pools: Map<string, { pool: string; used: Set<string> }>;
  nodes: { event: string; node: DiscoveredNode }[];
  /** Make the next call of this method throw this error. */
  failNext: Map<string, Error>;
}

const KNOWN_OPTIONS: Record<string, string[]> = {
  bridge: ['com.docker.network.bridge.name', 'com.docker.network.driver.mtu'],
  macvlan: ['parent', 'macvlan_mode'],
  ipvlan: ['parent', 'ipvlan_mode'],
  overlay: ['com.docker.network.driver.mtu'],
};

export function fakeBackend(): FakeBackend {
  const f: FakeBackend = {
    calls: [],
    networks: new Map(),
    endpoints: new Map(),
    pools: new Map(),
    nodes: [],
    failNext: new Map(),
  } as unknown as FakeBackend;

  const net = (id: string) => {
    const n = f.networks.get(id);
    if (!n) throw new YardError('NETWORK_NOT_FOUND', `network ${id} not found`, { hint: 'create it first' });
    return n;
  };
  const ep = (netId: string, epId: string) => {
    net(netId);
    const e = f.endpoints.get(epId);
    if (!e) throw new YardError('INVALID_ARGUMENT', `endpoint ${epId} not found`, { hint: 'create it first' });
    return e;
  };
  const record = <A extends unknown[], R>(method: string, fn: (...a: A) => R) => (...a: A): R => {
    f.calls.push({ method, args: a });
    const err = f.failNext.get(method);
    if (err) {
      f.failNext.delete(method);
      throw err;
    }
    return fn(...a);
  };

  Object.assign(f, {
    createNetwork: record('createNetwork', (req: DockerNetworkCreate) => {
      if (f.networks.has(req.id)) throw new YardError('NETWORK_EXISTS', `network ${req.id} exists`, { hint: 'pick another ID' });
      for (const k of Object.keys(req.options)) {
        if (!KNOWN_OPTIONS[req.driver]!.includes(k)) {
          throw new YardError('UNKNOWN_OPTION', `driver ${req.driver} has no option ${k}`, { field: `-o ${k}`, hint: `known options: ${KNOWN_OPTIONS[req.driver]!.join(', ')}` });
        }
      }
      f.networks.set(req.id, req);
    }),
    deleteNetwork: record('deleteNetwork', (id: string) => {
      net(id);
      f.networks.delete(id);
    }),
    createEndpoint: record('createEndpoint', (req: DockerEndpointCreate): EndpointAddresses => {
      net(req.networkId);
      f.endpoints.set(req.endpointId, { ...req });
      return { ...req.iface, mac: req.iface.mac ?? '02:42:ac:12:00:02' };
    }),
    deleteEndpoint: record('deleteEndpoint', (netId: string, epId: string) => {
      ep(netId, epId);
      f.endpoints.delete(epId);
    }),
    endpointInfo: record('endpointInfo', (netId: string, epId: string) => ({ hostInterface: `yv${ep(netId, epId).endpointId.slice(0, 12)}` })),
    join: record('join', (netId: string, epId: string, sandboxKey: string): JoinResult => {
      const e = ep(netId, epId);
      e.sandboxKey = sandboxKey;
      const n = net(netId);
      const gw = n.ipv4[0]?.gateway;
      return { srcName: `yv${epId.slice(0, 12)}`, dstPrefix: 'eth', ...(gw && !n.internal ? { gateway: gw } : {}) };
    }),
    leave: record('leave', (netId: string, epId: string) => {
      delete ep(netId, epId).sandboxKey;
    }),
    programExternalConnectivity: record('programExternalConnectivity', (netId: string, epId: string, c: ExternalConnectivity) => {
      ep(netId, epId).external = c;
    }),
    revokeExternalConnectivity: record('revokeExternalConnectivity', (netId: string, epId: string) => {
      delete ep(netId, epId).external;
    }),
    discoverNode: record('discoverNode', (event: 'new' | 'delete', node: DiscoveredNode) => {
      f.nodes.push({ event, node });
    }),
    requestPool: record('requestPool', (req: PoolRequest): PoolGrant => {
      const pool = req.pool ?? (req.v6 ? 'fd00:18::/64' : '172.18.0.0/16');
      const id = `${req.scope}/${pool}`;
      if (f.pools.has(id)) throw new YardError('SUBNET_OVERLAP', `--subnet ${pool} overlaps another network's subnet`, { field: '--subnet', hint: 'pick another subnet' });
      f.pools.set(id, { pool, used: new Set() });
      return { poolId: id, pool };
    }),
    releasePool: record('releasePool', (id: string) => {
      if (!f.pools.delete(id)) throw new YardError('INVALID_ARGUMENT', `pool ${id} is unknown`, { hint: 'request it first' });
    }),
    requestAddress: record('requestAddress', (req: AddressRequest): AddressGrant => {
      const p = f.pools.get(req.poolId);
      if (!p) throw new YardError('INVALID_ARGUMENT', `pool ${req.poolId} is unknown`, { hint: 'request it first' });
      const [base, len] = p.pool.split('/') as [string, string];
      const prefix = base.slice(0, base.lastIndexOf(base.includes(':') ? ':' : '.') + 1);
      let addr = req.address;
      if (!addr) for (let i = 1; !addr || p.used.has(addr); i++) addr = `${prefix}${i}`;
      if (p.used.has(addr)) throw new YardError('ADDRESS_IN_USE', `${addr} is already in use`, { field: '--ip', hint: 'pick another address' });
      p.used.add(addr);
      return { address: `${addr}/${len}` };
    }),
    releaseAddress: record('releaseAddress', (id: string, address: string) => {
      f.pools.get(id)?.used.delete(address);
    }),
  });
  return f;
}
