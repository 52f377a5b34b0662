/**
 * What the engine's entity rooms (networks.ts, endpoints.ts, sandboxes.ts) share: the
 * configuration, the kernel and the store, the state in memory, the gate that runs
 * mutations one at a time (or side by side where they cannot meet), the participants and the cluster seam, and the few steps every
 * room takes the same way (commit a record, run participants, render a sandbox's files).
 *
 * Memory never runs ahead of the disk: every commit writes the record first and only then
 * puts it in memory, so a failed write (disk full, read-only) leaves both as they were.
 */
import { step } from '../observe/steps.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord, State } from '../model/types.js';
import type { Kernel } from '../kernel/index.js';
import type { Store } from '../store/store.js';
import type { Underlay, DriverEnv } from '../drivers/contract.js';
import { lookup } from '../model/ids.js';
import { SandboxTable } from '../model/sandbox-table.js';
import { YardError } from '../errors.js';
import { renderHosts, renderResolvConf } from '../dns/sandbox-files.js';
import {
  liveView,
  viewAfter,
  viewBefore,
  type Change,
  type EngineLink,
  type Participant,
  type ParticipantContext,
  type StateView,
  type Undo,
} from './participants.js';
import type { PipelineContext } from './pipeline.js';
import { Gate, type SharedTurn } from './gate.js';

export interface EngineConfig {
  instance: string;
  stateDir: string;
  /** Upstream DNS servers for sandboxes (the daemon's --dns). */
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** The default bridge's subnet when it is first created (default 172.17.0.0/16). */
  defaultBridgeSubnet?: string;
  log?: (msg: string) => void;
}

/**
 * The seam to the cluster store for global-scope (overlay) networks; the overlay agent
 * (cluster/agent.ts) implements it. Without it, global networks are refused.
 */
export interface ClusterSeam {
  /** Check the network against the whole cluster (name, subnets), allocate its VNI and store it; fills net.driverState. */
  reserveNetwork(net: NetworkRecord): Promise<void>;
  /** Undo reserveNetwork after a later step failed. */
  releaseNetwork(net: NetworkRecord): Promise<void>;
  /** Refuse removal while any host still has endpoints on the network. */
  checkRemovable(net: NetworkRecord): Promise<void>;
  /** Allocate the endpoint's addresses in the cluster store (compare-and-swap); replaces the local pick. */
  claimAddresses(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Promise<void>;
  releaseAddresses(net: NetworkRecord, ep: EndpointRecord): Promise<void>;
  /** Networks a sandbox joins besides those asked for (the gateway bridge of overlay-only sandboxes). */
  extraNetworks?(nets: NetworkRecord[]): NetworkRecord[];
  /** The gateway bridge network those sandboxes join, if this host has one. */
  gatewayNetwork?(): NetworkRecord | undefined;
  /** Extra fields for network inspect (Docker's Peers). */
  inspectExtras?(net: NetworkRecord): Record<string, unknown>;
}

export class EngineCore {
  readonly state: State;
  readonly participants: Participant[] = [];
  cluster?: ClusterSeam;
  underlay: Underlay | null = null;
  /** Link kinds the kernel supports; the daemon probes them at start. */
  linkKinds: ReadonlySet<string> = new Set(['bridge', 'veth', 'macvlan', 'vxlan']);
  log: (msg: string) => void;
  /** What participants may use of the engine: never the engine itself. */
  readonly link: EngineLink;
  private readonly gate = new Gate();

  constructor(
    readonly cfg: EngineConfig,
    readonly kernel: Kernel,
    readonly store: Store,
    state?: State,
  ) {
    this.state = state ?? store.load();
    // The state's sandboxes, indexed by network (a state built by hand is a plain Map).
    if (!(this.state.sandboxes instanceof SandboxTable)) this.state.sandboxes = new SandboxTable(this.state.sandboxes);
    this.log = cfg.log ?? (() => {});
    this.link = {
      config: cfg,
      kernel: {
        apply: (plan) => kernel.apply(plan),
        applyBestEffort: (plan) => kernel.applyBestEffort(plan),
        readNamespace: (ns) => kernel.readNamespace(ns),
      },
      log: (msg) => this.log(msg),
      view: () => liveView(this.state),
      serial: (fn) => this.serial(fn),
    };
  }

  /** Run a mutation alone, in arrival order. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.gate.exclusive(fn);
  }

  /** Run a mutation beside others of its kind (see gate.ts); `turn` orders its parts that read or change the state. */
  shared<T>(fn: (s: SharedTurn) => Promise<T>): Promise<T> {
    return this.gate.shared(fn);
  }

  // ------------------------------------------------------------ lookups

  networks(): NetworkRecord[] {
    return [...this.state.networks.values()].filter((n) => !n.deleting);
  }
  sandboxes(): SandboxRecord[] {
    return [...this.state.sandboxes.values()].filter((s) => !s.deleting);
  }
  findNetwork(ref: string): NetworkRecord {
    return lookup('network', this.networks(), ref);
  }
  findSandbox(ref: string): SandboxRecord {
    return lookup('sandbox', this.sandboxes(), ref);
  }
  /** The state's sandboxes, with their per-network index. */
  get sandboxTable(): SandboxTable {
    return this.state.sandboxes as SandboxTable;
  }
  /** Sandboxes attached to a network, with their endpoints. */
  endpointsOf(networkId: string): { sb: SandboxRecord; ep: EndpointRecord }[] {
    const out: { sb: SandboxRecord; ep: EndpointRecord }[] = [];
    for (const sb of this.state.sandboxes.values()) {
      const ep = sb.endpoints[networkId];
      if (ep) out.push({ sb, ep });
    }
    return out;
  }
  /** The networks a sandbox is on. */
  networksOf(sb: SandboxRecord): NetworkRecord[] {
    return Object.values(sb.endpoints)
      .map((ep) => this.state.networks.get(ep.networkId))
      .filter((n): n is NetworkRecord => !!n);
  }

