/**
 * The driver contract. A driver decides, validates and plans; it never touches the kernel
 * (it returns plans, see plan/ops.ts) and never writes state (the engine does). The engine
 * calls, in order:
 *
 *   network create:  prepareNetwork (validate options, decide names)  -> IPAM -> planCreate
 *   network remove:  planDelete
 *   connect:         checkJoin -> IPAM -> planJoin (+ planGatewayRoutes if it becomes the gateway)
 *   disconnect:      planLeave
 *   reconcile:       planCreate / planJoin again, minus what the kernel already has
 *
 * so macvlan, ipvlan and overlay fit without engine changes: they differ only in what
 * links their plans create and in the options they accept.
 */
import type { SubnetRequest } from '../ipam/config.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { ipv6Op, type Plan } from '../plan/ops.js';
import { YardError } from '../errors.js';

export interface NetworkIntent {
  name: string;
  driver: string;
  options: Record<string, string>;
  internal: boolean;
  attachable: boolean;
  ipv6: boolean;
  labels: Record<string, string>;
  ipam: SubnetRequest[];
  /** The daemon's own default bridge (created at first start). */
  isDefaultBridge?: boolean;
}

export interface DriverEnv {
  /** Daemon instance name: part of every ownership mark. */
  instance: string;
  /** Networks that already exist (for name clashes, parents in use, ...). */
  networks: readonly NetworkRecord[];
  /** Links that exist in the daemon's namespace right now, by name. */
  hostLinks: ReadonlyMap<string, HostLink>;
  /** Link kinds the kernel can create (probed at daemon start: macvlan, ipvlan, vlan, ...). */
  linkKinds: ReadonlySet<string>;
  /** This host's VXLAN underlay (the daemon's --cluster-advertise, resolved); absent without a cluster store. */
  underlay?: Underlay | null;
}

/** The address and interface this host's VXLAN tunnels leave from, and its MTU. */
export interface Underlay {
  /** The VTEP address: this host's address on the advertise interface. */
  local: string;
  dev: string;
  mtu: number;
}

export interface HostLink {
  alias?: string;
  kind?: string;
  /** Link-layer address as `ip` shows it (absent for links without one, e.g. tun). */
  mac?: string;
  /** "addr/len", link-local excluded. */
  addrs: string[];
}

export interface PreparedNetwork {
  driverState: Record<string, string | number | boolean>;
  /** Whether IPAM must pick a gateway for each subnet (bridge: yes; host/none: no). */
  needsGateway: boolean;
  /** Whether the network has addresses at all (host/none: no). */
  hasIpam: boolean;
  warnings: string[];
  /**
   * Whether the host's own routes count as taken subnets. Bridge networks: yes (a bridge
   * subnet that overlaps a routed one breaks the host's routing). macvlan/ipvlan: no —
   * their subnet is usually the LAN's own, routed on the parent; only other networks'
   * subnets conflict (Docker's rule).
   */
  ignoreHostRoutes?: boolean;
}

/** How sandboxes relate to the driver's networks. */
export type AttachKind =
  /** The sandbox gets its own namespace and an interface on this network. */
  | 'interface'
  /** The sandbox runs in the daemon's namespace (Docker's host network). */
  | 'host'
  /** The sandbox gets its own namespace with only `lo` (Docker's none network). */
  | 'isolated';

export interface NetworkDriver {
  readonly name: string;
  readonly attach: AttachKind;
  /** Docker's scope for networks of this driver. */
  readonly scope: 'local' | 'global' | 'swarm';
  /** Option keys the driver understands; anything else is refused with UNKNOWN_OPTION. */
  readonly optionKeys: readonly string[];

