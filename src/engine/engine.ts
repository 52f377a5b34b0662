/**
 * The use cases. Each mutating operation runs alone (one queue) and in four steps:
 *   validate (everything, before the first kernel call) -> plan -> apply -> commit.
 * If apply fails, the kernel layer has already undone what it applied; if commit fails,
 * the engine undoes the plan. Removal writes a tombstone first, so a crash mid-removal is
 * finished by the next start (see reconcile.ts).
 */
import path from 'node:path';
import fs from 'node:fs';
import { YardError } from '../errors.js';
import { allocateAddress, macFromIPv4 } from '../ipam/allocator.js';
import { planIpam, type SubnetRequest, type UsedSubnet } from '../ipam/config.js';
import { lookup, newId, nowRfc3339Nano, shortId, validateName } from '../model/ids.js';
import { SANDBOX_ENV, type EndpointRecord, type NetworkRecord, type SandboxRecord, type State } from '../model/types.js';
import { getDriver } from '../drivers/index.js';
import { checkOptionKeys, type DriverEnv, type NetworkIntent, type Underlay } from '../drivers/contract.js';
import { renderPlan, type Plan } from '../plan/ops.js';
import type { Kernel, RouteState } from '../kernel/index.js';
import type { Store } from '../store/store.js';
import { renderHosts, renderResolvConf } from '../dns/sandbox-files.js';
import { randomName } from '../model/names.js';
import { parsePortSpecs } from '../model/ports.js';
import { validateAliases, validateLabels, validateSandboxInput } from '../model/validate.js';
import { sandboxNetnsPrefix } from '../paths.js';
import type { Change, Participant, Undo } from './participants.js';
import { runChange, type ChangeContext } from './pipeline.js';
import { writeError } from '../store/store.js';

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

export interface NetworkCreateRequest {
  name: string;
  driver?: string;
  options?: Record<string, string>;
  internal?: boolean;
  attachable?: boolean;
  ipv6?: boolean;
  labels?: Record<string, string>;
  ipam?: SubnetRequest[];
  /** Print the plan instead of applying it. */
  dryRun?: boolean;
}

export interface AttachRequest {
  network: string;
  ip?: string;
  ip6?: string;
  aliases?: string[];
}

export interface SandboxCreateRequest {
  name?: string;
  hostname?: string;
  networks?: AttachRequest[];
  command?: string[];
  detached?: boolean;
  /** false: create the sandbox but let the caller run the process (foreground `yard run`). */
  start?: boolean;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  extraHosts?: string[];
  labels?: Record<string, string>;
  env?: Record<string, string>;
  /** Published ports, Docker's -p syntax; conflicts are checked by the firewall participant. */
  publish?: string[];
  dryRun?: boolean;
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

export class Engine {
  /** Set by the daemon when it runs with --cluster-store. */
  cluster?: ClusterSeam;
  readonly state: State;
  private queue: Promise<unknown> = Promise.resolve();
  private underlay: Underlay | null = null;
  readonly log: (msg: string) => void;
  readonly participants: Participant[] = [];
  /** Link kinds the kernel supports; the daemon probes them at start. */
  linkKinds: ReadonlySet<string> = new Set(['bridge', 'veth', 'macvlan', 'vxlan']);

  constructor(
    readonly cfg: EngineConfig,
    readonly kernel: Kernel,
    readonly store: Store,
    state?: State,
  ) {
    this.state = state ?? store.load();
    this.log = cfg.log ?? (() => {});
  }

  /** Run mutations one at a time, in arrival order. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  addParticipant(p: Participant): void {
    this.participants.push(p);
  }

  private async validateChange(change: Change): Promise<void> {
    for (const p of this.participants) await p.validate?.(change, this);
  }

  /** Apply a change in every participant; on failure undo the ones applied and rethrow. */
  private async applyChange(change: Change): Promise<Undo[]> {
    const undos: Undo[] = [];
    try {
      for (const p of this.participants) {
        const u = await p.apply?.(change, this);
        if (u) undos.push(u);
      }
    } catch (e) {
      await runUndos(undos, this.log);
      throw e;
    }
    return undos;
  }

  /** Teardown side: every participant, errors logged, never stopping. */
  private async applyRemoval(change: Change): Promise<void> {
    for (const p of this.participants) {
      try {
        await p.apply?.(change, this);
      } catch (e) {
        this.log(`${p.name}: ${change.kind}: ${(e as Error).message}`);
      }
    }
  }

  // ---------------------------------------------------------------- lookups

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

  /** Sandboxes attached to a network, with their endpoints. */
  endpointsOf(networkId: string): { sb: SandboxRecord; ep: EndpointRecord }[] {
    const out: { sb: SandboxRecord; ep: EndpointRecord }[] = [];
    for (const sb of this.state.sandboxes.values()) {
      const ep = sb.endpoints[networkId];
      if (ep) out.push({ sb, ep });
    }
    return out;
  }

  // ---------------------------------------------------------------- networks

