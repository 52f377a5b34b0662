/**
 * What the Docker plugin needs from Switchyard: one method per protocol call, with
 * Docker's wire format already translated into Switchyard's vocabulary (translate.ts).
 * The engine implements it; the protocol tests use an in-memory fake.
 *
 * Facts about what dockerd (20.10) sends, which shape this interface:
 *   - CreateNetwork carries the network ID, the `-o` options, `--ipv6`, `--internal` and
 *     the pools IPAM gave (subnet, gateway, aux addresses). It never carries the network's
 *     name, its labels, `--attachable` or `--ip-range` (IPAM keeps the range to itself).
 *   - Only the host where `docker network create` ran gets CreateNetwork. With a global
 *     (cluster-store) network, other hosts get CreateEndpoint/Join for a NetworkID they
 *     never saw: the backend must find it in its own cluster state.
 *   - Endpoint addresses are allocated by IPAM before CreateEndpoint; the driver may only
 *     fill in what is missing (usually the MAC address).
 *   - Join must return an interface that exists in the plugin's (= dockerd's) network
 *     namespace: dockerd moves it into the sandbox, renames it `<dstPrefix><n>`, sets its
 *     addresses and MAC, then the gateway and static routes. The backend must not do that
 *     part itself.
 *   - Errors in deleteNetwork, deleteEndpoint, leave and revokeExternalConnectivity are only
 *     logged by dockerd, which forgets the object anyway: clean up as far as possible.
 */
import type { PortMapping, PortProto } from '../model/ports.js';

/** Which of the two plugin names a call came through (a plugin name has one scope). */
export type PluginScope = 'local' | 'global';

/** The Switchyard drivers a Docker network can use, chosen with `-o driver=...`. */
export const LOCAL_DRIVERS = ['bridge', 'macvlan', 'ipvlan'] as const;
export const GLOBAL_DRIVERS = ['overlay'] as const;
export type PluginDriver = (typeof LOCAL_DRIVERS)[number] | (typeof GLOBAL_DRIVERS)[number];

/** One subnet of the network, as Docker's IPAM gave it. Addresses are bare IPs, canonical. */
export interface DockerPool {
  /** IPAM's address space (LocalDefault, GlobalDefault, or another IPAM driver's). */
  addressSpace: string;
  /** Canonical CIDR, e.g. 172.18.0.0/16. */
  subnet: string;
  /** The gateway address (bare), when IPAM allocated one. */
  gateway?: string;
  /** --aux-address name -> address (bare). */
  auxAddresses: Record<string, string>;
}

export interface DockerNetworkCreate {
  /** Docker's network ID: 64 hex digits (use it as Switchyard's network ID). */
  id: string;
  scope: PluginScope;
  /** The Switchyard driver (`-o driver=...`; bridge by default, overlay for the global plugin). */
  driver: PluginDriver;
  /** The remaining `-o` options, for that driver (its own keys; unknown ones are the driver's to refuse). */
  options: Record<string, string>;
  ipv4: DockerPool[];
  ipv6: DockerPool[];
  enableIPv6: boolean;
  internal: boolean;
}

/** Docker's exposed port (`EXPOSE 80/tcp`). */
export interface ExposedPort {
  proto: PortProto;
  port: number;
}

/** An endpoint's interface addresses. */
export interface EndpointAddresses {
  /** "addr/len". */
  ipv4?: string;
  /** "addr/len". */
  ipv6?: string;
  /** aa:bb:cc:dd:ee:ff, lowercase. */
  mac?: string;
}

export interface DockerEndpointCreate {
  networkId: string;
  endpointId: string;
  /** What dockerd already decided (IPAM's addresses, `--mac-address`). */
  iface: EndpointAddresses;
  /** `docker network connect --driver-opt k=v` (and any other plain string option). */
  driverOpts: Record<string, string>;
  /** `-p` bindings, when this is the container's first non-internal network (dockerd sends them again to programExternalConnectivity). */
  ports: PortMapping[];
  exposed: ExposedPort[];
  /** The container's `--dns` servers (or the daemon's). */
  dnsServers: string[];
}

