/**
 * The overlay agent: this daemon's member of the cluster. It
 *  - holds an etcd lease (TTL LEASE_TTL_S) and, under it, its node key and the endpoints
 *    of its sandboxes on global networks: when the daemon dies the lease expires and
 *    every other host drops them;
 *  - keeps a copy of everything under /switchyard/v1/ by list + watch-from-revision, and
 *    re-lists every RELIST_MS (etcd3's watchers have a history of going quiet after
 *    reconnects; the re-list bounds how long a missed event can matter);
 *  - after every change: adopts global networks created elsewhere, drops those removed
 *    elsewhere, programs the VXLAN forwarding/neighbour entries of every remote endpoint
 *    (read back from the kernel the first time, so a restart removes stale ones), and
 *    hands the remote endpoints to the embedded DNS;
 *  - is the engine's ClusterSeam (global network create/remove, addresses by
 *    compare-and-swap) and a Participant (publishes and withdraws endpoints).
 *
 * While the store is down, nothing local changes: the data plane keeps what it has,
 * local networks work, and overlay operations fail at once with CLUSTER_UNAVAILABLE.
 */
import type { Lease, Watcher } from 'etcd3';
import { YardError } from '../errors.js';
import { allocateAddress, macFromIPv4 } from '../ipam/allocator.js';
import { parsePrefix, prefixesOverlap } from '../ipam/prefix.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import type { ClusterSeam, NetworkCreateRequest } from '../engine/engine.js';
import type { Change, EngineLink, Participant, ParticipantContext, Undo } from '../engine/participants.js';
import type { Underlay } from '../drivers/contract.js';
import { overlayVxlanName } from '../drivers/overlay.js';
import { readVxlanEntries, type VxlanEntries } from '../kernel/vxlan.js';
import { nowRfc3339Nano } from '../model/ids.js';
import { decodeView, K, PREFIX, type AddrClaim, type ClusterView, type NodeInfo, type RemoteEndpoint } from './keys.js';
import { desiredPeers, peerPlan } from './peers.js';
import { ClusterStore } from './etcd-client.js';

export const LEASE_TTL_S = 5;
export const GW_BRIDGE = 'yard_gwbridge';
export const GW_BRIDGE_SUBNET = '172.31.0.0/16';
const RELIST_MS = 5_000;
const RECONNECT_MS = 1_000;
export const VNI_FIRST = 4096;
export const VNI_LAST = 16_777_215;
const CAS_ATTEMPTS = 40;

export interface AgentOptions {
  /** --cluster-store, etcd://host:port[,...] */
  store: string;
  /** --cluster-advertise: an interface name (or one of this host's addresses). */
  advertise: string;
  /** Where the names of other hosts' sandboxes go (the embedded DNS). */
  dnsSink?: RemoteSandboxSink;
}

/**
 * What the agent uses of the engine: the participants' link (state view, queue, log,
 * kernel ops), and the network use cases it follows the cluster store with.
 */
export interface ClusterHost {
  readonly link: EngineLink;
  adoptNetwork(net: NetworkRecord): Promise<void>;
  createNetwork(req: NetworkCreateRequest): Promise<unknown>;
  /** Inside the queue: remove a network the cluster no longer has. */
  tearDownNetwork(net: NetworkRecord): Promise<void>;
  setCluster(seam: ClusterSeam): void;
  setUnderlay(u: Underlay | null): void;
}

/** Sandboxes of other hosts, shaped for the DNS records builder. */
export interface RemoteSandboxSink {
  setRemoteSandboxes(sbs: SandboxRecord[]): void;
}

