/**
 * The Docker plugin's backend on Switchyard's engine: Docker's networks become Switchyard
 * networks (same ID), and each Docker endpoint a runtime-owned sandbox (same ID) whose one
 * interface is made in the daemon's namespace and handed over to dockerd at Join.
 *
 *   CreateNetwork    -> Engine.createNetwork (name docker-<12 hex>: dockerd never sends the name)
 *   CreateEndpoint   -> Engine.createSandbox (runtime 'docker', handover): host side, firewall, -p
 *   Join / Leave     -> the namespace path is recorded / cleared; the interface's name and the
 *                       gateway (from the driver's gateway routes) go back to dockerd
 *   DeleteEndpoint   -> Engine.removeSandbox; DeleteNetwork -> Engine.removeNetwork
 *   IpamDriver.*     -> pools and addresses that never collide with Switchyard's own networks
 *
 * Removals of what is already gone succeed: dockerd only logs their errors and forgets the
 * object anyway, so the answer that matters is that nothing is left.
 */
import { YardError } from '../errors.js';
import { allocateAddress } from '../ipam/allocator.js';
import { planIpam } from '../ipam/config.js';
import { formatPrefix, parseAddr, parsePrefix, prefixContains, prefixesOverlap } from '../ipam/prefix.js';
import { shortId } from '../model/ids.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import type { PortMapping } from '../model/ports.js';
import { getDriver } from '../drivers/index.js';
import type { Engine } from '../engine/engine.js';
import { handoverIfname } from '../engine/endpoints.js';
import { releaseGoneRuntimeSandboxes } from '../engine/reconcile.js';
import type {
  AddressGrant,
  AddressRequest,
  DockerEndpointCreate,
  DockerNetworkCreate,
  DockerPluginBackend,
  EndpointAddresses,
  ExternalConnectivity,
  JoinResult,
  PoolGrant,
  PoolRequest,
  StaticRoute,
} from './backend.js';
import { PROTO_NUMBERS } from './docker-protocol.js';

/** The label that marks a Switchyard network as Docker's. */
export const DOCKER_NETWORK_LABEL = 'switchyard.runtime';
/** The interface prefix dockerd names a handed-over interface with inside the container (eth0, eth1, ...). */
export const DOCKER_IFACE_PREFIX = 'eth';

const bare = (cidr?: string) => (cidr ? cidr.split('/')[0]! : undefined);

/** The name Switchyard gives a Docker network or endpoint (dockerd sends neither name). */
export const dockerNetworkName = (id: string) => `docker-${shortId(id)}`;
export const dockerEndpointName = (id: string) => `docker-${shortId(id)}`;

export class EngineDockerBackend implements DockerPluginBackend {
  /** IPAM grants not yet seen in a network or endpoint record (dockerd holds them between calls). */
  private pools = new Map<string, { subnet: string; subPool?: string }>();
  private addresses = new Map<string, Set<string>>();

