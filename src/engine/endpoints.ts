/**
 * Endpoints: a sandbox's place on a network. Prepare one (checks, interface name,
 * addresses from the network's pools or from the cluster store for global networks),
 * the plan that brings a sandbox's namespace and endpoints up, connect and disconnect.
 */
import { step } from '../observe/steps.js';
import { YardError } from '../errors.js';
import { allocateAddress, macFromIPv4 } from '../ipam/allocator.js';
import { newId, validateId } from '../model/ids.js';
import type { EndpointRecord, NetworkRecord, RuntimeOwner, SandboxRecord } from '../model/types.js';
import { getDriver } from '../drivers/index.js';
import { checkIfname } from '../drivers/contract.js';
import { ipv6OffByDefaultOp, renderPlan, type Plan } from '../plan/ops.js';
import { validateAliases } from '../model/validate.js';
import { runChange } from './pipeline.js';
import type { EngineCore } from './core.js';
import { isDhcpNetwork, Leases } from './leases.js';
import { macForDhcpEndpoint } from '../ipam/dhcp.js';

export interface AttachRequest {
  network: string;
  /** The endpoint's ID (a runtime's own, e.g. Docker's); a new one by default. */
  endpointId?: string;
  /** The interface's name inside the sandbox, as a runtime asks (CNI_IFNAME); eth0, eth1, ... by default. */
  ifname?: string;
  /** The interface's MAC address as the runtime chose it (lowercase, colon-separated); from the IPv4 address by default. */
  mac?: string;
  ip?: string;
  ip6?: string;
  aliases?: string[];
  /** Docker's `--link NAME[:ALIAS]` on a user-defined network: ALIAS answers NAME's addresses to this sandbox only. */
  links?: string[];
  /** Docker's `--driver-opt key=value` (EndpointConfig.DriverOpts): kept and shown; IFNAME_DRIVER_OPT names the interface. */
  driverOpts?: Record<string, string>;
}

/** The endpoint option that names the sandbox's interface (Docker's key; Docker 20.10 keeps it without acting on it). */
export const IFNAME_DRIVER_OPT = 'com.docker.network.endpoint.ifname';
const LINK_NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_DRIVER_OPTS = 64;
const MAX_DRIVER_OPT_VALUE = 4096;

/**
 * `--link NAME[:ALIAS]` entries as Docker keeps them (ALIAS defaults to NAME). NAME need not
 * be on the network yet (Docker's rule): ALIAS answers whenever NAME is.
 */
