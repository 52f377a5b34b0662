/**
 * Start-up reconcile: the state is the truth, the kernel is made to match it.
 *  1. finish removals that a crash interrupted (tombstones);
 *  2. create the predefined networks on first start (bridge, host, none);
 *  3. re-create whatever the kernel lacks for each network and sandbox (only the missing
 *     ops: see plan/diff.ts);
 *  4. remove Switchyard-owned leftovers the state does not know: sandbox namespaces with
 *     this instance's prefix, links marked `switchyard:<instance>:`, endpoint veths,
 *     stray `ethN` links inside sandbox namespaces, sandbox directories.
 *
 * Damaged records are quarantined by the store and never acted on: whatever they might
 * describe (the namespace their file name points at, links marked with their network ID,
 * any endpoint veth when a sandbox record is lost) is left alone, not removed as a
 * leftover. A state directory that cannot be written does not stop reconcile: each failed
 * write is reported and the daemon still serves.
 */
import fs from 'node:fs';
import path from 'node:path';
import { getDriver } from '../drivers/index.js';
import { hostVethName } from '../drivers/bridge.js';
import { missingOps, type ObservedNs } from '../plan/diff.js';
import type { Plan } from '../plan/ops.js';
import { renderPlan } from '../plan/ops.js';
import { RUNTIME_NETNS_INFIX, sandboxNetnsName, sandboxNetnsPrefix } from '../paths.js';
import type { Engine } from './engine.js';
import { handoverIfname, planHandover } from './endpoints.js';
import type { SandboxRecord } from '../model/types.js';

export interface ReconcileReport {
  /** Damaged state files set aside (and where to), never acted on. */
  quarantined?: string[];
  finishedRemovals: string[];
  created: string[];
  repaired: string[];
  leftoversRemoved: string[];
  errors: string[];
}

export const DEFAULT_BRIDGE_SUBNET = '172.17.0.0/16';

export async function reconcile(engine: Engine): Promise<ReconcileReport> {
  return engine.serial(() => reconcileNow(engine));
}

