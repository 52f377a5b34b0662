/**
 * Networks: create (validate, reserve in the cluster for global ones, plan with the
 * driver, apply, participants, commit), adopt a global network another host created,
 * remove and prune (tombstone, best-effort teardown, forget).
 *
 * Public methods run in the engine's queue unless they say otherwise; `tearDown` is
 * called inside it (by remove, prune, reconcile and the cluster agent).
 */
import { step } from '../observe/steps.js';
import { YardError } from '../errors.js';
import { planIpam, type SubnetRequest, type UsedSubnet } from '../ipam/config.js';
import { newId, nowRfc3339Nano, shortId, validateId, validateName } from '../model/ids.js';
import type { NetworkRecord } from '../model/types.js';
import { getDriver } from '../drivers/index.js';
import { checkOptionKeys, type DriverEnv, type NetworkIntent } from '../drivers/contract.js';
import { renderPlan } from '../plan/ops.js';
import type { RouteState } from '../kernel/index.js';
import { validateLabels } from '../model/validate.js';
import { runChange } from './pipeline.js';
import { checkDhcpIpamOptions, DHCP_IPAM } from '../ipam/dhcp.js';
import { lookupTombstone, type EngineCore } from './core.js';

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
  /** The network's ID (a runtime's own, e.g. Docker's network ID); a new one by default. */
  id?: string;
  /** --ipam-driver: default (Switchyard's own pools), or dhcp (macvlan and ipvlan l2: the LAN's DHCP server). */
  ipamDriver?: string;
  /** --ipam-opt: stored and shown as Docker does (the default IPAM acts on none; dhcp takes timeout=SECONDS). */
  ipamOptions?: Record<string, string>;
  /** --scope: local, or global for overlay; empty or absent: the driver's own. */
  scope?: string;
  /** --config-only: store IPAM and options for networks created --config-from this one. */
  configOnly?: boolean;
  /** --config-from: the config-only network (name or ID) whose IPAM and options this one takes. */
  configFrom?: string;
}

/**
 * `--ipam-driver dhcp`: only where the sandbox sits on the LAN with a MAC or client
 * identifier of its own (macvlan, ipvlan l2), with no addresses of Switchyard's choosing.
 */
export function checkDhcpIntent(intent: NetworkIntent, ipamOptions: Record<string, string> | undefined): void {
  const refuse = (field: string, why: string, hint: string) => new YardError('INVALID_ARGUMENT', `--ipam-driver dhcp: ${why}`, { field, hint });
  if (intent.driver !== 'macvlan' && intent.driver !== 'ipvlan') {
    throw refuse('--ipam-driver', `the ${intent.driver} driver does not put sandboxes on a LAN with a DHCP server; only macvlan and ipvlan (l2) networks take addresses from DHCP`, 'use -d macvlan -o parent=<LAN interface>, or the default IPAM driver');
  }
  if (intent.driver === 'ipvlan' && (intent.options.ipvlan_mode ?? 'l2') !== 'l2') {
    throw refuse('-o ipvlan_mode', `ipvlan ${intent.options.ipvlan_mode} routes through this host, so the LAN's DHCP server never hears the sandboxes`, 'use ipvlan_mode=l2, or the default IPAM driver');
  }
  if (intent.ipam.length) {
    const c = intent.ipam[0]!;
    const flag = c.gateway ? '--gateway' : c.ipRange ? '--ip-range' : Object.keys(c.auxAddresses ?? {}).length ? '--aux-address' : '--subnet';
    throw refuse(flag, `the DHCP server chooses the addresses, the subnet and the gateway, so ${flag} cannot be given`, `omit --subnet, --gateway, --ip-range and --aux-address (configure them on the DHCP server)`);
  }
  if (intent.ipv6) throw refuse('--ipv6', 'Switchyard\'s DHCP client is DHCPv4 only', 'omit --ipv6');
  if (intent.internal) throw refuse('--internal', 'an --internal network has no uplink, so no DHCP server to ask', 'omit --internal, or use the default IPAM driver');
  if (intent.options.host_access !== undefined && intent.options.host_access !== 'false') {
    throw refuse('-o host_access', 'the host shim needs an address of a subnet known in advance', 'omit -o host_access, or use the default IPAM driver with the LAN\'s --subnet');
  }
  checkDhcpIpamOptions(ipamOptions);
}