  // ------------------------------------------------------------ commits

  /** Write a network record, then (only then) make it the one in memory. */
  commitNetwork(net: NetworkRecord): void {
    this.store.putNetwork(net);
    this.rememberNetwork(net);
  }

  /** Make a written network record the one in memory. */
  rememberNetwork(net: NetworkRecord): void {
    this.state.networks.set(net.id, net);
  }

  /** Write a sandbox record, then (only then) make it the one in memory. */
  commitSandbox(next: SandboxRecord): void {
    this.store.putSandbox(next);
    this.rememberSandbox(next);
  }

  /** Make a written sandbox record the one in memory. */
  rememberSandbox(next: SandboxRecord): void {
    this.state.sandboxes.set(next.id, next);
  }

  // ------------------------------------------------------------ host facts

  /** Host facts a driver's planCreate needs (reconcile plans again with the same). */
  planEnv(): Pick<DriverEnv, 'instance' | 'underlay'> {
    return { instance: this.cfg.instance, underlay: this.underlay };
  }

  requireCluster(net: NetworkRecord): ClusterSeam {
    if (!this.cluster) {
      throw new YardError('CLUSTER_NOT_CONFIGURED', `network ${net.name} (driver ${net.driver}) is global and this daemon has no cluster store`, {
        field: '--cluster-store',
        hint: 'start the daemon with --cluster-store etcd://<host>:2379 --cluster-advertise <interface>',
      });
    }
    return this.cluster;
  }

  // ------------------------------------------------------------ participants

  private contextOf(change: Change): ParticipantContext {
    const before = viewBefore(liveView(this.state), change);
    return { ...this.link, before, after: viewAfter(before, change) };
  }

  /** The pipeline's view of the engine: kernel, log, participants. */
  get pipeline(): PipelineContext {
    return { kernel: this.kernel, log: this.log, validate: (c) => this.validateChange(c), apply: (c) => this.applyChange(c) };
  }

  private async validateChange(change: Change): Promise<void> {
    const ctx = this.contextOf(change);
    for (const p of this.participants) await p.validate?.(change, ctx);
  }

  /** Apply a change in every participant; on failure undo the ones applied and rethrow. */
  private async applyChange(change: Change): Promise<Undo[]> {
    const ctx = this.contextOf(change);
    const undos: Undo[] = [];
    try {
      for (const p of this.participants) {
        const u = await p.apply?.(change, ctx);
        step(`part:${p.name}`);
        if (u) undos.push(u);
      }
    } catch (e) {
      await runUndos(undos, this.log);
      throw e;
    }
    return undos;
  }

  /** Teardown side: every participant, errors logged, never stopping. */
  async applyRemoval(change: Change): Promise<void> {
    const ctx = this.contextOf(change);
    for (const p of this.participants) {
      try {
        await p.apply?.(change, ctx);
        step(`rmpart:${p.name}`);
      } catch (e) {
        this.log(`${p.name}: ${change.kind}: ${(e as Error).message}`);
      }
    }
  }

  // ------------------------------------------------------------ sandbox files

  /** resolv.conf and hosts of a sandbox, as its namespace's /etc/netns files. */
  sandboxFiles(sb: SandboxRecord, view: StateView = liveView(this.state)): Record<string, string> {
    const addresses = Object.values(sb.endpoints)
      .sort((a, b) => a.order - b.order)
      .flatMap((ep) => [ep.ipv4, ep.ipv6].filter((a): a is string => !!a).map((a) => a.split('/')[0]!));
    const fromParticipant = this.participants.map((p) => p.resolvConf?.(sb, view, this.cfg)).find((r) => r);
    return {
      'resolv.conf': renderResolvConf(
        fromParticipant ?? {
          nameservers: sb.dns.length ? sb.dns : this.cfg.dns,
          search: sb.dnsSearch.length ? sb.dnsSearch : this.cfg.dnsSearch,
          options: sb.dnsOptions.length ? sb.dnsOptions : this.cfg.dnsOptions,
        },
      ),
      hosts: renderHosts({ hostname: sb.hostname, name: sb.name, addresses, extraHosts: sb.extraHosts }),
    };
  }

  /**
   * A sandbox's resolv.conf and hosts rewritten for its record `sb` (after a change, or
   * beside its kernel work): a failure is logged (reconcile rewrites them), the change stands.
   */
  async rewriteFiles(netns: string, sb: SandboxRecord): Promise<void> {
    if (sb.runtime) return;
    try {
      await this.kernel.writeSandboxFiles(netns, this.sandboxFiles(sb));
    } catch (e) {
      this.log(`sandbox ${sb.name}: writing /etc/netns/${netns}: ${(e as Error).message}`);
    }
  }
}

export async function runUndos(undos: Undo[], log: (m: string) => void): Promise<void> {
  for (const u of [...undos].reverse()) {
    try {
      await u();
    } catch (e) {
      log(`undo failed: ${(e as Error).message}`);
    }
  }
}

/** A tombstoned record (removal started, not finished) by exact ID, ID prefix or name. */
export function lookupTombstone<T extends { id: string; name: string; deleting?: boolean }>(all: T[], ref: string): T | undefined {
  const dead = all.filter((r) => r.deleting);
  const byPrefix = dead.filter((r) => r.id.startsWith(ref));
  return dead.find((r) => r.id === ref) ?? dead.find((r) => r.name === ref) ?? (byPrefix.length === 1 ? byPrefix[0] : undefined);
}
