/**
 * Docker's plugin protocol for network drivers ("remote" drivers) and IPAM drivers, as
 * dockerd 20.10's libnetwork speaks it: every call is an HTTP POST to `/<Interface>.<Method>`
 * with a JSON body (empty for Plugin.Activate and the capability calls), answered with JSON.
 * Pure: the request schemas (zod, field names exactly as Docker sends them) and the
 * response shapes. The backend they lead to is in backend.ts, the translation in translate.ts.
 *
 * Errors, as libnetwork's plugin client reads them:
 *   - HTTP 200 with `{"Err": "..."}` (network driver) or `{"Error": "..."}` (IPAM driver):
 *     the call failed; dockerd reports `remote: <message>` (the CLI prints it).
 *   - any other status: dockerd reports `<Interface.Method>: <Err>`, reading `Err` from the
 *     body. Used for requests that cannot be decoded (400) or are too large (413).
 *   - 404: "this method is not implemented"; dockerd ignores it for
 *     ProgramExternalConnectivity and RevokeExternalConnectivity, so no failure answers 404.
 */
import type { z as zt } from 'zod';
import { zod } from '../model/zod.js';

/** Loaded with this module (which loads on demand): see model/zod.ts. */
const z = zod();

/** What dockerd sends as Accept (no Content-Type at all); we answer with it. */
export const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export const NETWORK_DRIVER = 'NetworkDriver';
export const IPAM_DRIVER = 'IpamDriver';

/** libnetwork's option keys (its `netlabel` package), as they appear in request maps. */
export const LABEL = {
  /** CreateNetwork Options: the `-o key=value` map of `docker network create`. */
  generic: 'com.docker.network.generic',
  /** CreateNetwork Options: `--ipv6` (a JSON boolean, always sent). */
  enableIPv6: 'com.docker.network.enable_ipv6',
  /** CreateNetwork Options: `--internal` (a JSON boolean, only sent when true). */
  internal: 'com.docker.network.internal',
  /** CreateEndpoint / Join / ProgramExternalConnectivity Options: the `-p` bindings. */
  portMap: 'com.docker.network.portmap',
  /** Same maps: the exposed ports (`EXPOSE`, `--expose`, and every `-p` container port). */
  exposedPorts: 'com.docker.network.endpoint.exposedports',
  /** CreateEndpoint Options: `--mac-address` (bytes, base64: the string form is Interface.MacAddress); IPAM RequestAddress Options: the MAC as text. */
  macAddress: 'com.docker.network.endpoint.macaddress',
  /** CreateEndpoint Options: the container's `--dns` servers (or the daemon's). */
  dnsServers: 'com.docker.network.endpoint.dnsservers',
  /** IPAM: RequestAddress Options value of RequestAddressType for the gateway; RequestPool Data key for a gateway chosen by IPAM. */
  gateway: 'com.docker.network.gateway',
  /** IPAM RequestAddress Options key. */
  requestAddressType: 'RequestAddressType',
} as const;

/** libnetwork's transport protocol numbers (types.Protocol). */
export const PROTO_NUMBERS = { tcp: 6, udp: 17, sctp: 132 } as const;

/** Docker's `null` for an optional field is the field left out. */
const opt = <T extends zt.ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);
const strMap = z.record(z.string(), z.string());
const anyMap = z.record(z.string(), z.unknown());

/**
 * Network and endpoint IDs: dockerd sends 64 hex digits (swarm's are 25 letters and
 * digits). Only letters and digits are accepted, so an ID can name a file or a link.
 */
const ID_RE = /^[A-Za-z0-9]{1,64}$/;
const objectId = (field: string) =>
  z.string({ error: `${field} is required (a string)` }).regex(ID_RE, `${field} must be 1 to 64 letters and digits (Docker sends 64 hex digits)`);

/** IPAM pool IDs are ours (the backend's); anything printable, bounded. */
const poolId = z.string({ error: 'PoolID is required (a string)' }).min(1, 'PoolID is empty').max(256, 'PoolID is longer than 256 characters').regex(/^[^\u0000-\u001f\u007f]*$/, 'PoolID has control characters');

// ------------------------------------------------------------------ NetworkDriver

/** One pool of a network, as libnetwork's IPAMData: Pool, Gateway and aux addresses in CIDR form ("172.18.0.1/16"). */
export const IpamDataSchema = z.object({
  AddressSpace: opt(z.string()),
  Pool: z.string({ error: 'Pool is required (a CIDR string)' }),
  Gateway: opt(z.string()),
  AuxAddresses: opt(strMap),
});
export type IpamData = zt.infer<typeof IpamDataSchema>;