/** Docker's refusals for config-only networks and networks created from them. */
const CONFIG_OPERATOR_FIELDS =
  'configuration network can only contain network specific fields. Network operator fields like [ ingress | internal | attachable | scope ] are not supported.';
const CONFIG_FROM_OWN = 'user specified configurations are not supported if the network depends on a configuration network';
const CONFIG_FROM_OPTIONS = 'network driver options are not supported if the network depends on a configuration network';

/**
 * The scope a network gets: the driver's, or `--scope` where it agrees. Switchyard never
 * runs in a swarm; global is the overlay driver's (the cluster store's) and nobody else's.
 */
export function networkScope(driverName: string, driverScope: NetworkRecord['scope'], asked: string | undefined): NetworkRecord['scope'] {
  if (asked === undefined || asked === '') return driverScope;
  if (asked === 'swarm') {
    throw new YardError('INVALID_ARGUMENT', '--scope swarm: cannot create a swarm scoped network when swarm is not active', {
      field: '--scope',
      hint: 'Switchyard has no swarm mode: omit --scope (or use --scope local; overlay networks are global through the cluster store)',
    });
  }
  if (asked === 'local') {
    if (driverScope !== 'local') {
      throw new YardError('INVALID_ARGUMENT', `--scope local: cannot downgrade network scope for ${driverName} networks`, {
        field: '--scope',
        hint: `${driverName} networks are ${driverScope}: omit --scope`,
      });
    }
    return 'local';
  }
  if (asked === 'global') {
    if (driverScope !== 'global') {
      throw new YardError('INVALID_ARGUMENT', `--scope global: ${driverName} networks exist on one host only; only overlay networks are global (shared through the cluster store)`, {
        field: '--scope',
        hint: 'omit --scope, or create an overlay network (-d overlay) for a network across hosts',
      });
    }
    return 'global';
  }
  throw new YardError('INVALID_ARGUMENT', `--scope ${asked} is not a scope`, { field: '--scope', hint: 'use local, or global for overlay networks' });
}

export interface NetworkCreated {
  net: NetworkRecord;
  /** The plan as text: applied, or only planned for a dry run. */
  plan: string[];
  warnings: string[];
}

export interface NetworkCreateOptions {
  /** One of bridge, host, none: created by the daemon itself, never removable. */
  predefined?: boolean;
  isDefaultBridge?: boolean;
}

export class Networks {
  constructor(private readonly core: EngineCore) {}

  create(req: NetworkCreateRequest, opts: NetworkCreateOptions = {}): Promise<NetworkCreated> {
    return this.core.serial(async () => {
      const { net, warnings } = await this.validate(req, opts);
      const global = net.scope === 'global';
      const plan = await runChange(this.core.pipeline, {
        change: { kind: 'network.create', net },
        what: `creating network ${net.name}`,
        dryRun: req.dryRun,
        // The cluster store checks the name and subnets cluster-wide and allocates the VNI.
        reserve: async () => {
          if (global) await this.core.requireCluster(net).reserveNetwork(net);
        },
        release: async () => {
          if (global) await this.core.cluster?.releaseNetwork(net).catch((e) => this.core.log(`release ${net.name}: ${(e as Error).message}`));
        },
        // A config-only network has no kernel objects.
        plan: () => (net.configOnly ? [] : getDriver(net.driver).planCreate(net, this.core.planEnv())),
        commit: () => this.core.commitNetwork(net),
        writeAhead: async () => {
          await this.core.store.putNetworkAsync(net);
          return () => this.core.store.deleteNetwork(net.id);
        },
        remember: () => this.core.rememberNetwork(net),
      });
      if (!req.dryRun) this.core.log(`network ${net.name} (${shortId(net.id)}) created`);
      return { net, plan: renderPlan(plan), warnings };
    });
  }