  createNetwork(req: NetworkCreateRequest, opts: { predefined?: boolean; isDefaultBridge?: boolean } = {}) {
    return this.serial(async () => {
      const { net, warnings } = await this.validateNetwork(req, opts);
      const global = net.scope === 'global';
      const plan = await runChange(this.pipeline, {
        change: { kind: 'network.create', net },
        what: `creating network ${net.name}`,
        dryRun: req.dryRun,
        // The cluster store checks the name and subnets cluster-wide and allocates the VNI.
        reserve: async () => {
          if (global) await this.requireCluster(net).reserveNetwork(net);
        },
        release: async () => {
          if (global) await this.cluster?.releaseNetwork(net).catch((e) => this.log(`release ${net.name}: ${(e as Error).message}`));
        },
        plan: () => getDriver(net.driver).planCreate(net, this.planEnv()),
        commit: () => this.commitNetwork(net),
      });
      if (!req.dryRun) this.log(`network ${net.name} (${shortId(net.id)}) created`);
      return { net, plan: renderPlan(plan), warnings };
    });
  }

  /** Write a network record, then (only then) make it the one in memory. */
  private commitNetwork(net: NetworkRecord): void {
    this.store.putNetwork(net);
    this.state.networks.set(net.id, net);
  }

  /** The pipeline's view of the engine: kernel, log, participants. */
  private get pipeline(): ChangeContext {
    return { kernel: this.kernel, log: this.log, validate: (c) => this.validateChange(c), apply: (c) => this.applyChange(c) };
  }

  private async validateNetwork(req: NetworkCreateRequest, opts: { predefined?: boolean; isDefaultBridge?: boolean }) {
    const name = validateName('network', req.name);
    const driverName = req.driver || 'bridge';
    if (!opts.predefined && ['bridge', 'host', 'none'].includes(name)) {
      throw new YardError('NETWORK_PREDEFINED', `${name} is a pre-defined network and cannot be created`, {
        field: 'name',
        hint: 'pick another name',
      });
    }
    if (this.networks().some((n) => n.name === name)) {
      throw new YardError('NETWORK_EXISTS', `network with name ${name} already exists`, { field: 'name', hint: 'pick another name, or remove the existing network first' });
    }
    const driver = getDriver(driverName);
    const options = { ...(req.options ?? {}) };
    checkOptionKeys(driver, options);
    const intent: NetworkIntent = {
      name,
      driver: driverName,
      options,
      internal: !!req.internal,
      attachable: !!req.attachable,
      ipv6: !!req.ipv6,
      labels: validateLabels(req.labels),
      ipam: req.ipam ?? [],
      isDefaultBridge: opts.isDefaultBridge,
    };
    // Both kernel reads at once: each is an `ip` spawn.
    const [env, routes] = await Promise.all([this.driverEnv(), this.kernel.readRoutes()]);
    const prepared = opts.predefined && driver.attach !== 'interface'
      ? { driverState: {}, needsGateway: false, hasIpam: false, warnings: [] }
      : driver.prepareNetwork(intent, env);
    if (!prepared.hasIpam && intent.ipam.length) {
      throw new YardError('INVALID_ARGUMENT', `the ${driverName} driver has no addresses`, { field: '--subnet', hint: 'omit --subnet/--gateway/--ip-range' });
    }
    const pools = prepared.hasIpam
      ? planIpam(
          { networkName: name, configs: intent.ipam, enableIPv6: intent.ipv6, needsGateway: prepared.needsGateway },
          { used: this.usedSubnets(prepared.ignoreHostRoutes ? [] : routes) },
        )
      : [];
    const id = newId();
    const net: NetworkRecord = {
      id,
      name,
      driver: driverName,
      scope: driver.scope,
      created: nowRfc3339Nano(),
      internal: intent.internal,
      attachable: intent.attachable,
      ipv6: intent.ipv6,
      ipam: { driver: 'default', options: {}, config: pools },
      options,
      labels: intent.labels,
      driverState: prepared.driverState,
      ...(opts.predefined ? { predefined: true } : {}),
    };
    if (driver.attach === 'interface' && driverName === 'bridge' && !net.driverState.bridge) net.driverState.bridge = `br-${id.slice(0, 12)}`;
    driver.finishNetwork?.(net, env);
    if (net.scope === 'global') this.requireCluster(net);
    return { net, warnings: prepared.warnings };
  }

  /** Host facts a driver's planCreate needs (reconcile plans again with the same). */
  planEnv(): Pick<DriverEnv, 'instance' | 'underlay'> {
    return { instance: this.cfg.instance, underlay: this.underlay };
  }

  /** This host's VXLAN underlay, once the cluster agent has resolved --cluster-advertise. */
  setUnderlay(u: Underlay | null): void {
    this.underlay = u;
  }

  private async driverEnv(): Promise<DriverEnv> {
    const host = await this.kernel.readNamespace();
    return {
      instance: this.cfg.instance,
      networks: this.networks(),
      hostLinks: new Map([...host.links.values()].map((l) => [l.name, { alias: l.alias, kind: l.kind, mac: l.mac, addrs: l.addrs }])),
      linkKinds: this.linkKinds,
      underlay: this.underlay,
    };
  }