export const CreateNetworkRequestSchema = z.object({
  NetworkID: objectId('NetworkID'),
  Options: opt(anyMap),
  IPv4Data: opt(z.array(IpamDataSchema)),
  IPv6Data: opt(z.array(IpamDataSchema)),
});

export const NetworkRefSchema = z.object({ NetworkID: objectId('NetworkID') });

export const EndpointRefSchema = z.object({ NetworkID: objectId('NetworkID'), EndpointID: objectId('EndpointID') });

export const EndpointInterfaceSchema = z.object({
  Address: opt(z.string()),
  AddressIPv6: opt(z.string()),
  MacAddress: opt(z.string()),
});

export const CreateEndpointRequestSchema = z.object({
  NetworkID: objectId('NetworkID'),
  EndpointID: objectId('EndpointID'),
  Interface: opt(EndpointInterfaceSchema),
  Options: opt(anyMap),
});

export const JoinRequestSchema = z.object({
  NetworkID: objectId('NetworkID'),
  EndpointID: objectId('EndpointID'),
  SandboxKey: z
    .string({ error: 'SandboxKey is required (the path of the sandbox\'s network namespace)' })
    .regex(/^\/[^\u0000-\u001f\u007f]{0,4095}$/, 'SandboxKey must be an absolute path without control characters'),
  Options: opt(anyMap),
});

export const ProgramExternalConnectivityRequestSchema = z.object({
  NetworkID: objectId('NetworkID'),
  EndpointID: objectId('EndpointID'),
  Options: opt(anyMap),
});

export const DiscoveryNotificationSchema = z.object({
  DiscoveryType: z.number({ error: 'DiscoveryType is required (a number)' }).int('DiscoveryType must be an integer'),
  DiscoveryData: z.unknown(),
});

/** DiscoveryType 1: a node of the cluster appeared or left. */
export const NodeDiscoveryDataSchema = z.object({
  Address: opt(z.string()),
  BindAddress: opt(z.string()),
  Self: opt(z.boolean()),
});
export const NODE_DISCOVERY = 1;

/** Swarm managers only (AllocateNetwork/FreeNetwork). */
export const AllocateNetworkRequestSchema = z.object({
  NetworkID: objectId('NetworkID'),
  Options: opt(strMap),
  IPv4Data: opt(z.array(IpamDataSchema)),
  IPv6Data: opt(z.array(IpamDataSchema)),
});

// ------------------------------------------------------------------ IpamDriver

export const RequestPoolRequestSchema = z.object({
  AddressSpace: z.string({ error: 'AddressSpace is required (a string)' }),
  Pool: opt(z.string()),
  SubPool: opt(z.string()),
  Options: opt(strMap),
  V6: opt(z.boolean()),
});

export const ReleasePoolRequestSchema = z.object({ PoolID: poolId });

export const RequestAddressRequestSchema = z.object({
  PoolID: poolId,
  Address: opt(z.string()),
  Options: opt(strMap),
});

export const ReleaseAddressRequestSchema = z.object({
  PoolID: poolId,
  Address: z.string({ error: 'Address is required (an IP address)' }),
});

// ------------------------------------------------------------------ responses

export interface ActivateResponse {
  Implements: string[];
}

export interface CapabilitiesResponse {
  /** Where the network's state lives: this host ("local") or the cluster store ("global"). */
  Scope: 'local' | 'global';
  /** Where its endpoints can reach: this host or the cluster. */
  ConnectivityScope: 'local' | 'global';
}

export interface EndpointInterface {
  Address?: string;
  AddressIPv6?: string;
  MacAddress?: string;
}

export interface CreateEndpointResponse {
  /** Only the fields dockerd did not send: it refuses a driver that changes an address it gave. */
  Interface?: EndpointInterface;
}

export interface StaticRouteWire {
  Destination: string;
  /** 0: via NextHop; 1: connected (on-link, no NextHop). */
  RouteType: 0 | 1;
  NextHop?: string;
}

export interface JoinResponse {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes?: StaticRouteWire[];
  DisableGatewayService?: boolean;
}

export interface EndpointOperInfoResponse {
  Value: Record<string, unknown>;
}

export interface IpamCapabilitiesResponse {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}

export interface AddressSpacesResponse {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}

export interface RequestAddressResponse {
  Address: string;
  Data: Record<string, string>;
}

/** A network driver call that failed (HTTP 200). */
export interface NetworkErrorResponse {
  Err: string;
}

/** An IPAM call that failed (HTTP 200): libnetwork's IPAM client reads `Error`; `Err` is there for the non-200 path. */
export interface IpamErrorResponse {
  Error: string;
  Err: string;
}
