/**
 * Networks: create (validate, reserve in the cluster for global ones, plan with the
 * driver, apply, participants, commit), adopt a global network another host created,
 * remove and prune (tombstone, best-effort teardown, forget).
 *
 * Public methods run in the engine's queue unless they say otherwise; `tearDown` is
 * called inside it (by remove, prune, reconcile and the cluster agent).
 */
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
  /** --ipam-opt: stored and shown as Docker does (the default IPAM acts on none). */
  ipamOptions?: Record<string, string>;
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
        plan: () => getDriver(net.driver).planCreate(net, this.core.planEnv()),
        commit: () => this.core.commitNetwork(net),
      });
      if (!req.dryRun) this.core.log(`network ${net.name} (${shortId(net.id)}) created`);
      return { net, plan: renderPlan(plan), warnings };
    });
  }

  private async validate(req: NetworkCreateRequest, opts: NetworkCreateOptions): Promise<{ net: NetworkRecord; warnings: string[] }> {
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
    const [env, routes] = await Promise.all([this.driverEnv(), this.core.kernel.readRoutes()]);
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
    const id = req.id === undefined ? newId() : validateId('network', req.id);
    if (this.core.state.networks.has(id)) {
      throw new YardError('NETWORK_EXISTS', `a network with ID ${shortId(id)} already exists`, { field: 'id', hint: 'remove it first, or give another ID' });
    }
    const net: NetworkRecord = {
      id,
      name,
      driver: driverName,
      scope: driver.scope,
      created: nowRfc3339Nano(),
      internal: intent.internal,
      attachable: intent.attachable,
      ipv6: intent.ipv6,
      ipam: { driver: 'default', options: validateLabels(req.ipamOptions, '--ipam-opt'), config: pools },
      options,
      labels: intent.labels,
      driverState: prepared.driverState,
      ...(opts.predefined ? { predefined: true } : {}),
    };
    if (driver.attach === 'interface' && driverName === 'bridge' && !net.driverState.bridge) net.driverState.bridge = `br-${id.slice(0, 12)}`;
    driver.finishNetwork?.(net, env);
    if (net.scope === 'global') this.core.requireCluster(net);
    return { net, warnings: prepared.warnings };
  }

  private async driverEnv(): Promise<DriverEnv> {
    const host = await this.core.kernel.readNamespace();
    return {
      instance: this.core.cfg.instance,
      networks: this.core.networks(),
      hostLinks: new Map([...host.links.values()].map((l) => [l.name, { alias: l.alias, kind: l.kind, mac: l.mac, addrs: l.addrs }])),
      linkKinds: this.core.linkKinds,
      underlay: this.core.underlay,
    };
  }

  /** Subnets taken: other networks', and routes in the daemon's namespace not made by us. */
  private usedSubnets(routes: RouteState[]): UsedSubnet[] {
    const used: UsedSubnet[] = [];
    const ours = new Set<string>();
    for (const n of this.core.networks()) {
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
    if (!live.deleting) this.core.store.tombstoneNetwork(live);
    const net: NetworkRecord = { ...live, deleting: true };
    this.core.state.networks.set(net.id, net);
    await this.core.applyRemoval({ kind: 'network.remove', net });
    const errors = await this.core.kernel.applyBestEffort(getDriver(net.driver).planDelete(net));
    for (const e of errors) if (!/Cannot find device|does not exist/.test(e)) this.core.log(`network ${net.name} teardown: ${e}`);
    this.core.store.deleteNetwork(net.id);
    this.core.state.networks.delete(net.id);
    this.core.log(`network ${net.name} (${shortId(net.id)}) removed`);
  }

  prune(filter: (n: NetworkRecord) => boolean = () => true): Promise<string[]> {
    return this.core.serial(async () => {
      const removed: string[] = [];
      // The cluster's gateway bridge is the way out of overlay sandboxes yet to come (as Docker's docker_gwbridge).
      const gateway = this.core.cluster?.gatewayNetwork?.()?.id;
      for (const net of this.core.networks()) {
        // Global networks may have endpoints on other hosts: they are removed explicitly.
        if (net.predefined || net.scope === 'global' || net.id === gateway || !filter(net) || this.core.endpointsOf(net.id).length) continue;
        await this.tearDown(net);
        removed.push(net.name);
      }
      return removed;
    });
  }
}