export class OverlayAgent implements ClusterSeam, Participant {
  readonly name = 'cluster';
  private readonly store: ClusterStore;
  private lease?: Lease;
  private watcher?: Watcher;
  private connected = false;
  private connecting = false;
  private closed = false;
  private kvs = new Map<string, string>();
  private view: ClusterView = decodeView(new Map());
  private listedOnce = false;
  private lastWatchRev = 0n;
  private listRev = 0n;
  /**
   * Watch events newer than the last list, by key (value null: deleted). A list answered
   * after an event it predates must not bring the old value back: a network deleted
   * while the list was in flight would be adopted again.
   */
  private recent = new Map<string, { rev: bigint; value: string | null }>();
  /** What each VXLAN device holds (by network ID); absent: read it back first. */
  private programmed = new Map<string, VxlanEntries>();
  private syncing: Promise<void> = Promise.resolve();
  private syncQueued = false;
  private timers: NodeJS.Timeout[] = [];
  readonly node: NodeInfo;

  private readonly link: EngineLink;

  private constructor(
    private readonly engine: ClusterHost,
    store: ClusterStore,
    node: NodeInfo,
    private readonly dnsSink?: RemoteSandboxSink,
  ) {
    this.store = store;
    this.node = node;
    this.link = engine.link;
  }

  /**
   * Resolve --cluster-advertise against this host's links (refusing a missing interface),
   * configure the overlay driver's underlay, and start connecting in the background: the
   * daemon comes up whether or not the store answers.
   */
  static async create(engine: ClusterHost, opts: AgentOptions): Promise<OverlayAgent> {
    const host = await engine.link.kernel.readNamespace();
    const links = [...host.links.values()];
    const byName = host.links.get(opts.advertise);
    const byAddr = links.find((l) => l.addrs.some((a) => a.split('/')[0] === opts.advertise));
    const link = byName ?? byAddr;
    if (!link) {
      throw new YardError('INVALID_ARGUMENT', `--cluster-advertise ${opts.advertise}: no interface or address of that name on this host`, {
        field: '--cluster-advertise',
        hint: `use one of: ${links.filter((l) => l.name !== 'lo').map((l) => l.name).join(', ') || '(no interface but lo)'}`,
      });
    }
    const v4 = link.addrs.map((a) => a.split('/')[0]!).filter((a) => !a.includes(':'));
    const vtep = byAddr && !byName ? opts.advertise : v4[0] ?? link.addrs[0]?.split('/')[0];
    if (!vtep) {
      throw new YardError('INVALID_ARGUMENT', `--cluster-advertise ${opts.advertise}: interface ${link.name} has no address`, {
        field: '--cluster-advertise',
        hint: 'give the interface an address, or name another interface',
      });
    }
    const store = await ClusterStore.open(opts.store);
    engine.setUnderlay({ local: vtep, dev: link.name, mtu: link.mtu });
    const agent = new OverlayAgent(engine, store, { name: engine.link.config.instance, vtep, dev: link.name }, opts.dnsSink);
    engine.setCluster(agent);
    return agent;
  }

  private localNetworks(): NetworkRecord[] {
    return [...this.link.view().networks.values()];
  }