  /** Subnets taken: other networks', and routes in the daemon's namespace not made by us. */
  private usedSubnets(routes: RouteState[]): UsedSubnet[] {
    const used: UsedSubnet[] = [];
    const ours = new Set<string>();
    for (const n of this.networks()) {
      for (const p of n.ipam.config) used.push({ prefix: p.subnet, owner: `network ${n.name}` });
      for (const l of getDriver(n.driver).hostLinksOf(n)) ours.add(l);
    }
    for (const r of routes) {
      if (r.dst === 'default' || !r.dst.includes('/') || (r.dev && ours.has(r.dev))) continue;
      if (r.dst.startsWith('fe80:') || r.dst.startsWith('ff00:') || r.dst.startsWith('multicast')) continue;
      used.push({ prefix: r.dst, owner: `a route on the host${r.dev ? ` (dev ${r.dev})` : ''}` });
    }
    return used;
  }

  removeNetwork(ref: string) {
    return this.serial(async () => {
      let net: NetworkRecord;
      try {
        net = this.findNetwork(ref);
      } catch (e) {
        // A removal whose last step failed (its record could not be deleted) is finished.
        const unfinished = lookupTombstone([...this.state.networks.values()], ref);
        if (unfinished) return this.tearDownNetwork(unfinished);
        throw e;
      }
      if (net.predefined) {
        throw new YardError('NETWORK_PREDEFINED', `${net.name} is a pre-defined network and cannot be removed`, {
          hint: 'pre-defined networks (bridge, host, none) always exist',
        });
      }
      const eps = this.endpointsOf(net.id);
      if (eps.length) {
        throw new YardError('NETWORK_IN_USE', `error while removing network: network ${net.name} id ${net.id} has active endpoints (${eps.map((e) => e.sb.name).join(', ')})`, {
          hint: `disconnect or remove those sandboxes first (yard network disconnect ${net.name} <sandbox>)`,
        });
      }
      if (net.scope === 'global') await this.requireCluster(net).checkRemovable(net);
      await this.tearDownNetwork(net);
    });
  }

  private requireCluster(net: NetworkRecord): ClusterSeam {
    if (!this.cluster) {
      throw new YardError('CLUSTER_NOT_CONFIGURED', `network ${net.name} (driver ${net.driver}) is global and this daemon has no cluster store`, {
        field: '--cluster-store',
        hint: 'start the daemon with --cluster-store etcd://<host>:2379 --cluster-advertise <interface>',
      });
    }
    return this.cluster;
  }

  /** Give endpoints on global networks their addresses from the cluster store. */
  private async claimClusterAddresses(sb: SandboxRecord, eps: EndpointRecord[]): Promise<void> {
    const claimed: [NetworkRecord, EndpointRecord][] = [];
    try {
      for (const ep of eps) {
        const net = this.state.networks.get(ep.networkId);
        if (net?.scope !== 'global') continue;
        await this.requireCluster(net).claimAddresses(net, sb, ep);
        claimed.push([net, ep]);
      }
    } catch (e) {
      await this.releaseClusterAddresses(claimed.map(([, ep]) => ep));
      throw e;
    }
  }

  private async releaseClusterAddresses(eps: EndpointRecord[]): Promise<void> {
    for (const ep of eps) {
      const net = this.state.networks.get(ep.networkId);
      if (net?.scope === 'global') await this.cluster?.releaseAddresses(net, ep).catch((e) => this.log(`release ${ep.ipv4 ?? ep.id}: ${(e as Error).message}`));
    }
  }

  /**
   * Take in a global network another host created (the overlay agent calls this for every
   * network it finds in the cluster store): same record and ID, no validation, local
   * kernel objects and participants as for a create.
   */
  adoptNetwork(net: NetworkRecord) {
    return this.serial(async () => {
      if (this.state.networks.has(net.id)) return;
      // Another host validated and reserved it: straight to the plan.
      await runChange({ ...this.pipeline, validate: async () => {} }, {
        change: { kind: 'network.create', net },
        what: `adopting network ${net.name}`,
        plan: () => getDriver(net.driver).planCreate(net, this.planEnv()),
        commit: () => this.commitNetwork(net),
      });
      this.log(`network ${net.name} (${shortId(net.id)}) adopted from the cluster store`);
    });
  }

  /**
   * Tombstone, teardown, forget. Also used by reconcile to finish an interrupted removal.
   * The tombstone is written before anything is touched (a failed write changes nothing);
   * if the record cannot be deleted at the end, the tombstone stays, on disk and in
   * memory, and a retry (or the next start) finishes the removal.
   */
  async tearDownNetwork(live: NetworkRecord): Promise<void> {
    if (!live.deleting) this.store.tombstoneNetwork(live);
    const net: NetworkRecord = { ...live, deleting: true };
    this.state.networks.set(net.id, net);
    await this.applyRemoval({ kind: 'network.remove', net });
    const errors = await this.kernel.applyBestEffort(getDriver(net.driver).planDelete(net));
    for (const e of errors) if (!/Cannot find device|does not exist/.test(e)) this.log(`network ${net.name} teardown: ${e}`);
    this.store.deleteNetwork(net.id);
    this.state.networks.delete(net.id);
    this.log(`network ${net.name} (${shortId(net.id)}) removed`);
  }