/** A route dockerd adds inside the sandbox. No nextHop: a connected (on-link) route. */
export interface StaticRoute {
  /** CIDR; 0.0.0.0/0 counts as a default route (then dockerd adds no docker_gwbridge). */
  destination: string;
  nextHop?: string;
}

export interface JoinResult {
  /** The interface in the plugin's namespace that dockerd moves into the sandbox. */
  srcName: string;
  /** Its name inside: the prefix, dockerd appends the index (eth -> eth0, eth1, ...). */
  dstPrefix: string;
  /** Default route via this IPv4 gateway (bare address). Without it and without a default static route, dockerd adds a docker_gwbridge interface (unless disableGatewayService). */
  gateway?: string;
  gatewayIPv6?: string;
  staticRoutes?: StaticRoute[];
  /** true: dockerd adds no docker_gwbridge interface for this endpoint. */
  disableGatewayService?: boolean;
}

export interface ExternalConnectivity {
  /** `-p` bindings of the container (one record per container port; ranges already merged). */
  ports: PortMapping[];
  exposed: ExposedPort[];
}

export interface DiscoveredNode {
  address: string;
  bindAddress: string;
  self: boolean;
}

// ------------------------------------------------------------------ IPAM

export interface PoolRequest {
  /** From the address space: LocalDefault (local networks) or GlobalDefault (global ones). */
  scope: PluginScope;
  /** --subnet, canonical CIDR; absent: pick one from the default pools. */
  pool?: string;
  /** --ip-range, canonical CIDR inside pool. */
  subPool?: string;
  /** --ipam-opt k=v. */
  options: Record<string, string>;
  /** For a pool of IPAM's choice: an IPv6 one. */
  v6: boolean;
}

export interface PoolGrant {
  /** Any string the backend recognises later (ReleasePool, RequestAddress). */
  poolId: string;
  /** Canonical CIDR. */
  pool: string;
  /** "addr/len": dockerd then asks for no gateway address unless --gateway was given. */
  gateway?: string;
  data?: Record<string, string>;
}

export interface AddressRequest {
  poolId: string;
  /** A specific address (bare): --gateway, an --aux-address or --ip. */
  address?: string;
  /** The network's gateway (RequestAddressType = com.docker.network.gateway). */
  gateway: boolean;
  /** Only when IPAM declares RequiresMACAddress (Switchyard's does not). */
  mac?: string;
  options: Record<string, string>;
}

export interface AddressGrant {
  /** "addr/len" (the pool's length). */
  address: string;
  data?: Record<string, string>;
}

type Maybe<T> = T | Promise<T>;

export interface DockerPluginBackend {
  createNetwork(req: DockerNetworkCreate): Maybe<void>;
  deleteNetwork(networkId: string): Maybe<void>;
  /** Returns the interface as the driver wants it; fields dockerd already set must come back unchanged (or absent). */
  createEndpoint(req: DockerEndpointCreate): Maybe<EndpointAddresses>;
  deleteEndpoint(networkId: string, endpointId: string): Maybe<void>;
  /** Operational data shown by dockerd (free form). */
  endpointInfo(networkId: string, endpointId: string): Maybe<Record<string, unknown>>;
  /** sandboxKey: the path of the sandbox's network namespace (<dockerd exec-root>/netns/<12 hex>). */
  join(networkId: string, endpointId: string, sandboxKey: string): Maybe<JoinResult>;
  leave(networkId: string, endpointId: string): Maybe<void>;
  /** Called when this endpoint becomes the container's gateway endpoint (not on --internal networks). */
  programExternalConnectivity(networkId: string, endpointId: string, c: ExternalConnectivity): Maybe<void>;
  revokeExternalConnectivity(networkId: string, endpointId: string): Maybe<void>;
  /** Cluster membership news (global plugin, dockerd with a cluster store or swarm). */
  discoverNode?(event: 'new' | 'delete', node: DiscoveredNode): Maybe<void>;

  requestPool(req: PoolRequest): Maybe<PoolGrant>;
  releasePool(poolId: string): Maybe<void>;
  requestAddress(req: AddressRequest): Maybe<AddressGrant>;
  /** address: bare. */
  releaseAddress(poolId: string, address: string): Maybe<void>;
}