  /** Begin membership: connect now (not awaited by the daemon's start), re-list periodically. */
  start(): void {
    void this.connect();
    this.timers.push(
      setInterval(() => {
        if (this.closed) return;
        if (!this.connected) void this.connect();
        else this.relist().catch((e) => this.lost(`re-list failed: ${(e as Error).message}`));
      }, RELIST_MS),
    );
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** For the metrics: the store's health and what this host sees of the cluster. */
  health(): { connected: boolean; nodes: number; peers: number; globalNetworks: number; remoteEndpoints: number } {
    let remote = 0;
    for (const eps of this.view.endpoints.values()) for (const ep of eps.values()) if (ep.node !== this.node.name) remote++;
    const peers = [...this.view.nodes.keys()].filter((n) => n !== this.node.name).length;
    return { connected: this.connected, nodes: this.view.nodes.size, peers, globalNetworks: this.view.networks.size, remoteEndpoints: remote };
  }

  // ------------------------------------------------------------ membership

  private async connect(): Promise<void> {
    if (this.connecting || this.closed) return;
    this.connecting = true;
    try {
      this.lease?.revoke().catch(() => {});
      this.lease?.removeAllListeners();
      const lease = this.store.client.lease(LEASE_TTL_S, { autoKeepAlive: true });
      lease.on('lost', (e) => this.lost(`lease lost: ${e.message}`));
      // A lease whose grant fails emits 'lost' too; swallow the promise's own rejection.
      await this.store.call('granting the membership lease', () => lease.grant());
      this.lease = lease;
      await this.store.call('registering this node', () => lease.put(K.node(this.node.name)).value(JSON.stringify(this.node)).exec());
      await this.republishLocal();
      await this.relist();
      this.ensureWatcher();
      this.connected = true;
      this.link.log(`cluster: joined ${this.store.url} as ${this.node.name} (VTEP ${this.node.vtep} on ${this.node.dev}), ${this.view.nodes.size} node(s), ${this.view.networks.size} global network(s)`);
    } catch (e) {
      this.connected = false;
      if (!this.closed) this.link.log(`cluster: ${(e as Error).message}; retrying every ${RECONNECT_MS / 1000} s`);
      this.timers.push(setTimeout(() => void this.connect(), RECONNECT_MS));
    } finally {
      this.connecting = false;
    }
  }

  private lost(why: string): void {
    if (!this.connected || this.closed) return;
    this.connected = false;
    this.link.log(`cluster: ${why}; overlay operations fail until the store answers again`);
    this.timers.push(setTimeout(() => void this.connect(), RECONNECT_MS));
  }

  /** After (re)joining: this host's endpoints on global networks, under the new lease. */
  private async republishLocal(): Promise<void> {
    const now = this.link.view();
    for (const sb of now.sandboxes.values()) {
      for (const ep of Object.values(sb.endpoints)) {
        const net = now.networks.get(ep.networkId);
        if (net?.scope !== 'global') continue;
        await this.putEndpoint(net, sb, ep);
        // The address claim is persistent; write it back if the store lost it (new etcd).
        for (const ip of addressesOf(ep)) {
          const claim: AddrClaim = { endpoint: ep.id, sandbox: sb.name, node: this.node.name };
          await this.store.call('re-claiming an address', (c) =>
            c.if(K.addr(net.id, ip), 'Create', '==', 0).then(c.put(K.addr(net.id, ip)).value(JSON.stringify(claim))).commit(),
          );
        }
      }
    }
    // In the engine's queue, so a claim of an operation in flight is never taken for an orphan.
    await this.link.serial(() => this.releaseOrphanClaims());
  }

  /**
   * Address claims of this node whose endpoint the state does not have: the daemon was
   * killed between a claim and its commit, or a removal could not release the claim while
   * the store was down. Released, or the address would be lost to the network for good.
   */
  private async releaseOrphanClaims(): Promise<void> {
    const local = new Set([...this.link.view().sandboxes.values()].flatMap((sb) => Object.values(sb.endpoints).map((ep) => ep.id)));
    const { kvs } = await this.store.list('listing address claims', `${PREFIX}ipam/`);
    for (const [key, value] of kvs) {
      let claim: AddrClaim;
      try {
        claim = JSON.parse(value) as AddrClaim;
      } catch {
        continue;
      }
      if (claim.node !== this.node.name || local.has(claim.endpoint)) continue;
      await this.store.call('releasing an orphaned address claim', (c) => c.if(key, 'Value', '==', value).then(c.delete().key(key)).commit());
      this.link.log(`cluster: released ${key.slice(`${PREFIX}ipam/`.length)}, claimed for sandbox ${claim.sandbox} but in no endpoint of the state`);
    }
  }

  private async relist(): Promise<void> {
    const { kvs, revision } = await this.store.list('listing the cluster', PREFIX);
    const rev = BigInt(revision);
    for (const [key, ev] of this.recent) {
      if (ev.rev <= rev) this.recent.delete(key);
      else if (ev.value === null) kvs.delete(key);
      else kvs.set(key, ev.value);
    }
    this.kvs = kvs;
    this.listRev = rev;
    this.listedOnce = true;
    this.scheduleSync();
  }

  private ensureWatcher(): void {
    if (this.watcher) return;
    const w = this.store.client.watch().prefix(PREFIX).startRevision(String(this.listRev + 1n));
    w.create()
      .then((watcher) => {
        if (this.closed) {
          void watcher.cancel();
          return;
        }
        this.watcher = watcher;
        watcher.on('put', (kv) => {
          this.kvs.set(kv.key.toString(), kv.value.toString());
          this.noteRev(kv.mod_revision);
          this.recent.set(kv.key.toString(), { rev: BigInt(kv.mod_revision), value: kv.value.toString() });
        });
        watcher.on('delete', (kv) => {
          this.kvs.delete(kv.key.toString());
          this.noteRev(kv.mod_revision);
          this.recent.set(kv.key.toString(), { rev: BigInt(kv.mod_revision), value: null });
        });
        watcher.on('data', () => this.scheduleSync());
        // etcd3 resumes the watch after a reconnect; re-list too, in case it missed something.
        watcher.on('connected', () => void this.relist().catch(() => {}));
        watcher.on('error', (e) => this.link.log(`cluster: watch: ${e.message}`));
      })
      .catch((e) => this.link.log(`cluster: cannot watch: ${(e as Error).message}`));
  }

  private noteRev(rev: string): void {
    const r = BigInt(rev);
    if (r > this.lastWatchRev) this.lastWatchRev = r;
  }

  // ------------------------------------------------------------ following the cluster

  private scheduleSync(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    this.syncing = this.syncing.then(async () => {
      this.syncQueued = false;
      try {
        await this.sync();
      } catch (e) {
        this.link.log(`cluster: sync: ${(e as Error).message}`);
      }
    });
  }

  /** Wait until the changes seen so far are applied (tests, shutdown). */
  settled(): Promise<void> {
    return this.syncing;
  }

  private async sync(): Promise<void> {
    if (this.closed) return;
    this.view = decodeView(this.kvs);
    const view = this.view;
    // One read of the state for the whole pass: adopting one network changes no other's membership.
    const before = this.link.view();
    const names = new Set([...before.networks.values()].map((n) => n.name));
    for (const net of view.networks.values()) {
      if (!before.networks.has(net.id)) {
        const clash = names.has(net.name);
        if (clash) {
          this.link.log(`cluster: global network ${net.name} (${net.id.slice(0, 12)}) not adopted: a local network has that name`);
          continue;
        }
        await this.engine.adoptNetwork(net).then(
          () => names.add(net.name),
          (e) => this.link.log(`cluster: adopting ${net.name}: ${(e as Error).message}`),
        );
      }
    }
    if (this.listedOnce) {
      const now = this.link.view();
      const inUse = new Set([...now.sandboxes.values()].flatMap((sb) => Object.keys(sb.endpoints)));
      for (const net of now.networks.values()) {
        if (net.scope !== 'global' || view.networks.has(net.id) || inUse.has(net.id)) continue;
        this.link.log(`cluster: network ${net.name} was removed from the cluster; removing it here`);
        await this.link.serial(() => this.engine.tearDownNetwork(net)).catch((e) => this.link.log(`cluster: removing ${net.name}: ${(e as Error).message}`));
        this.programmed.delete(net.id);
      }
    }
    for (const net of this.localNetworks()) {
      if (net.scope !== 'global') continue;
      const dev = overlayVxlanName(net);
      const current = this.programmed.get(net.id) ?? (await readVxlanEntries(dev));
      const desired = desiredPeers(view, net.id, this.node.name);
      const plan = peerPlan(dev, desired, current);
      if (!plan.length) {
        this.programmed.set(net.id, current);
        continue;
      }
      const errors = await this.link.kernel.applyBestEffort(plan);
      if (errors.length) {
        this.link.log(`cluster: ${net.name}: ${errors.join('; ')}`);
        this.programmed.delete(net.id);
      } else {
        const fdb = new Map([...desired.values()].map((p) => [p.mac, p.vtep]));
        const neigh = new Map([...desired.values()].flatMap((p) => p.ips.map((ip) => [ip, p.mac] as [string, string])));
        this.programmed.set(net.id, { fdb, neigh });
      }
    }
    this.feedDns(view);
    // An event newer than the list may have been overwritten by it: list again soon.
    if (this.lastWatchRev > this.listRev) {
      this.lastWatchRev = 0n;
      void this.relist().catch(() => {});
    }
  }

  /** Remote endpoints as sandboxes (one per remote sandbox), for the embedded DNS. */
  remoteSandboxes(view: ClusterView = this.view): SandboxRecord[] {
    const bySb = new Map<string, SandboxRecord>();
    const local = this.link.view().networks;
    for (const [netId, eps] of view.endpoints) {
      if (!local.has(netId)) continue;
      for (const ep of eps.values()) {
        if (ep.node === this.node.name || !view.nodes.has(ep.node)) continue;
        const sb = bySb.get(ep.sandboxId) ?? {
          id: ep.sandboxId,
          name: ep.sandboxName,
          created: ep.created,
          netns: null,
          hostname: ep.sandboxId.slice(0, 12),
          command: [],
          detached: true,
          status: 'running' as const,
          dns: [],
          dnsSearch: [],
          dnsOptions: [],
          extraHosts: [],
          labels: { 'switchyard.node': ep.node },
          endpoints: {},
        };
        sb.endpoints[netId] = {
          id: ep.id,
          networkId: netId,
          ifname: 'eth0',
          mac: ep.mac,
          ipv4: ep.ipv4,
          ipv6: ep.ipv6,
          aliases: ep.aliases,
          order: 0,
        };
        bySb.set(ep.sandboxId, sb);
      }
    }
    return [...bySb.values()];
  }

  private feedDns(view: ClusterView): void {
    this.dnsSink?.setRemoteSandboxes(this.remoteSandboxes(view));
  }

  /** Docker's `Peers` (every live node of the cluster) and the endpoints on other hosts, for inspect. */
  inspectExtras(net: NetworkRecord): Record<string, unknown> {
    const peers = [...this.view.nodes.values()].map((n) => ({ Name: n.name, IP: n.vtep })).sort((a, b) => a.Name.localeCompare(b.Name));
    const remote: Record<string, unknown> = {};
    for (const ep of this.view.endpoints.get(net.id)?.values() ?? []) {
      if (ep.node === this.node.name) continue;
      remote[ep.sandboxId] = { Name: ep.sandboxName, EndpointID: ep.id, MacAddress: ep.mac ?? '', IPv4Address: ep.ipv4 ?? '', IPv6Address: ep.ipv6 ?? '', Node: ep.node, VTEP: ep.vtep };
    }
    return { Peers: peers, RemoteContainers: remote, ClusterStore: { Url: this.store.url, Connected: this.connected } };
  }

  // ------------------------------------------------------------ gateway bridge

  /**
   * Docker's docker_gwbridge: a local bridge network giving overlay sandboxes their default
   * route and outbound access (masqueraded by the firewall like any bridge network, ICC off
   * so sandboxes do not meet each other through it). Created at start, before the API serves.
   */
  async ensureGatewayBridge(): Promise<void> {
    if (this.localNetworks().some((n) => n.name === GW_BRIDGE)) return;
    const create = (ipam: { subnet: string }[]) =>
      this.engine.createNetwork({
        name: GW_BRIDGE,
        driver: 'bridge',
        options: {
          'com.docker.network.bridge.name': GW_BRIDGE,
          'com.docker.network.bridge.enable_icc': 'false',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
        },
        labels: { 'switchyard.role': 'overlay gateway bridge' },
        ipam,
      });
    // The last /16 of Docker's 172.16/12 pools, so the first user network still gets
    // 172.18.0.0/16 as on a daemon without a cluster store; the pools otherwise.
    try {
      await create([{ subnet: GW_BRIDGE_SUBNET }]);
    } catch (e) {
      if (!(e instanceof YardError) || e.code !== 'SUBNET_OVERLAP') throw e;
      await create([]);
    }
  }

  /** The gateway bridge, for an overlay sandbox with no other way out (already joined or not). */
  extraNetworks(nets: NetworkRecord[]): NetworkRecord[] {
    const gw = this.gatewayNetwork();
    const others = nets.filter((n) => n.id !== gw?.id);
    const overlay = others.some((n) => n.scope === 'global' && !n.internal);
    const hasGateway = others.some((n) => n.scope !== 'global');
    return overlay && !hasGateway && gw ? [gw] : [];
  }

  gatewayNetwork(): NetworkRecord | undefined {
    return this.localNetworks().find((n) => n.name === GW_BRIDGE);
  }

  // ------------------------------------------------------------ ClusterSeam

  private requireConnected(what: string): void {
    if (!this.connected) {
      throw new YardError('CLUSTER_UNAVAILABLE', `${what}: the cluster store ${this.store.url} is not reachable`, {
        field: '--cluster-store',
        hint: 'start etcd or fix --cluster-store; local networks keep working, and the daemon catches up when the store is back',
      });
    }
  }

  async reserveNetwork(net: NetworkRecord): Promise<void> {
    const what = `creating network ${net.name}`;
    this.requireConnected(what);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const { raw } = await this.store.list(what, `${PREFIX}networks`);
      const guard = raw.find((kv) => kv.key.toString() === K.networksRev)?.mod_revision ?? '0';
      const others = raw
        .filter((kv) => kv.key.toString().startsWith(K.networks))
        .map((kv) => JSON.parse(kv.value.toString()) as NetworkRecord);
      checkClusterConflicts(net, others);
      const { kvs: vniKvs } = await this.store.list(what, K.vnis);
      const used = new Map([...vniKvs].map(([k, v]) => [Number(k.slice(K.vnis.length)), v]));
      const vni = pickVni(net, used, others);
      net.driverState.vni = vni;
      const record = JSON.stringify(net);
      const res = await this.store.call(what, (c) =>
        c
          .if(K.networksRev, 'Mod', '==', guard)
          .then(c.put(K.networksRev).value(net.id), c.put(K.network(net.id)).value(record), c.put(K.vni(vni)).value(net.id))
          .commit(),
      );
      if (res.succeeded) {
        this.kvs.set(K.network(net.id), record);
        return;
      }
    }
    throw new YardError('CLUSTER_UNAVAILABLE', `${what}: too many concurrent network changes in the cluster`, { hint: 'try again' });
  }