  pruneNetworks(filter: (n: NetworkRecord) => boolean = () => true) {
    return this.serial(async () => {
      const removed: string[] = [];
      for (const net of this.networks()) {
        // Global networks may have endpoints on other hosts: they are removed explicitly.
        if (net.predefined || net.scope === 'global' || !filter(net) || this.endpointsOf(net.id).length) continue;
        await this.tearDownNetwork(net);
        removed.push(net.name);
      }
      return removed;
    });
  }

  // ---------------------------------------------------------------- endpoints

  /** Validate and allocate an endpoint (no kernel work). */
  private prepareEndpoint(net: NetworkRecord, sb: SandboxRecord, req: AttachRequest, order: number): EndpointRecord {
    const driver = getDriver(net.driver);
    if (sb.endpoints[net.id]) {
      throw new YardError('ALREADY_CONNECTED', `endpoint with name ${sb.name} already exists in network ${net.name}`, {
        hint: `the sandbox is already attached; disconnect it first to change its settings`,
      });
    }
    const others = Object.keys(sb.endpoints).map((id) => this.state.networks.get(id)).filter((n): n is NetworkRecord => !!n);
    const exclusive = (n: NetworkRecord) => getDriver(n.driver).attach !== 'interface';
    if ((exclusive(net) && others.length) || others.some(exclusive)) {
      const which = exclusive(net) ? net : others.find(exclusive)!;
      throw new YardError('NETWORK_MODE_EXCLUSIVE', `sandbox ${sb.name} cannot be on network ${which.name} together with other networks`, {
        field: '--network',
        hint: 'host and none networks cannot be combined with any other network',
      });
    }
    if ((req.ip || req.ip6) && net.driverState.defaultBridge) {
      // Docker's words, after the flag and value so the one line names what to change.
      throw new YardError('INVALID_IP', `${req.ip ? `--ip ${req.ip}` : `--ip6 ${req.ip6}`}: user specified IP address is supported on user defined networks only`, {
        field: req.ip ? '--ip' : '--ip6',
        hint: 'create a network with `yard network create` and attach the sandbox there',
      });
    }
    if ((req.ip || req.ip6) && driver.attach !== 'interface') {
      throw new YardError('INVALID_IP', `network ${net.name} has no addresses to assign`, { field: req.ip ? '--ip' : '--ip6', hint: 'omit --ip/--ip6' });
    }
    const peers = this.endpointsOf(net.id);
    driver.checkJoin?.(net, peers.length);
    const inUse = new Map<string, string>();
    for (const { sb: other, ep } of peers) {
      if (ep.ipv4) inUse.set(ep.ipv4.split('/')[0]!, `sandbox ${other.name}`);
      if (ep.ipv6) inUse.set(ep.ipv6.split('/')[0]!, `sandbox ${other.name}`);
    }
    const aliases = validateAliases(req.aliases, '--alias');
    const id = newId();
    const ep: EndpointRecord = { id, networkId: net.id, ifname: '', aliases, order };
    if (driver.attach === 'interface') {
      const used = new Set(Object.values(sb.endpoints).map((e) => e.ifname));
      let i = 0;
      while (used.has(`eth${i}`)) i++;
      ep.ifname = `eth${i}`;
      ep.hostIfname = `yv${id.slice(0, 12)}`;
      const pools = net.ipam.config;
      if (pools.some((p) => !p.subnet.includes(':')) || req.ip) {
        const a = allocateAddress({ networkName: net.name, pools, family: 4, inUse, requested: req.ip, field: '--ip' });
        ep.ipv4 = `${a.address}/${a.prefixLen}`;
        if (req.ip) ep.requestedIpv4 = req.ip;
        ep.mac = macFromIPv4(a.address);
      }
      if (pools.some((p) => p.subnet.includes(':')) || req.ip6) {
        const a = allocateAddress({ networkName: net.name, pools, family: 6, inUse, requested: req.ip6, field: '--ip6' });
        ep.ipv6 = `${a.address}/${a.prefixLen}`;
        if (req.ip6) ep.requestedIpv6 = req.ip6;
      }
    }
    return ep;
  }

  /** The endpoint that gives a sandbox its default route: the earliest joined that can. */
  private gatewayEndpoint(sb: SandboxRecord, exclude?: string): EndpointRecord | undefined {
    return Object.values(sb.endpoints)
      .filter((ep) => ep.networkId !== exclude)
      .sort((a, b) => a.order - b.order)
      .find((ep) => {
        const net = this.state.networks.get(ep.networkId);
        return net && getDriver(net.driver).planGatewayRoutes(net, sb, ep).length > 0;
      });
  }

