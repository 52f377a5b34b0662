/**
 * The facts `yard doctor` judges: what the state says (records) and what the kernel shows
 * (read by src/kernel/doctor-facts.ts in the daemon's namespace and in each sandbox's).
 * Plain data, so every check is a pure function over it and is unit-tested with made-up
 * facts. A fact that could not be read is null (or absent), and the check that needs it
 * says "not checked" instead of guessing.
 */
import type { NetworkRecord, SandboxRecord } from '../model/types.js';

/** A listening socket read from /proc/net/{tcp,tcp6,udp,udp6}. */
export interface Listener {
  proto: 'tcp' | 'udp';
  /** Bare address as written by the kernel: 0.0.0.0, ::, 127.0.0.1, 10.0.0.2 ... */
  addr: string;
  port: number;
}

/** One chain of any nftables table, as `nft -j list ruleset` shows it. */
export interface NftChain {
  family: string;
  table: string;
  name: string;
  /** Base chains only. */
  hook?: string;
  policy?: string;
  rules: number;
  /** Rule texts, read only for other tables' forward chains that drop by policy. */
  ruleTexts?: string[];
}

export interface NftFacts {
  chains: NftChain[];
  /** Element counts by `family table set` (sets and maps). */
  elements: Map<string, number>;
  /** Prefixes (`addr/len`) of `inet switchyard masq4` and `masq6`. */
  masquerade: string[];
  /** The user chain's rules with their handles; null when the chain is missing. */
  userRules: { handle: number; text: string }[] | null;
}

export interface HostFacts {
  /** net.ipv4.ip_forward in the daemon's namespace (null: unreadable). */
  ipForward: boolean | null;
  listeners: Listener[] | null;
  /** null: nft could not list the ruleset (not installed, no permission). */
  nft: NftFacts | null;
  /** Link names in the daemon's namespace. */
  links: string[] | null;
  /** net.core.netdev_max_backlog: packets a CPU queues for receiving (null: unreadable; absent: not read). */
  backlog?: number | null;
}

export interface SandboxLink {
  name: string;
  up: boolean;
  mtu: number;
  mac?: string;
  addrs: string[];
}

export interface SandboxRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** An address probed on the LAN (ARP duplicate address detection from the sandbox). */
export interface LanProbe {
  address: string;
  ifname: string;
  /** MACs that answered for the address (none: no duplicate); null: the probe could not run. */
  answeredBy: string[] | null;
  why?: string;
}

/** A full-size packet with DF set from the sandbox over an overlay, to a peer's sandbox address. */
export interface MtuProbe {
  network: string;
  peer: string;
  size: number;
  ok: boolean | null;
  why?: string;
}

export interface SandboxFacts {
  /** Whether the sandbox's namespace could be entered. */
  present: boolean;
  /** How a user enters it (`ip netns exec NS` or `nsenter --net=PATH`); null for the host's. */
  enter: string | null;
  links: SandboxLink[] | null;
  routes: SandboxRoute[] | null;
  listeners: Listener[] | null;
  /** resolv.conf as the sandbox sees it (null: not readable). */
  resolvConf: string | null;
  lan: LanProbe[];
  mtu: MtuProbe[];
  /**
   * What the host's other firewalls mean for each published port (the firewall room's port
   * explanation, by mapping index); absent when the daemon does not say.
   */
  hostFirewall?: { index: number; lines: string[]; reachable?: boolean }[];
}

/** What `--to` found when it tried the target from the sandbox. */
export interface TargetFacts {
  raw: string;
  host: string;
  port?: number;
  /** Addresses the target resolved to (a name), or the address itself. */
  addresses: string[];
  /** The resolver's explanation for a name (yard dns explain). */
  dns?: { source: string; rcode: string; records: string[]; reason: string; upstreams: string[] };
  /** Result of trying the target from inside the sandbox: TCP connect to address:port, else one ping. */
  attempt?: { address: string; ok: boolean; detail: string };
}

/** An overlay network as this host's cluster agent and VXLAN device see it. */
export interface OverlayFacts {
  network: string;
  vxlan: string;
  store: { url: string; connected: boolean };
  /** Endpoints on other hosts, as the cluster store lists them. */
  remotes: { sandbox: string; mac: string; vtep: string; address: string }[];
  /** The VXLAN device's forwarding entries, MAC -> remote VTEP (null: unreadable). */
  fdb: Map<string, string> | null;
}

export interface DoctorFacts {
  networks: ReadonlyMap<string, NetworkRecord>;
  sandboxes: ReadonlyMap<string, SandboxRecord>;
  host: HostFacts;
  /** By sandbox ID: facts of the sandboxes examined. */
  inside: Map<string, SandboxFacts>;
  /** Firewall elements the state explains, by `family table set`. */
  expectedElements: Map<string, number>;
  /** Rule counts of Switchyard's own chains as rendered, by `family table chain`. */
  expectedRules: Map<string, number>;
  target?: TargetFacts;
  /** Overlay networks (a daemon with a cluster store). */
  overlays?: OverlayFacts[];
}