  private async validate(req: NetworkCreateRequest, opts: NetworkCreateOptions): Promise<{ net: NetworkRecord; warnings: string[] }> {
    if (req.configOnly) return this.validateConfigOnly(req);
    if (req.configFrom !== undefined && req.configFrom !== '') req = this.fromConfig(req);
    const name = validateName('network', req.name);
    const driverName = req.driver || 'bridge';
    if (!opts.predefined && ['bridge', 'host', 'none'].includes(name)) {
      throw new YardError('NETWORK_PREDEFINED', `${name} is a pre-defined network and cannot be created`, {
        field: 'name',
        hint: 'pick another name',
      });
    }
    if (this.core.networks().some((n) => n.name === name)) {
      throw new YardError('NETWORK_EXISTS', `network with name ${name} already exists`, { field: 'name', hint: 'pick another name, or remove the existing network first' });
    }
    const driver = getDriver(driverName);
    const scope = networkScope(driverName, driver.scope, req.scope);
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
    const ipamDriver = req.ipamDriver || 'default';
    if (ipamDriver !== 'default' && ipamDriver !== DHCP_IPAM) {
      throw new YardError('UNKNOWN_DRIVER', `plugin ${JSON.stringify(ipamDriver)} not found`, { field: '--ipam-driver', hint: 'Switchyard has the default IPAM driver and dhcp (macvlan, ipvlan l2): omit --ipam-driver or give one of these' });
    }
    const dhcp = ipamDriver === DHCP_IPAM;
    if (dhcp) checkDhcpIntent(intent, req.ipamOptions);
    // Both kernel reads at once: each is an `ip` spawn.
    step('checks');
    const [env, routes] = await Promise.all([this.driverEnv(driver.hostLinksRead?.(intent)), this.core.kernel.readRoutes()]);
    step('read-host');
    const prepared = opts.predefined && driver.attach !== 'interface'
      ? { driverState: {}, needsGateway: false, hasIpam: false, warnings: [] }
      : driver.prepareNetwork(intent, env);
    if (!prepared.hasIpam && intent.ipam.length) {
      throw new YardError('INVALID_ARGUMENT', `the ${driverName} driver has no addresses`, { field: '--subnet', hint: 'omit --subnet/--gateway/--ip-range' });
    }
    const pools = prepared.hasIpam && !dhcp
      ? planIpam(
          { networkName: name, configs: intent.ipam, enableIPv6: intent.ipv6, needsGateway: prepared.needsGateway },
          { used: this.usedSubnets(prepared.ignoreHostRoutes ? [] : routes) },
        )
      : [];
    step('ipam');
    const id = req.id === undefined ? newId() : validateId('network', req.id);
    if (this.core.state.networks.has(id)) {
      throw new YardError('NETWORK_EXISTS', `a network with ID ${shortId(id)} already exists`, { field: 'id', hint: 'remove it first, or give another ID' });
    }
    const net: NetworkRecord = {
      id,
      name,
      driver: driverName,
      scope,
      created: nowRfc3339Nano(),
      internal: intent.internal,
      attachable: intent.attachable,
      ipv6: intent.ipv6,
      ipam: { driver: ipamDriver, options: req.ipamOptions === undefined ? null : validateLabels(req.ipamOptions, '--ipam-opt'), config: pools },
      options,
      labels: intent.labels,
      driverState: prepared.driverState,
      ...(opts.predefined ? { predefined: true } : {}),
      ...(req.configFrom ? { configFrom: req.configFrom } : {}),
    };
    if (driver.attach === 'interface' && driverName === 'bridge' && !net.driverState.bridge) net.driverState.bridge = `br-${id.slice(0, 12)}`;
    driver.finishNetwork?.(net, env);
    if (net.scope === 'global') this.core.requireCluster(net);
    return { net, warnings: prepared.warnings };
  }