  /** Full plan to bring a sandbox's namespace and all its endpoints up (run and reconcile). */
  sandboxPlan(sb: SandboxRecord): Plan {
    if (!sb.netns) return [];
    const plan: Plan = [
      { op: 'netns.add', name: sb.netns },
      { op: 'link.set', ns: sb.netns, name: 'lo', up: true },
    ];
    for (const ep of Object.values(sb.endpoints).sort((a, b) => a.order - b.order)) {
      const net = this.state.networks.get(ep.networkId);
      if (net) plan.push(...getDriver(net.driver).planJoin(net, sb, ep));
    }
    const gw = this.gatewayEndpoint(sb);
    if (gw) {
      const net = this.state.networks.get(gw.networkId)!;
      plan.push(...getDriver(net.driver).planGatewayRoutes(net, sb, gw));
    }
    // Host-namespace ops first, then everything inside the sandbox: the same order within
    // each namespace, but one `ip -batch` per namespace instead of one per endpoint.
    const [create, ...rest] = plan;
    return [create!, ...rest.filter((op) => !('ns' in op) || !op.ns), ...rest.filter((op) => 'ns' in op && !!op.ns)];
  }

  // ---------------------------------------------------------------- sandboxes

  createSandbox(req: SandboxCreateRequest) {
    return this.serial(async () => {
      const sb = this.validateSandbox(req);
      const eps = Object.values(sb.endpoints);
      const plan = await runChange(this.pipeline, {
        change: { kind: 'sandbox.create', sb },
        what: `creating sandbox ${sb.name}`,
        dryRun: req.dryRun,
        reserve: () => this.claimClusterAddresses(sb, eps),
        release: () => this.releaseClusterAddresses(eps),
        plan: () => this.sandboxPlan(sb),
        effects: () => {
          const undo = async () => {
            if (sb.pid) await this.kernel.stopProcess(sb.pid, sb.pidStart, 1000);
            if (sb.netns) this.kernel.removeSandboxFiles(sb.netns);
            fs.rmSync(this.sandboxDir(sb), { recursive: true, force: true });
          };
          try {
            if (sb.netns) this.kernel.writeSandboxFiles(sb.netns, this.sandboxFiles(sb));
            try {
              fs.mkdirSync(this.sandboxDir(sb), { recursive: true, mode: 0o700 });
            } catch (e) {
              throw writeError(this.sandboxDir(sb), e);
            }
            if (req.start !== false && sb.command.length) this.startProcess(sb, req.env);
          } catch (e) {
            return undo().then(() => Promise.reject(e));
          }
          return undo;
        },
        commit: () => this.commitSandbox(sb),
      });
      if (!req.dryRun) this.log(`sandbox ${sb.name} (${shortId(sb.id)}) created`);
      return { sb, plan: renderPlan(plan) };
    });
  }

  private validateSandbox(req: SandboxCreateRequest): SandboxRecord {
    // What reaches resolv.conf, hosts, DNS and the process: checked before anything else.
    const input = validateSandboxInput(req);
    const taken = new Set(this.sandboxes().map((s) => s.name));
    let name: string;
    if (req.name) {
      name = validateName('sandbox', req.name, '--name');
      const other = this.sandboxes().find((s) => s.name === name);
      if (other) {
        throw new YardError('SANDBOX_EXISTS', `the sandbox name "${name}" is already in use by sandbox ${shortId(other.id)}`, {
          field: '--name',
          hint: 'remove (yard rm -f) or rename that sandbox, or pick another name',
        });
      }
    } else {
      do name = randomName();
      while (taken.has(name));
    }
    const attach: AttachRequest[] = req.networks?.length ? [...req.networks] : [{ network: 'bridge' }];
    const seen = new Set<string>();
    const nets = attach.map((a) => {
      const net = this.findNetwork(a.network);
      if (seen.has(net.id)) {
        throw new YardError('INVALID_ARGUMENT', `network ${net.name} is given twice`, { field: '--network', hint: 'name each network once' });
      }
      seen.add(net.id);
      return net;
    });
    // Overlay-only sandboxes also join the host's gateway bridge (Docker's docker_gwbridge).
    for (const extra of this.cluster?.extraNetworks?.(nets) ?? []) {
      if (seen.has(extra.id)) continue;
      nets.push(extra);
      attach.push({ network: extra.id });
    }
    const command = input.command;
    if (req.start !== false && req.detached && !command.length) {
      throw new YardError('INVALID_ARGUMENT', 'no command given for a detached sandbox', { field: 'COMMAND', hint: 'add the command after --, e.g. `yard run -d -- sleep 1000`' });
    }
    for (const a of attach) validateAliases(a.aliases, '--network-alias');
    const ports = parsePortSpecs(req.publish ?? []);
    const id = newId();
    const hostMode = nets.some((n) => getDriver(n.driver).attach === 'host');
    const sb: SandboxRecord = {
      id,
      name,
      created: nowRfc3339Nano(),
      netns: hostMode ? null : `${sandboxNetnsPrefix(this.cfg.instance)}${id.slice(0, 12)}`,
      hostname: input.hostname || id.slice(0, 12),
      command,
      detached: !!req.detached,
      status: 'created',
      dns: input.dns,
      dnsSearch: input.dnsSearch,
      dnsOptions: input.dnsOptions,
      extraHosts: [],
      labels: input.labels,
      endpoints: {},
      ...(ports.length ? { ports } : {}),
    };
    nets.forEach((net, i) => {
      const ep = this.prepareEndpoint(net, sb, attach[i]!, i);
      sb.endpoints[net.id] = ep;
    });
    sb.extraHosts = input.extraHosts.map((h) => this.resolveHostGateway(h, sb));
    return sb;
  }