export function validateLinks(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 64) throw new YardError('INVALID_ARGUMENT', '--link takes a list of at most 64 links', { field: '--link', hint: 'give --link NAME[:ALIAS] for each link' });
  return v.map((l) => {
    const parts = typeof l === 'string' ? l.split(':') : [];
    const [name, alias] = parts;
    if (!name || parts.length > 2 || (parts.length === 2 && !alias) || !LINK_NAME_RE.test(name)) {
      throw new YardError('INVALID_ARGUMENT', `--link ${JSON.stringify(l)} is not NAME[:ALIAS]`, { field: '--link', hint: 'give the sandbox name, optionally followed by :ALIAS, e.g. --link db:database' });
    }
    validateAliases([alias ?? name.replace(/^\//, '')], '--link');
    return l as string;
  });
}

/** `--driver-opt` values: plain strings, on one line. */
export function validateDriverOpts(v: Record<string, string> | undefined): Record<string, string> | undefined {
  if (v === undefined || !Object.keys(v).length) return undefined;
  const entries = Object.entries(v);
  if (entries.length > MAX_DRIVER_OPTS) throw new YardError('INVALID_ARGUMENT', `--driver-opt: ${entries.length} options, at most ${MAX_DRIVER_OPTS}`, { field: '--driver-opt', hint: 'give fewer options' });
  for (const [k, val] of entries) {
    if (!k || typeof val !== 'string' || val.length > MAX_DRIVER_OPT_VALUE || /[\u0000-\u001f\u007f]/.test(k + val)) {
      throw new YardError('INVALID_ARGUMENT', `--driver-opt ${JSON.stringify(k.slice(0, 40))}: the key is empty, or the value is not a plain string on one line of at most ${MAX_DRIVER_OPT_VALUE} characters`, {
        field: '--driver-opt',
        hint: 'give --driver-opt key=value',
      });
    }
  }
  return { ...v };
}

/** The interface a runtime takes over, while it is in the daemon's namespace: `yc` + 12 hex of the endpoint ID. */
export const handoverIfname = (endpointId: string) => `yc${endpointId.slice(0, 12)}`;

/**
 * The plan that readies an endpoint for a runtime to take over: the driver's join, made in
 * the daemon's namespace, without what the runtime does itself once it has moved the
 * interface (its addresses, bringing it up; the routes come from the gateway plan, not here).
 */
export function planHandover(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan {
  const own = (op: Plan[number]) => ('dev' in op && op.dev === ep.ifname) || ('name' in op && op.name === ep.ifname && !op.op.startsWith('link.add'));
  return getDriver(net.driver)
    .planJoin(net, { ...sb, netns: null }, ep)
    .filter((op) => !own(op));
}

function checkedIfname(name: string, used: Set<string>): string {
  checkIfname('ifname', name);
  if (used.has(name)) throw new YardError('INVALID_ARGUMENT', `the sandbox already has an interface ${name}`, { field: 'ifname', hint: 'give another interface name' });
  return name;
}

/** A runtime's sandbox changes only through that runtime (the Docker plugin removes it whole). */
export function refuseRuntimeOwned(sb: SandboxRecord, what: string): void {
  if (!sb.runtime) return;
  throw new YardError('RUNTIME_OWNED', `sandbox ${sb.name} belongs to ${sb.runtime.kind} and cannot be ${what} by Switchyard`, {
    hint: `use ${sb.runtime.kind}'s own command on the container (docker network connect/disconnect, docker rm -f)`,
  });
}

export class Endpoints {
  /** DHCP leases of endpoints on dhcp IPAM networks (acquire, renew, release). */
  readonly leases: Leases;

  constructor(private readonly core: EngineCore) {
    this.leases = new Leases(core, (sb, ep) => this.gatewayEndpoint(sb)?.id === ep.id);
  }

  /** Give endpoints on global networks their addresses from the cluster store. */
  async claimAddresses(sb: SandboxRecord, eps: EndpointRecord[]): Promise<void> {
    const claimed: [NetworkRecord, EndpointRecord][] = [];
    try {
      for (const ep of eps) {
        const net = this.core.state.networks.get(ep.networkId);
        if (net?.scope !== 'global') continue;
        await this.core.requireCluster(net).claimAddresses(net, sb, ep);
        claimed.push([net, ep]);
      }
    } catch (e) {
      await this.releaseAddresses(claimed.map(([, ep]) => ep));
      throw e;
    }
  }

  async releaseAddresses(eps: EndpointRecord[]): Promise<void> {
    for (const ep of eps) {
      const net = this.core.state.networks.get(ep.networkId);
      if (net?.scope === 'global') await this.core.cluster?.releaseAddresses(net, ep).catch((e) => this.core.log(`release ${ep.ipv4 ?? ep.id}: ${(e as Error).message}`));
    }
  }

  /** Validate and allocate an endpoint (no kernel work). */
  prepare(net: NetworkRecord, sb: SandboxRecord, req: AttachRequest, order: number): EndpointRecord {
    const driver = getDriver(net.driver);
    if (net.configOnly) {
      throw new YardError('NETWORK_MODE_EXCLUSIVE', `cannot create endpoint on configuration-only network`, {
        field: '--network',
        hint: `${net.name} only holds configuration: create a network from it (--config-from ${net.name}) and attach to that one`,
      });
    }
    if (sb.endpoints[net.id]) {
      throw new YardError('ALREADY_CONNECTED', `endpoint with name ${sb.name} already exists in network ${net.name}`, {
        hint: `the sandbox is already attached; disconnect it first to change its settings`,
      });
    }
    const others = Object.keys(sb.endpoints).map((id) => this.core.state.networks.get(id)).filter((n): n is NetworkRecord => !!n);
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
    const dhcp = isDhcpNetwork(net);
    if (dhcp && (req.ip || req.ip6)) {
      throw new YardError('INVALID_IP', `${req.ip ? `--ip ${req.ip}` : `--ip6 ${req.ip6}`}: network ${net.name} takes its addresses from the LAN's DHCP server (--ipam-driver dhcp)`, {
        field: req.ip ? '--ip' : '--ip6',
        hint: "omit --ip/--ip6 (reserve the address for the endpoint's MAC or client identifier on the DHCP server instead), or use a network with the default IPAM driver",
      });
    }
    if (dhcp && sb.runtime?.mode === 'handover') {
      throw new YardError('INVALID_ARGUMENT', `network ${net.name} takes its addresses from DHCP, which needs the interface inside the sandbox's namespace; ${sb.runtime.kind} moves it there itself`, {
        field: '--network',
        hint: 'use a network with the default IPAM driver for this runtime',
      });
    }
    if ((req.ip || req.ip6) && driver.attach !== 'interface') {
      throw new YardError('INVALID_IP', `network ${net.name} has no addresses to assign`, { field: req.ip ? '--ip' : '--ip6', hint: 'omit --ip/--ip6' });
    }
    driver.checkJoin?.(net, this.core.sandboxTable.memberCount(net.id));
    const inUse = this.core.sandboxTable.addressesOn(net.id);
    const aliases = validateAliases(req.aliases, '--alias');
    const links = validateLinks(req.links);
    if (links.length && (net.driverState.defaultBridge || driver.attach !== 'interface')) {
      throw new YardError('INVALID_ARGUMENT', `--link on network ${net.name}: links are answered by the embedded DNS of user-defined networks, and ${net.name} has none`, {
        field: '--link',
        hint: 'connect to a user-defined network (yard network create) with --link, or use --alias',
      });
    }
    const driverOpts = validateDriverOpts(req.driverOpts);
    const optIfname = driverOpts?.[IFNAME_DRIVER_OPT];
    if (optIfname !== undefined && req.ifname && optIfname !== req.ifname) {
      throw new YardError('INVALID_ARGUMENT', `--driver-opt ${IFNAME_DRIVER_OPT}=${optIfname} disagrees with the interface name ${req.ifname}`, { field: '--driver-opt', hint: 'give the interface name once' });
    }
    if (optIfname !== undefined) req = { ...req, ifname: optIfname };
    const id = req.endpointId === undefined ? newId() : validateId('endpoint', req.endpointId);
    const ep: EndpointRecord = { id, networkId: net.id, ifname: '', aliases, order, ...(links.length ? { links } : {}), ...(driverOpts ? { driverOpts } : {}) };
    if (driver.attach === 'interface') {
      const used = new Set(Object.values(sb.endpoints).map((e) => e.ifname));
      let i = 0;
      while (used.has(`eth${i}`)) i++;
      // A runtime's interface is made in the daemon's namespace under a name of its own,
      // for the runtime to move and rename (handover).
      ep.ifname = sb.runtime?.mode === 'handover' ? handoverIfname(id) : req.ifname ? checkedIfname(req.ifname, used) : `eth${i}`;
      ep.hostIfname = `yv${id.slice(0, 12)}`;
      const pools = net.ipam.config;
      if (dhcp) {
        // The address comes from the server once the link exists (Leases.acquireFor); the
        // MAC is the endpoint's own (ipvlan's is the parent's: nothing to choose).
        if (net.driver === 'macvlan') ep.mac = req.mac ?? macForDhcpEndpoint(id);
        return ep;
      }
      if (pools.some((p) => !p.subnet.includes(':')) || req.ip) {
        const a = allocateAddress({ networkName: net.name, pools, family: 4, inUse, requested: req.ip, field: '--ip' });
        ep.ipv4 = `${a.address}/${a.prefixLen}`;
        if (req.ip) ep.requestedIpv4 = req.ip;
        ep.mac = req.mac ?? macFromIPv4(a.address);
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
  gatewayEndpoint(sb: SandboxRecord, exclude?: string): EndpointRecord | undefined {
    return Object.values(sb.endpoints)
      .filter((ep) => ep.networkId !== exclude)
      .sort((a, b) => a.order - b.order)
      .find((ep) => {
        const net = this.core.state.networks.get(ep.networkId);
        // A DHCP endpoint still waiting for its lease will give the route its router gives.
        return net && (getDriver(net.driver).planGatewayRoutes(net, sb, ep).length > 0 || (isDhcpNetwork(net) && !ep.lease && !net.internal));
      });
  }
  /** Full plan to bring a sandbox's namespace and all its endpoints up (run and reconcile). */
  sandboxPlan(sb: SandboxRecord): Plan {
    if (sb.runtime?.mode === 'handover') {
      return Object.values(sb.endpoints).flatMap((ep) => {
        const net = this.core.state.networks.get(ep.networkId);
        return net ? planHandover(net, sb, ep) : [];
      });
    }
    if (!sb.netns) return [];
    // The namespace first, with its defaults set before any interface is made in it.
    const head: Plan = sb.runtime?.path
      ? [{ op: 'netns.attach', name: sb.netns, path: sb.runtime.source ?? sb.runtime.path }]
      : [{ op: 'netns.add', name: sb.netns }, ipv6OffByDefaultOp(sb.netns)];
    const plan: Plan = [{ op: 'link.set', ns: sb.netns, name: 'lo', up: true }];
    for (const ep of Object.values(sb.endpoints).sort((a, b) => a.order - b.order)) {
      const net = this.core.state.networks.get(ep.networkId);
      if (net) plan.push(...getDriver(net.driver).planJoin(net, sb, ep));
    }
    const gw = this.gatewayEndpoint(sb);
    if (gw) {
      const net = this.core.state.networks.get(gw.networkId)!;
      plan.push(...getDriver(net.driver).planGatewayRoutes(net, sb, gw));
    }
    // Host-namespace ops first, then everything inside the sandbox: the same order within
    // each namespace, but one `ip -batch` per namespace instead of one per endpoint.
    return [...head, ...plan.filter((op) => !('ns' in op) || !op.ns), ...plan.filter((op) => 'ns' in op && !!op.ns)];
  }

  /** `byRuntime`: the runtime that owns the sandbox connects it (netavark, CNI); users cannot. */
  connect(netRef: string, sbRef: string, req: Omit<AttachRequest, 'network'> = {}, dryRun = false, byRuntime?: RuntimeOwner['kind']): Promise<{ plan: string[] }> {
    return this.core.serial(async () => {
      const net = this.core.findNetwork(netRef);
      const sb = this.core.findSandbox(sbRef);
      if (!byRuntime || sb.runtime?.kind !== byRuntime || sb.runtime.mode !== 'configure') refuseRuntimeOwned(sb, 'connected to another network');
      const done = await this.connectOne(net, sb, req, dryRun);
      const plan = [...done.plan];
      // As at run: a sandbox whose only networks are overlays also joins the gateway bridge.
      for (const extra of this.core.cluster?.extraNetworks?.(this.core.networksOf(done.next)) ?? []) {
        if (done.next.endpoints[extra.id]) continue;
        try {
          plan.push(...(await this.connectOne(extra, done.next, {}, dryRun)).plan);
        } catch (e) {
          if (!dryRun) await this.disconnectOne(net, done.next, true).catch((u) => this.core.log(`undoing connect of ${done.next.name} to ${net.name}: ${(u as Error).message}`));
          throw e;
        }
      }
      return { plan };
    });
  }

  async connectOne(net: NetworkRecord, sb: SandboxRecord, req: Omit<AttachRequest, 'network'>, dryRun: boolean): Promise<{ plan: string[]; next: SandboxRecord }> {
    if (!sb.netns) {
      throw new YardError('NETWORK_MODE_EXCLUSIVE', `sandbox ${sb.name} is on the host network and cannot join network ${net.name}`, {
        hint: 'host and none networks cannot be combined with any other network',
      });
    }
    const order = Math.max(-1, ...Object.values(sb.endpoints).map((e) => e.order)) + 1;
    const ep = this.prepare(net, sb, { network: net.id, ...req }, order);
    const driver = getDriver(net.driver);
    const next: SandboxRecord = { ...sb, endpoints: { ...sb.endpoints, [net.id]: ep } };
    const netns = sb.netns;
    // The new address in the sandbox's hosts file is known once planned, unless a DHCP
    // server gives it: then the files follow the commit.
    const filesBeside = !isDhcpNetwork(net);
    const plan = await runChange(this.core.pipeline, {
      change: { kind: 'connect', sb: next, net, ep },
      what: `connecting ${sb.name} to ${net.name}`,
      dryRun,
      reserve: () => this.claimAddresses(sb, [ep]),
      release: () => this.releaseAddresses([ep]),
      acquire: () => this.leases.acquireFor(sb, [ep]),
      plan: () => {
        const p: Plan = [...driver.planJoin(net, sb, ep)];
        if (!this.gatewayEndpoint(sb) && this.gatewayEndpoint(next)?.id === ep.id) p.push(...driver.planGatewayRoutes(net, next, ep));
        return p;
      },
      ...(filesBeside
        ? {
            beside: async () => {
              await this.core.rewriteFiles(netns, next);
              return () => this.core.rewriteFiles(netns, sb);
            },
          }
        : {}),
      commit: () => this.core.commitSandbox(next),
      writeAhead: async () => {
        await this.core.store.putSandboxAsync(next);
        return () => this.core.store.putSandbox(sb);
      },
      remember: () => this.core.rememberSandbox(next),
    });
    if (!dryRun) {
      if (!filesBeside) {
        await this.core.rewriteFiles(netns, next);
        step('files');
      }
      this.leases.track(next);
    }
    return { plan: renderPlan(plan), next };
  }

  disconnect(netRef: string, sbRef: string, force = false, byRuntime?: RuntimeOwner['kind']): Promise<void> {
    return this.core.serial(async () => {
      const net = this.core.findNetwork(netRef);
      const sb = this.core.findSandbox(sbRef);
      if (!byRuntime || sb.runtime?.kind !== byRuntime || sb.runtime.mode !== 'configure') refuseRuntimeOwned(sb, 'disconnected');
      let next = await this.disconnectOne(net, sb, force);
      // The gateway bridge stays while an overlay needs it, and is added when the network
      // that gave an overlay sandbox its way out goes (unless it is what was disconnected).
      const gw = this.core.cluster?.gatewayNetwork?.();
      if (!next.netns || !this.core.cluster || net.id === gw?.id) return;
      const nets = this.core.networksOf(next);
      if (gw && next.endpoints[gw.id] && !nets.some((n) => n.scope === 'global')) next = await this.disconnectOne(gw, next, true);
      for (const extra of this.core.cluster.extraNetworks?.(nets) ?? []) {
        if (!next.endpoints[extra.id]) next = (await this.connectOne(extra, next, {}, false)).next;
      }
    });
  }

  async disconnectOne(net: NetworkRecord, sb: SandboxRecord, force: boolean): Promise<SandboxRecord> {
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
        const gnet = this.core.state.networks.get(gw.networkId)!;
        plan.push(...getDriver(gnet.driver).planGatewayRoutes(gnet, next, gw));
      }
    }
    // The record is written first: a failed write changes nothing, and a crash after it
    // leaves kernel objects the state no longer has, which reconcile removes.
    step('pre');
    this.core.store.putSandbox(next);
    step('put');
    // The lease goes back before the interface does (a crash in between: it expires at the server).
    if (ep.lease) await this.leases.release(sb, ep);
    await this.core.applyRemoval({ kind: 'disconnect', sb, net, ep });
    // The files (the address gone from hosts) are rewritten beside the kernel's change.
    const [errors] = await Promise.all([
      this.core.kernel.applyBestEffort(plan, { deferDeletes: true }),
      sb.netns ? this.core.rewriteFiles(sb.netns, next) : undefined,
    ]);
    step('kernel+files');
    for (const e of errors) this.core.log(`disconnect ${sb.name} from ${net.name}: ${e}`);
    this.core.state.sandboxes.set(sb.id, next);
    return next;
  }
}