  /**
   * A config-only network (Docker's --config-only): IPAM and options kept as given for the
   * networks created --config-from it; driver null, no kernel objects, no endpoints. Its
   * subnets are checked for form only: they are taken by the network created from it.
   */
  private validateConfigOnly(req: NetworkCreateRequest): { net: NetworkRecord; warnings: string[] } {
    const name = validateName('network', req.name);
    if (req.ipamDriver && req.ipamDriver !== 'default') {
      throw new YardError('INVALID_ARGUMENT', `--ipam-driver ${req.ipamDriver} cannot be combined with --config-only`, { field: '--ipam-driver', hint: 'give --ipam-driver on the network itself' });
    }
    if (req.configFrom) {
      throw new YardError('INVALID_ARGUMENT', 'a configuration network cannot depend on another configuration network', { field: '--config-from', hint: 'omit --config-from with --config-only' });
    }
    if (req.internal || req.attachable || (req.scope !== undefined && req.scope !== '')) {
      const flag = req.internal ? '--internal' : req.attachable ? '--attachable' : '--scope';
      throw new YardError('INVALID_ARGUMENT', CONFIG_OPERATOR_FIELDS, { field: flag, hint: `omit ${flag} with --config-only` });
    }
    if (['bridge', 'host', 'none'].includes(name)) {
      throw new YardError('NETWORK_PREDEFINED', `${name} is a pre-defined network and cannot be created`, { field: 'name', hint: 'pick another name' });
    }
    if (this.core.networks().some((n) => n.name === name)) {
      throw new YardError('NETWORK_EXISTS', `network with name ${name} already exists`, { field: 'name', hint: 'pick another name, or remove the existing network first' });
    }
    const options = { ...(req.options ?? {}) };
    // Every value is checked as for a driver that knows every key: the driver is only known at --config-from.
    checkOptionKeys({ ...getDriver('null'), optionKeys: Object.keys(options) }, options);
    const pools = planIpam({ networkName: name, configs: req.ipam ?? [], enableIPv6: !!req.ipv6, needsGateway: false }, { used: [] });
    const id = req.id === undefined ? newId() : validateId('network', req.id);
    const net: NetworkRecord = {
      id,
      name,
      driver: 'null',
      scope: 'local',
      created: nowRfc3339Nano(),
      internal: false,
      attachable: false,
      ipv6: !!req.ipv6,
      ipam: { driver: 'default', options: req.ipamOptions === undefined ? null : validateLabels(req.ipamOptions, '--ipam-opt'), config: pools },
      options,
      labels: validateLabels(req.labels),
      driverState: {},
      configOnly: true,
    };
    return { net, warnings: [] };
  }

  /** --config-from: the request with the config-only network's IPAM, options and labels (Docker refuses any of its own). */
  private fromConfig(req: NetworkCreateRequest): NetworkCreateRequest {
    const ref = req.configFrom!;
    const cfg = this.core.networks().find((n) => n.configOnly && (n.name === ref || n.id === ref));
    if (!cfg) {
      throw new YardError('NETWORK_NOT_FOUND', `configuration network ${JSON.stringify(ref)} does not exist`, {
        field: '--config-from',
        hint: 'name a network created with --config-only (yard network ls shows them with driver null)',
      });
    }
    if (req.ipam?.length || req.ipv6 || Object.keys(req.labels ?? {}).length || Object.keys(req.ipamOptions ?? {}).length) {
      const flag = req.ipam?.length ? '--subnet' : req.ipv6 ? '--ipv6' : Object.keys(req.labels ?? {}).length ? '--label' : '--ipam-opt';
      throw new YardError('INVALID_ARGUMENT', CONFIG_FROM_OWN, { field: flag, hint: `omit ${flag}: the network takes its configuration from ${cfg.name}` });
    }
    if (Object.keys(req.options ?? {}).length) {
      throw new YardError('INVALID_ARGUMENT', CONFIG_FROM_OPTIONS, { field: '--opt', hint: `omit -o: the network takes its options from ${cfg.name}` });
    }
    return {
      ...req,
      configFrom: cfg.name,
      ipv6: cfg.ipv6,
      options: { ...cfg.options },
      labels: { ...cfg.labels },
      ...(cfg.ipam.options ? { ipamOptions: { ...cfg.ipam.options } } : {}),
      ipam: cfg.ipam.config.map((p) => ({ subnet: p.subnet, gateway: p.gateway, ipRange: p.ipRange, auxAddresses: { ...p.auxAddresses } })),
    };
  }

  /** What the driver sees of the host: every link of the daemon's namespace, or only `links` when the driver names them. */
  private async driverEnv(links?: readonly string[]): Promise<DriverEnv> {
    const host = links ? await this.core.kernel.readLinks(links) : (await this.core.kernel.readNamespace()).links;
    return {
      instance: this.core.cfg.instance,
      networks: this.core.networks(),
      hostLinks: new Map([...host.values()].map((l) => [l.name, { alias: l.alias, kind: l.kind, mac: l.mac, addrs: l.addrs }])),
      linkKinds: this.core.linkKinds,
      underlay: this.core.underlay,
    };
  }

