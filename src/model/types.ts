/**
 * The Container Network Model as Switchyard stores it: networks, sandboxes, and the
 * endpoints that attach one to the other. These records are the desired state; the kernel
 * is made to match them (see engine/reconcile). Everything here is plain JSON.
 */
import type { PoolConfig } from '../ipam/config.js';
import type { PortMapping } from './ports.js';
import type { DhcpLease } from '../ipam/dhcp.js';

export type Scope = 'local' | 'global' | 'swarm';

export interface NetworkRecord {
  /** 64 lowercase hex characters. */
  id: string;
  name: string;
  driver: string;
  scope: Scope;
  /** RFC 3339 with nanoseconds, as Docker prints it. */
  created: string;
  internal: boolean;
  attachable: boolean;
  ipv6: boolean;
  /** `options` is null when the request gave none at all (Docker's inspect then shows null). */
  ipam: { driver: string; options: Record<string, string> | null; config: PoolConfig[] };
  /** Driver options as the user gave them (`-o key=value`). */
  options: Record<string, string>;
  labels: Record<string, string>;
  /** Facts the driver decided at create time and must keep (bridge name, MTU, ...). */
  driverState: Record<string, string | number | boolean>;
  /** bridge, host and none: created by the daemon, never removable. */
  predefined?: boolean;
  /**
   * Docker's --config-only: the network only holds IPAM and driver options for networks
   * created `--config-from` it. It has no kernel objects and no endpoints (driver `null`).
   */
  configOnly?: boolean;
  /** Docker's --config-from: the name of the config-only network whose IPAM and options this one took. */
  configFrom?: string;
  /** Tombstone: removal started; a restart finishes it. */
  deleting?: boolean;
}

export interface EndpointRecord {
  id: string;
  networkId: string;
  /** Interface name inside the sandbox (eth0, eth1, ...); empty for host/none. */
  ifname: string;
  /** Host-side interface (veth peer), when the driver has one. */
  hostIfname?: string;
  mac?: string;
  /** "a.b.c.d/len" */
  ipv4?: string;
  /** "x::y/len" */
  ipv6?: string;
  /** Set when the user asked for the address (--ip/--ip6): kept across reconnects. */
  requestedIpv4?: string;
  requestedIpv6?: string;
  aliases: string[];
  /**
   * Docker's legacy links on a user-defined network (`--link NAME[:ALIAS]`), as given: the
   * sandbox alone resolves ALIAS to NAME's addresses on this network.
   */
  links?: string[];
  /** Docker's EndpointConfig.DriverOpts (`--driver-opt key=value`), as given. */
  driverOpts?: Record<string, string>;
  /** Order in which the sandbox joined its networks; the lowest usable one gives the default route. */
  order: number;
  /** Driver-specific facts for this endpoint (e.g. which gateway it programmed). */
  driverState?: Record<string, string | number | boolean>;
  /** The DHCP lease the address came from (`--ipam-driver dhcp`): server, times, gateway, DNS. */
  lease?: DhcpLease;
}

/** Environment variable that marks a process started for a sandbox; its value is the sandbox ID. */
export const SANDBOX_ENV = 'YARD_SANDBOX';

export type SandboxStatus = 'created' | 'running' | 'exited';

/**
 * A sandbox whose namespace a container runtime owns (Docker through the network plugin).
 * Switchyard joins it to networks and leaves them, but never creates or deletes the
 * namespace and never runs or stops a process in it.
 */
export interface RuntimeOwner {
  /** The runtime: 'docker' (the network plugin), 'cni' (a CNI runtime), 'netavark' (Podman). */
  kind: 'docker' | 'cni' | 'netavark';
  /**
   * How interfaces reach the namespace. 'handover': each endpoint's interface is made in
   * the daemon's namespace (named `yc<12 hex>`) with the host side in place; the runtime
   * moves it into its namespace and sets its addresses and routes (Docker's Join).
   * 'configure': the runtime's namespace (`path`) is attached under the sandbox's own
   * name (`netns`, a bind mount) and Switchyard makes and configures the interfaces in it
   * as for its own sandboxes (CNI, netavark).
   */
  mode: 'handover' | 'configure';
  /**
   * The runtime's namespace file: Docker's SandboxKey while joined (absent before Join and
   * after Leave); always set in 'configure' mode.
   */
  path?: string;
  /** The runtime's container ID, when it tells it. */
  container?: string;
  /**
   * Where the daemon opened `path` to attach it, when the runtime sees `path` in a mount
   * namespace of its own (`/proc/<pid>/root<path>` of the runtime's process, good only while
   * that process runs: see runtimeNamespace). Such a path is not watched: the runtime
   * releases the sandbox itself (netavark teardown, CNI DEL or GC).
   */
  source?: string;
}

export interface SandboxRecord {
  id: string;
  name: string;
  created: string;
  /** Named network namespace (under /run/netns), or null for --network host. */
  netns: string | null;
  hostname: string;
  command: string[];
  detached: boolean;
  status: SandboxStatus;
  pid?: number;
  /** /proc/<pid>/stat start time: tells our process from a later one that reused the PID. */
  pidStart?: string;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** Upstream DNS servers for this sandbox (--dns), search domains and options. */
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** --add-host entries, "name:ip" with host-gateway already resolved at run time. */
  extraHosts: string[];
  labels: Record<string, string>;
  /** Keyed by network ID. */
  endpoints: Record<string, EndpointRecord>;
  /** Published ports (-p), host ports already chosen; the firewall room renders them. */
  ports?: PortMapping[];
  /** Set when a container runtime owns the namespace (see RuntimeOwner); netns is then null. */
  runtime?: RuntimeOwner;
  /** Tombstone: removal started; a restart finishes it. */
  deleting?: boolean;
}

export interface State {
  networks: Map<string, NetworkRecord>;
  sandboxes: Map<string, SandboxRecord>;
}