  constructor(
    private readonly engine: Engine,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  // ------------------------------------------------------------ networks

  async createNetwork(req: DockerNetworkCreate): Promise<void> {
    await this.engine.createNetwork({
      id: req.id,
      name: dockerNetworkName(req.id),
      driver: req.driver,
      options: req.options,
      internal: req.internal,
      ipv6: req.enableIPv6,
      labels: { [DOCKER_NETWORK_LABEL]: 'docker' },
      ipam: [...req.ipv4, ...req.ipv6].map((p) => ({ subnet: p.subnet, ...(p.gateway ? { gateway: p.gateway } : {}), auxAddresses: p.auxAddresses })),
    });
  }

  async deleteNetwork(networkId: string): Promise<void> {
    if (!this.engine.state.networks.has(networkId)) return;
    await this.engine.removeNetwork(networkId);
  }

  // ------------------------------------------------------------ endpoints

  async createEndpoint(req: DockerEndpointCreate): Promise<EndpointAddresses> {
    try {
      return await this.createEndpointOnce(req);
    } catch (e) {
      // A runtime that crashed restarts its containers at once, with addresses its own IPAM
      // now takes as free, before the periodic check has released the endpoints whose
      // namespace went with the crash: release those now, and try once more if any went.
      if (!(e instanceof YardError) || e.code !== 'ADDRESS_IN_USE') throw e;
      const released = await releaseGoneRuntimeSandboxes(this.engine);
      if (!released.finishedRemovals.length) throw e;
      return this.createEndpointOnce(req);
    }
  }

  private async createEndpointOnce(req: DockerEndpointCreate): Promise<EndpointAddresses> {
    const net = this.network(req.networkId);
    const { sb } = await this.engine.createSandbox({
      id: req.endpointId,
      name: dockerEndpointName(req.endpointId),
      networks: [{ network: net.id, endpointId: req.endpointId, ip: bare(req.iface.ipv4), ip6: bare(req.iface.ipv6), ...(req.iface.mac ? { mac: req.iface.mac } : {}) }],
      runtime: { kind: 'docker', mode: 'handover' },
      labels: { [DOCKER_NETWORK_LABEL]: 'docker' },
      start: false,
    });
    const ep = sb.endpoints[net.id]!;
    // An ipvlan child has its parent's MAC and the kernel refuses to set any other (even
    // that one): dockerd would try to set a MAC we answered, and fail the container.
    const mac = ep.mac && net.driver !== 'ipvlan' ? { mac: ep.mac } : {};
    return { ...(ep.ipv4 ? { ipv4: ep.ipv4 } : {}), ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}), ...mac };
  }

  async deleteEndpoint(_networkId: string, endpointId: string): Promise<void> {
    if (!this.engine.state.sandboxes.has(endpointId)) return;
    await this.engine.removeSandbox(endpointId, true, true);
  }

  endpointInfo(_networkId: string, endpointId: string): Record<string, unknown> {
    const sb = this.sandbox(endpointId);
    return sb.ports?.length ? { 'com.docker.network.portmap': portBindings(sb.ports) } : {};
  }

  async join(networkId: string, endpointId: string, sandboxKey: string): Promise<JoinResult> {
    const net = this.network(networkId);
    const sb = await this.engine.setRuntimePath(this.sandbox(endpointId).id, sandboxKey);
    const ep = sb.endpoints[net.id]!;
    const result: JoinResult = { srcName: handoverIfname(ep.id), dstPrefix: DOCKER_IFACE_PREFIX };
    // The routes the driver would give a sandbox of its own, for dockerd to set.
    const routes: StaticRoute[] = [];
    for (const op of getDriver(net.driver).planGatewayRoutes(net, sb, ep)) {
      if (op.op !== 'route.add') continue;
      const v6 = (op.via ?? op.dst).includes(':');
      if (op.dst === 'default' && op.via) {
        if (v6) result.gatewayIPv6 = op.via;
        else result.gateway = op.via;
      } else if (op.dst !== 'default') routes.push({ destination: op.dst, ...(op.via ? { nextHop: op.via } : {}) });
    }
    if (routes.length) result.staticRoutes = routes;
    // Without a gateway dockerd adds its own docker_gwbridge interface for the way out, as
    // with its own overlay: wanted there, not on an internal network (no way out on purpose)
    // nor on a LAN network without a router (as Docker's macvlan and ipvlan).
    if (net.internal || (!result.gateway && !result.gatewayIPv6 && net.scope !== 'global')) result.disableGatewayService = true;
    return result;
  }

  async leave(_networkId: string, endpointId: string): Promise<void> {
    if (!this.engine.state.sandboxes.has(endpointId)) return;
    await this.engine.setRuntimePath(endpointId, undefined);
  }

  /**
   * The container's `-p` bindings, on the endpoint that gives it its way out (dockerd also
   * sends them to CreateEndpoint of every network it joins; only this call publishes).
   */
  async programExternalConnectivity(_networkId: string, endpointId: string, c: ExternalConnectivity): Promise<void> {
    const sb = this.sandbox(endpointId);
    if (c.ports.length || sb.ports?.length) await this.engine.setPorts(sb.id, c.ports);
  }

  async revokeExternalConnectivity(_networkId: string, endpointId: string): Promise<void> {
    const sb = this.engine.state.sandboxes.get(endpointId);
    if (sb && !sb.deleting && sb.ports?.length) await this.engine.setPorts(sb.id, []);
  }

  // ------------------------------------------------------------ IPAM

  requestPool(req: PoolRequest): PoolGrant {
    const used = this.usedSubnets();
    let subnet: string;
    if (req.pool) {
      const p = parsePrefix(req.pool)!;
      const clash = used.find((u) => prefixesOverlap(parsePrefix(u.prefix)!, p));
      if (clash) {
        throw new YardError('SUBNET_OVERLAP', `--subnet ${req.pool} overlaps ${clash.owner} (${clash.prefix})`, { field: '--subnet', hint: 'pick a subnet that no other network uses' });
      }
      subnet = req.pool;
    } else {
      const [pool] = planIpam({ networkName: 'docker', configs: [], enableIPv6: req.v6, needsGateway: false }, { used }).filter((c) => c.subnet.includes(':') === req.v6);
      if (!pool) throw new YardError('POOLS_EXHAUSTED', 'no free subnet is left in the default pools', { field: '--subnet', hint: 'give --subnet, or remove unused networks' });
      subnet = pool.subnet;
    }
    const poolId = req.subPool ? `${subnet}|${req.subPool}` : subnet;
    this.pools.set(poolId, { subnet, ...(req.subPool ? { subPool: req.subPool } : {}) });
    return { poolId, pool: subnet };
  }

  releasePool(poolId: string): void {
    this.pools.delete(poolId);
    this.addresses.delete(poolId);
  }

  requestAddress(req: AddressRequest): AddressGrant {
    const pool = this.pools.get(req.poolId) ?? this.poolOfNetworks(req.poolId);
    const len = Number(pool.subnet.split('/')[1]);
    const granted = this.addresses.get(req.poolId) ?? new Set<string>();
    const inUse = new Map<string, string>([...granted].map((a) => [a, 'another endpoint of Docker']));
    for (const [addr, who] of this.addressesIn(pool.subnet)) inUse.set(addr, who);
    const a = allocateAddress({
      networkName: `docker pool ${pool.subnet}`,
      pools: [{ subnet: pool.subnet, ...(pool.subPool && !req.gateway ? { ipRange: pool.subPool } : {}), auxAddresses: {} }],
      family: pool.subnet.includes(':') ? 6 : 4,
      inUse,
      requested: req.address,
      field: req.gateway ? '--gateway' : '--ip',
    });
    granted.add(a.address);
    this.addresses.set(req.poolId, granted);
    return { address: `${a.address}/${len}` };
  }

  releaseAddress(poolId: string, address: string): void {
    this.addresses.get(poolId)?.delete(address);
  }

  // ------------------------------------------------------------ helpers

  private network(id: string): NetworkRecord {
    const net = this.engine.state.networks.get(id);
    if (!net || net.deleting) {
      throw new YardError('NETWORK_NOT_FOUND', `network ${shortId(id)} is not known to Switchyard`, { hint: 'create it with docker network create -d switchyard (Switchyard keeps the networks it was given)' });
    }
    return net;
  }

  private sandbox(id: string): SandboxRecord {
    const sb = this.engine.state.sandboxes.get(id);
    if (!sb || sb.deleting) {
      throw new YardError('SANDBOX_NOT_FOUND', `endpoint ${shortId(id)} is not known to Switchyard`, { hint: 'remove the container and run it again' });
    }
    return sb;
  }

  /** Subnets taken: Switchyard's networks and the pools granted to dockerd. */
  private usedSubnets(): { prefix: string; owner: string }[] {
    const used = this.engine.networks().flatMap((n) => n.ipam.config.map((p) => ({ prefix: p.subnet, owner: `network ${n.name}` })));
    for (const p of this.pools.values()) if (!used.some((u) => u.prefix === p.subnet)) used.push({ prefix: p.subnet, owner: 'a pool Docker holds' });
    return used;
  }

  /** A pool ID from before a restart: the network that has that subnet. */
  private poolOfNetworks(poolId: string): { subnet: string; subPool?: string } {
    const [subnet, subPool] = poolId.split('|');
    if (subnet && this.engine.networks().some((n) => n.ipam.config.some((p) => p.subnet === subnet))) {
      const pool = { subnet, ...(subPool ? { subPool } : {}) };
      this.pools.set(poolId, pool);
      return pool;
    }
    throw new YardError('INVALID_ARGUMENT', `pool ${poolId} is not known to Switchyard`, { field: 'PoolID', hint: 'request the pool first (RequestPool)' });
  }

  /** Addresses in a subnet that Switchyard's records hold: gateways, aux addresses, endpoints. */
  private addressesIn(subnet: string): Map<string, string> {
    const p = parsePrefix(subnet)!;
    const out = new Map<string, string>();
    const add = (addr: string | undefined, who: string) => {
      const a = addr && parseAddr(addr.split('/')[0]!);
      if (a && prefixContains(p, a)) out.set(addr!.split('/')[0]!, who);
    };
    for (const n of this.engine.networks()) {
      for (const c of n.ipam.config) {
        if (c.subnet !== formatPrefix(p)) continue;
        add(c.gateway, `the gateway of network ${n.name}`);
        for (const aux of Object.values(c.auxAddresses ?? {})) add(aux, `an aux address of network ${n.name}`);
      }
    }
    for (const sb of this.engine.sandboxes()) {
      for (const ep of Object.values(sb.endpoints)) {
        add(ep.ipv4, `sandbox ${sb.name}`);
        add(ep.ipv6, `sandbox ${sb.name}`);
      }
    }
    return out;
  }
}

/** Published ports in Docker's wire form (one binding per port), for EndpointOperInfo and so `docker port`. */
export function portBindings(ports: readonly PortMapping[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const m of ports) {
    for (let i = 0; i <= m.containerPortEnd - m.containerPort; i++) {
      const host = m.hostRangeChoice ? m.hostPort : m.hostPort + i;
      out.push({ Proto: PROTO_NUMBERS[m.proto], IP: '', Port: m.containerPort + i, HostIP: m.hostIp || '0.0.0.0', HostPort: host, HostPortEnd: host });
    }
  }
  return out;
}