  /** Subnets taken: other networks', and routes in the daemon's namespace not made by us. */
  private usedSubnets(routes: RouteState[]): UsedSubnet[] {
    const used: UsedSubnet[] = [];
    const ours = new Set<string>();
    for (const n of this.core.networks()) {
      if (n.configOnly) continue; // its subnets belong to the networks created from it
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

  remove(ref: string): Promise<void> {
    return this.core.serial(async () => {
      let net: NetworkRecord;
      try {
        net = this.core.findNetwork(ref);
      } catch (e) {
        // A removal whose last step failed (its record could not be deleted) is finished.
        const unfinished = lookupTombstone([...this.core.state.networks.values()], ref);
        if (unfinished) return this.tearDown(unfinished);
        throw e;
      }
      if (net.predefined) {
        throw new YardError('NETWORK_PREDEFINED', `${net.name} is a pre-defined network and cannot be removed`, {
          hint: 'pre-defined networks (bridge, host, none) always exist',
        });
      }
      const eps = this.core.endpointsOf(net.id);
      if (eps.length) {
        throw new YardError('NETWORK_IN_USE', `error while removing network: network ${net.name} id ${net.id} has active endpoints (${eps.map((e) => e.sb.name).join(', ')})`, {
          hint: `disconnect or remove those sandboxes first (yard network disconnect ${net.name} <sandbox>)`,
        });
      }
      const user = net.configOnly && this.core.networks().find((n) => n.configFrom === net.name && !n.deleting);
      if (user) {
        throw new YardError('NETWORK_IN_USE', `error while removing network: configuration network ${JSON.stringify(net.name)} is in use`, {
          hint: `remove the networks created --config-from it first (${user.name})`,
        });
      }
      if (net.scope === 'global') await this.core.requireCluster(net).checkRemovable(net);
      await this.tearDown(net);
    });
  }

  /**
   * Take in a global network another host created (the overlay agent calls this for every
   * network it finds in the cluster store): same record and ID, no validation, local
   * kernel objects and participants as for a create.
   */
  adopt(net: NetworkRecord): Promise<void> {
    return this.core.serial(async () => {
      if (this.core.state.networks.has(net.id)) return;
      // Another host validated and reserved it: straight to the plan.
      await runChange({ ...this.core.pipeline, validate: async () => {} }, {
        change: { kind: 'network.create', net },
        what: `adopting network ${net.name}`,
        plan: () => getDriver(net.driver).planCreate(net, this.core.planEnv()),
        commit: () => this.core.commitNetwork(net),
      });
      this.core.log(`network ${net.name} (${shortId(net.id)}) adopted from the cluster store`);
    });
  }

  /**
   * Tombstone, teardown, forget. Also used by reconcile to finish an interrupted removal.
   * The tombstone is written before anything is touched (a failed write changes nothing);
   * if the record cannot be deleted at the end, the tombstone stays, on disk and in
   * memory, and a retry (or the next start) finishes the removal.
   */
  async tearDown(live: NetworkRecord): Promise<void> {
    step('pre');
    if (!live.deleting) this.core.store.tombstoneNetwork(live);
    step('tombstone');
    const net: NetworkRecord = { ...live, deleting: true };
    this.core.state.networks.set(net.id, net);
    await this.core.applyRemoval({ kind: 'network.remove', net });
    const errors = await this.core.kernel.applyBestEffort(net.configOnly ? [] : getDriver(net.driver).planDelete(net), { deferDeletes: true });
    step('kernel');
    for (const e of errors) if (!/Cannot find device|does not exist/.test(e)) this.core.log(`network ${net.name} teardown: ${e}`);
    this.core.store.deleteNetwork(net.id);
    step('delete');
    this.core.state.networks.delete(net.id);
    this.core.log(`network ${net.name} (${shortId(net.id)}) removed`);
  }

  prune(filter: (n: NetworkRecord) => boolean = () => true): Promise<string[]> {
    return this.core.serial(async () => {
      const removed: string[] = [];
      // The cluster's gateway bridge is the way out of overlay sandboxes yet to come (as Docker's docker_gwbridge).
      const gateway = this.core.cluster?.gatewayNetwork?.()?.id;
      // Config-only networks last: the networks created from them may go first.
      for (const net of [...this.core.networks()].sort((a, b) => Number(!!a.configOnly) - Number(!!b.configOnly))) {
        // Global networks may have endpoints on other hosts: they are removed explicitly.
        if (net.predefined || net.scope === 'global' || net.id === gateway || !filter(net) || this.core.endpointsOf(net.id).length) continue;
        if (net.configOnly && this.core.networks().some((n) => n.configFrom === net.name && !n.deleting && !removed.includes(n.name))) continue;
        await this.tearDown(net);
        removed.push(net.name);
      }
      return removed;
    });
  }
}