  async releaseNetwork(net: NetworkRecord): Promise<void> {
    this.kvs.delete(K.network(net.id));
    await this.store.call(`releasing network ${net.name}`, (c) =>
      c
        .if(K.network(net.id), 'Create', '>', 0)
        .then(
          c.put(K.networksRev).value(net.id),
          c.delete().key(K.network(net.id)),
          ...(net.driverState.vni ? [c.delete().key(K.vni(Number(net.driverState.vni)))] : []),
          c.delete().prefix(K.addrs(net.id)),
          c.delete().prefix(K.endpoints(net.id)),
        )
        .commit(),
    );
  }

  async checkRemovable(net: NetworkRecord): Promise<void> {
    const what = `removing network ${net.name}`;
    this.requireConnected(what);
    const { kvs } = await this.store.list(what, K.endpoints(net.id));
    const remote = [...kvs.values()].map((v) => JSON.parse(v) as RemoteEndpoint).filter((e) => e.node !== this.node.name);
    if (remote.length) {
      throw new YardError('NETWORK_IN_USE', `error while removing network: network ${net.name} id ${net.id} has active endpoints on other hosts (${remote.map((e) => `${e.sandboxName} on ${e.node}`).join(', ')})`, {
        hint: 'remove those sandboxes on their hosts first',
      });
    }
  }