  /** `host-gateway` in --add-host means the gateway of the sandbox's default route. */
  private resolveHostGateway(h: string, sb: SandboxRecord): string {
    const [name, ip] = [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1)];
    if (ip !== 'host-gateway') return h;
    const gw = this.gatewayEndpoint(sb);
    const pool = gw && this.state.networks.get(gw.networkId)?.ipam.config.find((p) => p.gateway && !p.subnet.includes(':'));
    if (!pool?.gateway) {
      throw new YardError('INVALID_ARGUMENT', `--add-host ${h}: the sandbox has no gateway to point host-gateway at`, { field: '--add-host', hint: 'give an explicit address' });
    }
    return `${name}:${pool.gateway}`;
  }

  sandboxDir(sb: SandboxRecord): string {
    return path.join(this.cfg.stateDir, 'sandboxes', sb.id + '.d');
  }
  logFile(sb: SandboxRecord): string {
    return path.join(this.sandboxDir(sb), 'output.log');
  }

  private startProcess(sb: SandboxRecord, env?: Record<string, string>): void {
    const started = this.kernel.startProcess(sb.netns, sb.command, this.logFile(sb), { ...process.env, ...env, [SANDBOX_ENV]: sb.id });
    sb.pid = started.pid;
    sb.pidStart = started.pidStart;
    sb.status = 'running';
    sb.startedAt = nowRfc3339Nano();
    started.child.on('exit', (code, signal) => {
      const exitCode = code ?? (signal ? 128 + (osSignal(signal) ?? 0) : 0);
      const finishedAt = nowRfc3339Nano();
      this.serial(async () => {
        const cur = this.state.sandboxes.get(sb.id);
        if (!cur || cur.pid !== started.pid || cur.deleting) return;
        this.commitSandbox({ ...cur, status: 'exited', exitCode, finishedAt });
      }).catch((e) => this.log(`sandbox ${sb.name}: recording its exit: ${(e as Error).message}`));
    });
  }

  /**
   * Record a process the CLI started itself (foreground run). Only a process started for
   * this sandbox is accepted: it carries `YARD_SANDBOX=<id>` in its environment and runs
   * in the sandbox's namespace (the daemon's own for a host-network sandbox). Its start
   * time is recorded, so removal never signals another process that reuses the PID.
   */
  async markStarted(ref: string, pid: number) {
    const sb = this.findSandbox(ref);
    const pidStart = await this.verifySandboxProcess(sb, pid);
    return this.serial(async () => {
      const cur = this.findSandbox(sb.id);
      const next: SandboxRecord = { ...cur, pid, pidStart, status: 'running', startedAt: nowRfc3339Nano() };
      this.commitSandbox(next);
      return next;
    });
  }