async function reconcileNow(engine: Engine): Promise<ReconcileReport> {
  const report: ReconcileReport = { finishedRemovals: [], created: [], repaired: [], leftoversRemoved: [], errors: [] };
  const { state, kernel, cfg } = engine;
  const damaged = engine.store.quarantined();
  report.quarantined = damaged.map((q) => `${q.kind} ${q.file}: ${q.reason}${q.movedTo ? `; moved to ${q.movedTo}` : '; left in place (read-only)'}`);
  const damagedIds = damaged.filter((q) => q.id).map((q) => q.id!);
  const protectedNs = new Set(damaged.filter((q) => q.kind === 'sandbox' && q.id).flatMap((q) => [sandboxNetnsName(cfg.instance, q.id!), sandboxNetnsName(cfg.instance, q.id!, true)]));
  // A lost sandbox record may own any endpoint veth: none is removed while one is quarantined.
  const vethsUnattributable = damaged.some((q) => q.kind === 'sandbox');

  for (const sb of [...state.sandboxes.values()].filter((s) => s.deleting)) {
    try {
      await engine.tearDownSandbox(sb);
      report.finishedRemovals.push(`sandbox ${sb.name}`);
    } catch (e) {
      report.errors.push(`finishing the removal of sandbox ${sb.name}: ${(e as Error).message}`);
    }
  }
  for (const net of [...state.networks.values()].filter((n) => n.deleting)) {
    try {
      await engine.tearDownNetwork(net);
      report.finishedRemovals.push(`network ${net.name}`);
    } catch (e) {
      report.errors.push(`finishing the removal of network ${net.name}: ${(e as Error).message}`);
    }
  }

  // Networks: read the daemon's namespace once, apply what is missing.
  let host = await kernel.readNamespace();
  const seen = new Map<string, ObservedNs>([['', host]]);
  // Namespaces where something was re-created: their routes are re-applied (see missingOps).
  const touched = new Set<string>();
  for (const net of engine.networks()) {
    if (net.configOnly) continue; // IPAM and options only: nothing in the kernel
    const plan = missingOps(getDriver(net.driver).planCreate(net, engine.planEnv()), seen, touched);
    if (!plan.length) continue;
    await applyReport(engine, plan, `network ${net.name}`, report);
  }

  // Sandboxes: each namespace read back and completed (or created again).
  host = await kernel.readNamespace();
  seen.set('', host);
  const stray: Plan = [];
  for (const stored of engine.sandboxes()) {
    let sb = stored;
    const now = engine.refresh(stored);
    if (now !== stored) {
      try {
        engine.store.putSandbox(now);
        state.sandboxes.set(now.id, now);
        sb = now;
      } catch (e) {
        report.errors.push(`sandbox ${sb.name}: recording that its process exited: ${(e as Error).message}`);
      }
    }
    for (const ep of Object.values(sb.endpoints)) {
      if (!state.networks.has(ep.networkId)) report.errors.push(`sandbox ${sb.name}: its endpoint ${ep.ifname || ep.id.slice(0, 12)} is on network ${ep.networkId.slice(0, 12)}, which is not in the state; left as it is`);
    }
    if (sb.runtime) {
      await reconcileRuntimeSandbox(engine, sb, seen, touched, report);
      continue;
    }
    if (!sb.netns) continue;
    const ns = await kernel.readNamespace(sb.netns);
    seen.set(sb.netns, ns);
    const plan = missingOps(engine.sandboxPlan(sb), seen, touched);
    if (plan.length) {
      await applyReport(engine, plan, `sandbox ${sb.name}`, report);
      await kernel.writeSandboxFiles(sb.netns, engine.sandboxFiles(sb));
    }
    // An interface of ours the record no longer has (a disconnect the daemon was killed in).
    const own = new Set(Object.values(sb.endpoints).map((ep) => ep.ifname));
    for (const l of ns.links.values()) {
      if (/^eth\d+$/.test(l.name) && !own.has(l.name)) stray.push({ op: 'link.del', ns: sb.netns, name: l.name });
    }
  }
  if (stray.length) {
    report.errors.push(...(await kernel.applyBestEffort(stray)));
    report.leftoversRemoved.push(...renderPlan(stray));
  }

  // Leftovers.
  const prefix = sandboxNetnsPrefix(cfg.instance);
  const knownNs = new Set(engine.sandboxes().map((s) => s.netns).filter(Boolean));
  for (const ns of kernel.listNetns()) {
    if (!ns.startsWith(prefix) || knownNs.has(ns)) continue;
    if (protectedNs.has(ns)) continue;
    if (ns.startsWith(`${prefix}${RUNTIME_NETNS_INFIX}`)) {
      // A runtime's namespace attached under our name: only the attachment is ours.
      report.errors.push(...(await kernel.applyBestEffort([{ op: 'netns.del', name: ns }])));
      report.leftoversRemoved.push(`attachment ${ns}`);
      continue;
    }
    await kernel.killNetnsProcesses(ns);
    report.errors.push(...(await kernel.applyBestEffort([{ op: 'netns.del', name: ns }])));
    kernel.removeSandboxFiles(ns);
    report.leftoversRemoved.push(`namespace ${ns}`);
  }
  for (const dir of kernel.listSandboxFileDirs()) {
    if (dir.startsWith(prefix) && !knownNs.has(dir) && !protectedNs.has(dir)) kernel.removeSandboxFiles(dir);
  }
  // Per-sandbox directories (output logs) of sandboxes the state does not know.
  const sbDir = path.join(cfg.stateDir, 'sandboxes');
  const knownIds = new Set([...state.sandboxes.keys(), ...damagedIds]);
  try {
    for (const f of fs.readdirSync(sbDir)) {
      const m = /^([0-9a-f]{64})\.d$/.exec(f);
      if (m && !knownIds.has(m[1]!)) {
        fs.rmSync(path.join(sbDir, f), { recursive: true, force: true });
        report.leftoversRemoved.push(`directory ${path.join(sbDir, f)}`);
      }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') report.errors.push(`sandbox directories: ${(e as Error).message}`);
  }
  host = await kernel.readNamespace();
  const mark = `switchyard:${cfg.instance}:`;
  const knownNets = new Set(engine.networks().map((n) => n.id));
  const knownVeths = new Set(engine.sandboxes().flatMap((s) => Object.values(s.endpoints).map((e) => e.hostIfname ?? hostVethName(e.id))));
  const stale: Plan = [];
  for (const l of host.links.values()) {
    const netId = l.alias?.startsWith(mark) ? l.alias.slice(mark.length) : undefined;
    if (netId !== undefined) {
      if (!knownNets.has(netId) && !damagedIds.includes(netId)) stale.push({ op: 'link.del', name: l.name });
    } else if (/^yv[0-9a-f]{12}$/.test(l.name) && !knownVeths.has(l.name) && !vethsUnattributable) stale.push({ op: 'link.del', name: l.name });
  }
  if (!vethsUnattributable) stale.push(...orphanHandoverLinks(engine, host));
  if (stale.length) {
    // A leftover namespace deleted above takes its veths with it, but the kernel does that
    // asynchronously: a link read back a moment ago may be gone by now, which is success.
    const errors = await kernel.applyBestEffort(stale);
    report.errors.push(...errors.filter((e) => !/Cannot find device/.test(e)));
    report.leftoversRemoved.push(...renderPlan(stale));
  }
  return report;
}

/**
 * A runtime's sandbox: its namespace is the runtime's. When the namespace is gone without a
 * Leave (a container killed while the daemon was down, a runtime that crashed), the
 * endpoints are released (addresses, ports, records). Otherwise what is missing is made
 * again: the interface a runtime has not taken yet (handover), or the attachment under our
 * name and whatever the kernel lacks in it (configure). Nothing else is touched in the
 * runtime's namespace: its other interfaces are the runtime's.
 */
async function reconcileRuntimeSandbox(engine: Engine, sb: SandboxRecord, seen: Map<string, ObservedNs>, touched: Set<string>, report: ReconcileReport): Promise<void> {
  const host = seen.get('');
  if (host && namespaceGone(engine, sb, host)) {
    await releaseRuntimeSandbox(engine, sb, report);
    return;
  }
  if (sb.runtime?.mode === 'handover' && sb.runtime.path) return;
  if (sb.netns) seen.set(sb.netns, await engine.kernel.readNamespace(sb.netns));
  const plan = missingOps(engine.sandboxPlan(sb), seen, touched);
  if (plan.length) await applyReport(engine, plan, `sandbox ${sb.name}`, report);
}

/**
 * Has the runtime's namespace gone? Configure mode: its file no longer names the namespace
 * attached under our name. Handover mode, once joined: a host-side link of a veth is
 * missing (the namespace took the pair down with it; a macvlan or ipvlan child has no host
 * side, and is released when the runtime says Leave and DeleteEndpoint).
 */
function namespaceGone(engine: Engine, sb: SandboxRecord, host: ObservedNs): boolean {
  const rt = sb.runtime;
  if (!rt?.path) return false;
  if (rt.mode === 'configure') {
    // A path in the runtime's own mount namespace cannot be watched from here.
    if (rt.source) return false;
    const theirs = engine.kernel.netnsIdentity(rt.path);
    const ours = sb.netns ? engine.kernel.netnsIdentity(sb.netns) : undefined;
    return !theirs || (!!ours && ours !== theirs);
  }
  return Object.values(sb.endpoints).some((ep) => {
    const net = engine.state.networks.get(ep.networkId);
    const veth = net && planHandover(net, sb, ep).find((op) => op.op === 'link.add.veth');
    return !!veth && veth.op === 'link.add.veth' && !host.links.has(veth.name);
  });
}

async function releaseRuntimeSandbox(engine: Engine, sb: SandboxRecord, report: ReconcileReport): Promise<void> {
  try {
    await engine.tearDownSandbox(sb);
    report.finishedRemovals.push(`sandbox ${sb.name}: its ${sb.runtime!.kind} namespace ${sb.runtime!.path} is gone; endpoint released`);
  } catch (e) {
    report.errors.push(`releasing sandbox ${sb.name} (its ${sb.runtime!.kind} namespace is gone): ${(e as Error).message}`);
  }
}

/**
 * Interfaces made for a runtime to take over (`yc<12 hex>`) that are back in the daemon's
 * namespace with no endpoint left: a runtime gives a macvlan or ipvlan interface back when
 * it destroys the container's namespace, which may be after it removed the endpoint.
 */
function orphanHandoverLinks(engine: Engine, host: ObservedNs): Plan {
  const known = new Set([...engine.state.sandboxes.values()].flatMap((s) => Object.keys(s.endpoints).map((n) => handoverIfname(s.endpoints[n]!.id))));
  return [...host.links.keys()].filter((name) => /^yc[0-9a-f]{12}$/.test(name) && !known.has(name)).map((name) => ({ op: 'link.del' as const, name }));
}

/**
 * While the daemon runs: release the runtime sandboxes whose namespace is gone without a
 * Leave (the daemon calls this every few seconds while any is joined). Returns what it did.
 */
export async function releaseGoneRuntimeSandboxes(engine: Engine): Promise<ReconcileReport> {
  const report: ReconcileReport = { finishedRemovals: [], created: [], repaired: [], leftoversRemoved: [], errors: [] };
  return engine.serial(async () => {
    const host = await engine.kernel.readNamespace();
    for (const sb of engine.sandboxes()) if (namespaceGone(engine, sb, host)) await releaseRuntimeSandbox(engine, sb, report);
    const orphans = orphanHandoverLinks(engine, host);
    if (orphans.length) {
      report.errors.push(...(await engine.kernel.applyBestEffort(orphans)).filter((e) => !/Cannot find device/.test(e)));
      report.leftoversRemoved.push(...renderPlan(orphans));
    }
    return report;
  });
}

/** After the kernel: every participant (firewall, DNS) rebuilds its part from the state. */
export async function reconcileParticipants(engine: Engine, report: ReconcileReport): Promise<void> {
  for (const p of engine.participants) {
    try {
      await engine.serial(async () => p.reconcile?.(engine.link));
    } catch (e) {
      report.errors.push(`${p.name}: ${(e as Error).message}`);
    }
  }
}

async function applyReport(engine: Engine, plan: Plan, what: string, report: ReconcileReport) {
  try {
    await engine.kernel.apply(plan);
    report.repaired.push(`${what}: ${renderPlan(plan).join('; ')}`);
  } catch (e) {
    report.errors.push(`${what}: ${(e as Error).message}`);
  }
}

/** First start: Docker's three predefined networks. */
export async function ensurePredefined(engine: Engine, report: ReconcileReport): Promise<void> {
  const names = new Set(engine.networks().map((n) => n.name));
  if (!names.has('bridge')) {
    const { net } = await engine.createNetwork(
      {
        name: 'bridge',
        driver: 'bridge',
        ipam: [{ subnet: engine.cfg.defaultBridgeSubnet || DEFAULT_BRIDGE_SUBNET }],
        options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
          'com.docker.network.bridge.name': 'yard0',
          'com.docker.network.driver.mtu': '1500',
        },
      },
      { predefined: true, isDefaultBridge: true },
    );
    report.created.push(`network bridge (${net.ipam.config.map((p) => p.subnet).join(', ')})`);
  }
  if (!names.has('host')) {
    await engine.createNetwork({ name: 'host', driver: 'host' }, { predefined: true });
    report.created.push('network host');
  }
  if (!names.has('none')) {
    await engine.createNetwork({ name: 'none', driver: 'null' }, { predefined: true });
    report.created.push('network none');
  }
}