  async claimAddresses(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Promise<void> {
    const what = `allocating an address on network ${net.name}`;
    this.requireConnected(what);
    const claim: AddrClaim = { endpoint: ep.id, sandbox: sb.name, node: this.node.name };
    for (const family of [4, 6] as const) {
      const current = family === 4 ? ep.ipv4 : ep.ipv6;
      if (!current) continue;
      const requested = family === 4 ? ep.requestedIpv4 : ep.requestedIpv6;
      let done = false;
      for (let attempt = 0; attempt < CAS_ATTEMPTS && !done; attempt++) {
        const { kvs } = await this.store.list(what, K.addrs(net.id));
        const inUse = new Map<string, string>();
        for (const [k, v] of kvs) {
          const c = JSON.parse(v) as AddrClaim;
          inUse.set(k.slice(K.addrs(net.id).length), `sandbox ${c.sandbox} on ${c.node}`);
        }
        const a = allocateAddress({ networkName: net.name, pools: net.ipam.config, family, inUse, requested, field: family === 4 ? '--ip' : '--ip6' });
        const key = K.addr(net.id, a.address);
        const res = await this.store.call(what, (c) => c.if(key, 'Create', '==', 0).then(c.put(key).value(JSON.stringify(claim))).commit());
        if (res.succeeded) {
          done = true;
          if (family === 4) {
            ep.ipv4 = `${a.address}/${a.prefixLen}`;
            ep.mac = macFromIPv4(a.address);
          } else ep.ipv6 = `${a.address}/${a.prefixLen}`;
        } else if (requested) {
          throw new YardError('ADDRESS_IN_USE', `${family === 4 ? '--ip' : '--ip6'} ${requested} is already in use on network ${net.name} (taken by another host just now)`, {
            field: family === 4 ? '--ip' : '--ip6',
            hint: 'pick another address or omit it',
          });
        }
      }
      if (!done) throw new YardError('CLUSTER_UNAVAILABLE', `${what}: too many concurrent allocations`, { hint: 'try again' });
    }
  }

  async releaseAddresses(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    for (const ip of addressesOf(ep)) {
      const key = K.addr(net.id, ip);
      await this.store.call(`releasing ${ip}`, async (c) => {
        const v = await c.get(key).string();
        if (v && (JSON.parse(v) as AddrClaim).endpoint === ep.id) await c.delete().key(key);
      });
    }
  }

  // ------------------------------------------------------------ Participant

  validate(change: Change): void {
    const nets = globalNetsOf(change);
    if (!nets.length || change.kind === 'network.create') return;
    if (change.kind === 'sandbox.create' || change.kind === 'connect') this.requireConnected(`attaching to network ${nets[0]!.name}`);
  }

  async apply(change: Change, ctx: ParticipantContext): Promise<Undo | void> {
    switch (change.kind) {
      case 'sandbox.create':
      case 'connect': {
        const eps = change.kind === 'connect' ? [change.ep] : Object.values(change.sb.endpoints);
        const put: [NetworkRecord, EndpointRecord][] = [];
        for (const ep of eps) {
          const net = ctx.after.networks.get(ep.networkId);
          if (net?.scope !== 'global') continue;
          await this.putEndpoint(net, change.sb, ep);
          put.push([net, ep]);
        }
        return async () => {
          for (const [net, ep] of put) await this.deleteEndpoint(net, ep).catch(() => {});
        };
      }
      case 'sandbox.remove':
      case 'disconnect': {
        const eps = change.kind === 'disconnect' ? [change.ep] : Object.values(change.sb.endpoints);
        for (const ep of eps) {
          const net = ctx.before.networks.get(ep.networkId);
          if (net?.scope !== 'global') continue;
          try {
            await this.deleteEndpoint(net, ep);
            await this.releaseAddresses(net, ep);
          } catch (e) {
            // The lease takes the endpoint away anyway; the address claim stays (logged).
            this.link.log(`cluster: withdrawing ${ep.ipv4 ?? ep.id} of ${change.sb.name}: ${(e as Error).message}`);
          }
        }
        return;
      }
      case 'network.remove': {
        // Removed here by the user (not following a removal seen in the store).
        if (change.net.scope === 'global' && this.view.networks.has(change.net.id)) await this.releaseNetwork(change.net);
        return;
      }
      case 'network.create':
        return;
    }
  }

  private async putEndpoint(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Promise<void> {
    const lease = this.lease;
    if (!lease) this.requireConnected(`publishing ${sb.name}`);
    const rec: RemoteEndpoint = {
      id: ep.id,
      networkId: net.id,
      sandboxId: sb.id,
      sandboxName: sb.name,
      aliases: ep.aliases,
      node: this.node.name,
      vtep: this.node.vtep,
      mac: ep.mac,
      ipv4: ep.ipv4,
      ipv6: ep.ipv6,
      created: sb.created || nowRfc3339Nano(),
    };
    await this.store.call(`publishing ${sb.name} on ${net.name}`, () => lease!.put(K.endpoint(net.id, ep.id)).value(JSON.stringify(rec)).exec());
  }

  private async deleteEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    await this.store.call(`withdrawing an endpoint of ${net.name}`, (c) => c.delete().key(K.endpoint(net.id, ep.id)).exec());
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await this.watcher?.cancel().catch(() => {});
    // A clean stop withdraws this node's endpoints at once instead of after the TTL.
    await this.lease?.revoke().catch(() => {});
    this.store.close();
  }
}

function addressesOf(ep: EndpointRecord): string[] {
  return [ep.ipv4, ep.ipv6].filter((a): a is string => !!a).map((a) => a.split('/')[0]!);
}

function globalNetsOf(change: Change): NetworkRecord[] {
  if ('net' in change) return change.net.scope === 'global' ? [change.net] : [];
  return [];
}

/** Name and subnet clashes with the cluster's other global networks. */
export function checkClusterConflicts(net: NetworkRecord, others: NetworkRecord[]): void {
  for (const o of others) {
    if (o.id === net.id) continue;
    if (o.name === net.name) {
      throw new YardError('NETWORK_EXISTS', `network with name ${net.name} already exists in the cluster`, { field: 'name', hint: 'pick another name' });
    }
    for (const p of net.ipam.config) {
      for (const q of o.ipam.config) {
        const a = parsePrefix(p.subnet);
        const b = parsePrefix(q.subnet);
        if (a && b && prefixesOverlap(a, b)) {
          throw new YardError('SUBNET_OVERLAP', `--subnet ${p.subnet} overlaps ${q.subnet} of overlay network ${o.name} in the cluster`, {
            field: '--subnet',
            hint: 'pick a subnet no other overlay network of the cluster uses',
          });
        }
      }
    }
  }
}

/** `4097,4100-4102` -> [4097, 4100, 4101, 4102] (bounded to 4096 entries). */
export function parseVniList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] ? Number(m[2]) : lo;
    if (!m || lo < 1 || hi > VNI_LAST || hi < lo || out.length + (hi - lo) > 4096) {
      throw new YardError('INVALID_ARGUMENT', `-o com.docker.network.driver.overlay.vxlanid_list=${text}: ${part} is not a VNI or range of VNIs (1-${VNI_LAST})`, {
        field: '-o com.docker.network.driver.overlay.vxlanid_list',
        hint: 'for example 4097 or 5000-5010',
      });
    }
    for (let v = lo; v <= hi; v++) out.push(v);
  }
  return out;
}

export function pickVni(net: NetworkRecord, used: ReadonlyMap<number, string>, others: NetworkRecord[]): number {
  const list = net.driverState.vniList ? parseVniList(String(net.driverState.vniList)) : null;
  if (list) {
    const free = list.find((v) => !used.has(v));
    if (free !== undefined) return free;
    const holders = list.slice(0, 3).map((v) => `${v} by ${others.find((o) => o.id === used.get(v))?.name ?? used.get(v)?.slice(0, 12)}`);
    throw new YardError('VNI_EXHAUSTED', `-o com.docker.network.driver.overlay.vxlanid_list=${net.driverState.vniList}: every VNI in it is in use (${holders.join(', ')})`, {
      field: '-o com.docker.network.driver.overlay.vxlanid_list',
      hint: 'remove the overlay network that holds it, or ask for another VNI',
    });
  }
  for (let v = VNI_FIRST, i = 0; v <= VNI_LAST && i < 1_000_000; v++, i++) if (!used.has(v)) return v;
  throw new YardError('VNI_EXHAUSTED', `no free VXLAN network identifier left (${used.size} in use)`, { hint: 'remove unused overlay networks' });
}