  private async verifySandboxProcess(sb: SandboxRecord, pid: number): Promise<string> {
    const refuse = (why: string) =>
      new YardError('PROCESS_NOT_IN_SANDBOX', `pid ${pid} ${why}`, {
        field: 'pid',
        hint: `report only the PID of the process started for sandbox ${sb.name} (yard run does this itself)`,
      });
    const want = this.kernel.netnsIdentity(sb.netns);
    if (!want) throw refuse(`cannot be checked: sandbox ${sb.name} has no namespace`);
    // `ip netns exec` enters the namespace a moment after the CLI learns the PID: wait for it, briefly.
    const deadline = Date.now() + 2_000;
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      const p = this.kernel.inspectProcess(pid);
      if (!p) throw refuse('is not a running process');
      if (p.environ.get(SANDBOX_ENV) !== sb.id) throw refuse(`was not started for sandbox ${sb.name} (no ${SANDBOX_ENV}=<its id> in its environment)`);
      if (p.netns === want) return p.start;
      if (Date.now() > deadline) throw refuse(`does not run in sandbox ${sb.name}'s network namespace`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  markExited(ref: string, code: number) {
    return this.serial(async () => {
      const next: SandboxRecord = { ...this.findSandbox(ref), status: 'exited', exitCode: code, finishedAt: nowRfc3339Nano() };
      this.commitSandbox(next);
      return next;
    });
  }

  /**
   * A sandbox as it is now: its status from /proc (its process may have ended while the
   * daemon was down). A view: the stored record is unchanged (see persistStatus).
   */
  refresh(sb: SandboxRecord): SandboxRecord {
    if (sb.status === 'running' && sb.pid && !this.kernel.isAlive(sb.pid, sb.pidStart || undefined)) {
      return { ...sb, status: 'exited', finishedAt: sb.finishedAt ?? nowRfc3339Nano() };
    }
    return sb;
  }

  /** Write a sandbox record, then (only then) make it the one in memory. */
  private commitSandbox(next: SandboxRecord): void {
    this.store.putSandbox(next);
    this.state.sandboxes.set(next.id, next);
  }

  sandboxFiles(sb: SandboxRecord): Record<string, string> {
    const addresses = Object.values(sb.endpoints)
      .sort((a, b) => a.order - b.order)
      .flatMap((ep) => [ep.ipv4, ep.ipv6].filter((a): a is string => !!a).map((a) => a.split('/')[0]!));
    const fromParticipant = this.participants.map((p) => p.resolvConf?.(sb, this)).find((r) => r);
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

  /** resolv.conf and hosts after a committed change: a failure is logged (reconcile rewrites them), the change stands. */
  private writeFilesAfterCommit(netns: string, sb: SandboxRecord): void {
    try {
      this.kernel.writeSandboxFiles(netns, this.sandboxFiles(sb));
    } catch (e) {
      this.log(`sandbox ${sb.name}: writing /etc/netns/${netns}: ${(e as Error).message}`);
    }
  }

  connect(netRef: string, sbRef: string, req: Omit<AttachRequest, 'network'> = {}, dryRun = false) {
    return this.serial(async () => {
      const net = this.findNetwork(netRef);
      const done = await this.connectOne(net, this.findSandbox(sbRef), req, dryRun);
      const plan = [...done.plan];
      // As at run: a sandbox whose only networks are overlays also joins the gateway bridge.
      for (const extra of this.cluster?.extraNetworks?.(this.networksOf(done.next)) ?? []) {
        if (done.next.endpoints[extra.id]) continue;
        try {
          plan.push(...(await this.connectOne(extra, done.next, {}, dryRun)).plan);
        } catch (e) {
          if (!dryRun) await this.disconnectOne(net, done.next, true).catch((u) => this.log(`undoing connect of ${done.next.name} to ${net.name}: ${(u as Error).message}`));
          throw e;
        }
      }
      return { plan };
    });
  }

  private networksOf(sb: SandboxRecord): NetworkRecord[] {
    return Object.values(sb.endpoints)
      .map((ep) => this.state.networks.get(ep.networkId))
      .filter((n): n is NetworkRecord => !!n);
  }

  private async connectOne(net: NetworkRecord, sb: SandboxRecord, req: Omit<AttachRequest, 'network'>, dryRun: boolean): Promise<{ plan: string[]; next: SandboxRecord }> {
    if (!sb.netns) {
      throw new YardError('NETWORK_MODE_EXCLUSIVE', `sandbox ${sb.name} is on the host network and cannot join network ${net.name}`, {
        hint: 'host and none networks cannot be combined with any other network',
      });
    }
    const order = Math.max(-1, ...Object.values(sb.endpoints).map((e) => e.order)) + 1;
    const ep = this.prepareEndpoint(net, sb, { network: net.id, ...req }, order);
    const driver = getDriver(net.driver);
    const next: SandboxRecord = { ...sb, endpoints: { ...sb.endpoints, [net.id]: ep } };
    const plan = await runChange(this.pipeline, {
      change: { kind: 'connect', sb: next, net, ep },
      what: `connecting ${sb.name} to ${net.name}`,
      dryRun,
      reserve: () => this.claimClusterAddresses(sb, [ep]),
      release: () => this.releaseClusterAddresses([ep]),
      plan: () => {
        const p: Plan = [...driver.planJoin(net, sb, ep)];
        if (!this.gatewayEndpoint(sb) && this.gatewayEndpoint(next)?.id === ep.id) p.push(...driver.planGatewayRoutes(net, next, ep));
        return p;
      },
      commit: () => this.commitSandbox(next),
    });
    if (!dryRun) this.writeFilesAfterCommit(sb.netns, next);
    return { plan: renderPlan(plan), next };
  }

  disconnect(netRef: string, sbRef: string, force = false) {
    return this.serial(async () => {
      const net = this.findNetwork(netRef);
      let next = await this.disconnectOne(net, this.findSandbox(sbRef), force);
      // The gateway bridge stays while an overlay needs it, and is added when the network
      // that gave an overlay sandbox its way out goes (unless it is what was disconnected).
      const gw = this.cluster?.gatewayNetwork?.();
      if (!next.netns || !this.cluster || net.id === gw?.id) return;
      const nets = this.networksOf(next);
      if (gw && next.endpoints[gw.id] && !nets.some((n) => n.scope === 'global')) next = await this.disconnectOne(gw, next, true);
      for (const extra of this.cluster.extraNetworks?.(nets) ?? []) {
        if (!next.endpoints[extra.id]) next = (await this.connectOne(extra, next, {}, false)).next;
      }
    });
  }

  private async disconnectOne(net: NetworkRecord, sb: SandboxRecord, force: boolean): Promise<SandboxRecord> {
    const ep = sb.endpoints[net.id];
    if (!ep) {
      throw new YardError('NOT_CONNECTED', `sandbox ${sb.name} is not connected to network ${net.name}`, { hint: 'nothing to do' });
    }
    const driver = getDriver(net.driver);
    if (driver.attach !== 'interface' && !force) {
      throw new YardError('NETWORK_MODE_EXCLUSIVE', `sandbox ${sb.name} cannot be disconnected from network ${net.name}`, {
        hint: `a sandbox on ${net.name} has no other network; remove it with yard rm -f`,
      });
    }
    const wasGateway = this.gatewayEndpoint(sb)?.id === ep.id;
    const { [net.id]: _gone, ...rest } = sb.endpoints;
    const next: SandboxRecord = { ...sb, endpoints: rest };
    const plan: Plan = [...driver.planLeave(net, sb, ep)];
    if (wasGateway && sb.netns) {
      const gw = this.gatewayEndpoint(next);
      if (gw) {
        const gnet = this.state.networks.get(gw.networkId)!;
        plan.push(...getDriver(gnet.driver).planGatewayRoutes(gnet, next, gw));
      }
    }
    // The record is written first: a failed write changes nothing, and a crash after it
    // leaves kernel objects the state no longer has, which reconcile removes.
    this.store.putSandbox(next);
    await this.applyRemoval({ kind: 'disconnect', sb, net, ep });
    const errors = await this.kernel.applyBestEffort(plan);
    for (const e of errors) this.log(`disconnect ${sb.name} from ${net.name}: ${e}`);
    this.state.sandboxes.set(sb.id, next);
    if (sb.netns) this.writeFilesAfterCommit(sb.netns, next);
    return next;
  }

  removeSandbox(ref: string, force = false) {
    return this.serial(async () => {
      let sb: SandboxRecord;
      try {
        sb = this.refresh(this.findSandbox(ref));
      } catch (e) {
        const unfinished = lookupTombstone([...this.state.sandboxes.values()], ref);
        if (unfinished) return this.tearDownSandbox(unfinished);
        throw e;
      }
      if (sb.status === 'running' && !force) {
        throw new YardError('SANDBOX_RUNNING', `you cannot remove a running sandbox ${sb.name} (${shortId(sb.id)})`, {
          hint: 'stop it first, or force the removal with yard rm -f',
        });
      }
      await this.tearDownSandbox(sb);
    });
  }

  /** Tombstone, stop, teardown, forget. Also finishes interrupted removals at start. As tearDownNetwork. */
  async tearDownSandbox(live: SandboxRecord): Promise<void> {
    if (!live.deleting) this.store.tombstoneSandbox(live);
    const sb: SandboxRecord = { ...live, deleting: true };
    this.state.sandboxes.set(sb.id, sb);
    // Only a process whose start time was recorded is signalled: a bare PID may by now be
    // anyone's. Processes inside the sandbox's namespace are stopped below in any case.
    if (sb.pid && sb.pidStart) await this.kernel.stopProcess(sb.pid, sb.pidStart);
    await this.applyRemoval({ kind: 'sandbox.remove', sb });
    const plan: Plan = [];
    for (const ep of Object.values(sb.endpoints)) {
      const net = this.state.networks.get(ep.networkId);
      if (net) plan.push(...getDriver(net.driver).planLeave(net, sb, ep));
    }
    if (sb.netns) {
      // Processes the sandbox's command forked are in the namespace too.
      await this.kernel.killNetnsProcesses(sb.netns);
      plan.push({ op: 'netns.del', name: sb.netns });
    }
    // Deleting the namespace destroys the host end of each veth too (in the kernel's
    // cleanup work, off our clock): an explicit `link del` would cost 12-20 ms for nothing.
    // Links inside the sandbox are still deleted first: a macvlan child left to the
    // cleanup work keeps its MAC on the parent for a while, and the next sandbox given
    // the same address (so the same MAC) would be refused with "Address already in use".
    const teardown = sb.netns ? plan.filter((op) => op.op !== 'link.del' || !!op.ns) : plan;
    const errors = await this.kernel.applyBestEffort(teardown);
    for (const e of errors) if (!/Cannot find device|No such file/.test(e)) this.log(`sandbox ${sb.name} teardown: ${e}`);
    if (sb.netns) this.kernel.removeSandboxFiles(sb.netns);
    fs.rmSync(this.sandboxDir(sb), { recursive: true, force: true });
    this.store.deleteSandbox(sb.id);
    this.state.sandboxes.delete(sb.id);
    this.log(`sandbox ${sb.name} (${shortId(sb.id)}) removed`);
  }
}

async function runUndos(undos: Undo[], log: (m: string) => void): Promise<void> {
  for (const u of [...undos].reverse()) {
    try {
      await u();
    } catch (e) {
      log(`undo failed: ${(e as Error).message}`);
    }
  }
}

/** A tombstoned record (removal started, not finished) by exact ID, ID prefix or name. */
function lookupTombstone<T extends { id: string; name: string; deleting?: boolean }>(all: T[], ref: string): T | undefined {
  const dead = all.filter((r) => r.deleting);
  const byPrefix = dead.filter((r) => r.id.startsWith(ref));
  return dead.find((r) => r.id === ref) ?? dead.find((r) => r.name === ref) ?? (byPrefix.length === 1 ? byPrefix[0] : undefined);
}

function osSignal(sig: NodeJS.Signals): number | undefined {
  const map: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return map[sig];
}