  /**
   * The host links prepareNetwork and finishNetwork look at for this intent: only these are
   * read from the kernel into `env.hostLinks` (absent: every link of the daemon's namespace).
   */
  hostLinksRead?(intent: NetworkIntent): readonly string[];
  prepareNetwork(intent: NetworkIntent, env: DriverEnv): PreparedNetwork;
  /**
   * After IPAM, before the plan: decide what depends on the subnets (e.g. the address of
   * macvlan's host shim, which must then be reserved as an aux address in net.ipam).
   */
  finishNetwork?(net: NetworkRecord, env: DriverEnv): void;
  planCreate(net: NetworkRecord, env: Pick<DriverEnv, 'instance' | 'underlay'>): Plan;
  planDelete(net: NetworkRecord): Plan;
  /** Refuse a join before anything is allocated (e.g. a full bridge). */
  checkJoin?(net: NetworkRecord, endpointsOnNetwork: number): void;
  planJoin(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan;
  planLeave(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan;
  /** Default routes this endpoint gives its sandbox when it is the gateway endpoint; [] if none. */
  planGatewayRoutes(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan;
  /** Names of host-namespace links this network owns (for inspect and leftover checks). */
  hostLinksOf(net: NetworkRecord): string[];
}

/** The ifalias that marks a link as Switchyard's: `switchyard:<instance>:<network id>`. */
export function ownerMark(instance: string, networkId: string): string {
  return `switchyard:${instance}:${networkId}`;
}

/** Docker's booleans (Go's strconv.ParseBool): exactly these spellings. */
const TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True'];
const FALSE = ['0', 'f', 'F', 'FALSE', 'false', 'False'];

export function parseBoolOption(key: string, value: string): boolean {
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new YardError('INVALID_ARGUMENT', `-o ${key}=${value === '' ? '""' : value} is not a boolean`, { field: `-o ${key}`, hint: 'use true or false (or 1/0)' });
}

/** Longest option value accepted (the longest real one, a VNI list, stays far below). */
export const MAX_OPTION_VALUE = 4096;
// Control characters (C0, DEL): never part of an option value.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Refuse option keys the driver does not know, naming the ones it does. */
export function checkOptionKeys(driver: NetworkDriver, options: Record<string, string>): void {
  for (const [key, value] of Object.entries(options)) {
    if (typeof value !== 'string' || value.length > MAX_OPTION_VALUE || CONTROL.test(value)) {
      throw new YardError('INVALID_ARGUMENT', `-o ${key}: the value ${JSON.stringify(String(value).slice(0, 40))} is longer than ${MAX_OPTION_VALUE} characters or has control characters`, {
        field: `-o ${key}`,
        hint: 'give a plain value on one line',
      });
    }
    if (!driver.optionKeys.includes(key)) {
      throw new YardError('UNKNOWN_OPTION', `driver ${driver.name} has no option ${key}`, {
        field: `-o ${key}`,
        hint: driver.optionKeys.length ? `known options: ${driver.optionKeys.join(', ')}` : `the ${driver.name} driver takes no options`,
      });
    }
  }
}

const IFNAME_RE = /^[a-zA-Z0-9_.-]+$/;
/** Names the kernel keeps for itself (/proc/sys/net/ipv4/conf/all and .../default): no link may take them. */
const RESERVED_IFNAMES = ['all', 'default'];
/** A kernel interface name: at most 15 characters (IFNAMSIZ - 1), no slash, blank or colon, not . .. all default. */
export function checkIfname(field: string, name: string): void {
  if (RESERVED_IFNAMES.includes(name)) {
    throw new YardError('INVALID_ARGUMENT', `${field} ${name} is a name the kernel reserves (/proc/sys/net/ipv4/conf/${name})`, {
      field,
      hint: 'pick another interface name',
    });
  }
  if (name.length > 15) {
    throw new YardError('NAME_TOO_LONG', `${field} ${name} is ${name.length} characters long; the kernel allows 15 (IFNAMSIZ)`, {
      field,
      hint: 'pick a name of at most 15 characters',
    });
  }
  if (!IFNAME_RE.test(name) || name === '.' || name === '..') {
    throw new YardError('INVALID_ARGUMENT', `${field} ${name} is not a valid interface name`, {
      field,
      hint: 'use letters, digits, "_", "." and "-"',
    });
  }
}

export function parseMtuOption(key: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 68 || n > 65535) {
    throw new YardError('INVALID_ARGUMENT', `-o ${key}=${value} is not a valid MTU`, { field: `-o ${key}`, hint: 'use a number from 68 to 65535' });
  }
  return n;
}

/** Default routes via each subnet's gateway, for the families the endpoint has (bridge, macvlan, ipvlan l2). */
export function gatewayRoutesViaPools(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan {
  if (net.internal) return [];
  const ns = sb.netns ?? undefined;
  const plan: Plan = [];
  for (const pool of net.ipam.config) {
    if (!pool.gateway) continue;
    const v6 = pool.subnet.includes(':');
    if ((v6 && !ep.ipv6) || (!v6 && !ep.ipv4)) continue;
    plan.push({ op: 'route.add', ns, dst: 'default', via: pool.gateway, dev: ep.ifname });
  }
  return plan;
}

/** Addresses and link-up for an endpoint's interface inside its sandbox. */
export function planEndpointAddresses(sb: SandboxRecord, ep: EndpointRecord): Plan {
  const ns = sb.netns ?? undefined;
  const plan: Plan = [];
  // An endpoint without an IPv6 address has no IPv6 at all, as Docker's (no link-local
  // address, DAD, MLD reports or addresses from router advertisements). In a namespace of
  // ours IPv6 is off by default (ipv6OffByDefaultOp) and an IPv6 endpoint turns it on; a
  // runtime's namespace keeps its own default, so there it is turned off per interface.
  if (ns && sb.runtime && !ep.ipv6) plan.push(ipv6Op(ns, ep.ifname, false));
  if (ns && !sb.runtime && ep.ipv6) plan.push(ipv6Op(ns, ep.ifname, true));
  if (ep.ipv4) plan.push({ op: 'addr.add', ns, dev: ep.ifname, cidr: ep.ipv4 });
  if (ep.ipv6) plan.push({ op: 'addr.add', ns, dev: ep.ifname, cidr: ep.ipv6 });
  plan.push({ op: 'link.set', ns, name: ep.ifname, up: true });
  return plan;
}

/** A stable, locally administered MAC for a network's own link (02:59:... from its ID; endpoints use 02:42:<IPv4>). */
export function macFromId(id: string): string {
  return ['02', '59', ...(id.slice(0, 8).match(/../g) ?? [])].join(':');
}
