/**
 * Start-up reconcile: the state is the truth, the kernel is made to match it.
 *  1. finish removals that a crash interrupted (tombstones);
 *  2. create the predefined networks on first start (bridge, host, none);
 *  3. re-create whatever the kernel lacks for each network and sandbox (only the missing
 *     ops: see plan/diff.ts);
 *  4. remove Switchyard-owned leftovers the state does not know: sandbox namespaces with
 *     this instance's prefix, links marked `switchyard:<instance>:`, endpoint veths.
 */
import { getDriver } from '../drivers/index.js';
import { hostVethName } from '../drivers/bridge.js';
import { missingOps, type ObservedNs } from '../plan/diff.js';
import type { Plan } from '../plan/ops.js';
import { renderPlan } from '../plan/ops.js';
import { sandboxNetnsPrefix } from '../paths.js';
import type { Engine } from './engine.js';

export interface ReconcileReport {
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

  for (const sb of [...state.sandboxes.values()].filter((s) => s.deleting)) {
    await engine.tearDownSandbox(sb);
    report.finishedRemovals.push(`sandbox ${sb.name}`);
  }
  for (const net of [...state.networks.values()].filter((n) => n.deleting)) {
    await engine.tearDownNetwork(net);
    report.finishedRemovals.push(`network ${net.name}`);
  }

  // Networks: read the daemon's namespace once, apply what is missing.
  let host = await kernel.readNamespace();
  const seen = new Map<string, ObservedNs>([['', host]]);
  // Namespaces where something was re-created: their routes are re-applied (see missingOps).
  const touched = new Set<string>();
  for (const net of engine.networks()) {
    const plan = missingOps(getDriver(net.driver).planCreate(net, { instance: cfg.instance }), seen, touched);
    if (!plan.length) continue;
    await applyReport(engine, plan, `network ${net.name}`, report);
  }

  // Sandboxes: each namespace read back and completed (or created again).
  host = await kernel.readNamespace();
  seen.set('', host);
  for (const sb of engine.sandboxes()) {
    engine.refresh(sb);
    if (!sb.netns) continue;
    const ns = await kernel.readNamespace(sb.netns);
    seen.set(sb.netns, ns);
    const plan = missingOps(engine.sandboxPlan(sb), seen, touched);
    if (plan.length) {
      await applyReport(engine, plan, `sandbox ${sb.name}`, report);
      kernel.writeSandboxFiles(sb.netns, engine.sandboxFiles(sb));
    }
    engine.store.putSandbox(sb);
  }

  // Leftovers.
  const prefix = sandboxNetnsPrefix(cfg.instance);
  const knownNs = new Set(engine.sandboxes().map((s) => s.netns).filter(Boolean));
  for (const ns of kernel.listNetns()) {
    if (!ns.startsWith(prefix) || knownNs.has(ns)) continue;
    await kernel.killNetnsProcesses(ns);
    report.errors.push(...(await kernel.applyBestEffort([{ op: 'netns.del', name: ns }])));
    kernel.removeSandboxFiles(ns);
    report.leftoversRemoved.push(`namespace ${ns}`);
  }
  for (const dir of kernel.listSandboxFileDirs()) {
    if (dir.startsWith(prefix) && !knownNs.has(dir)) kernel.removeSandboxFiles(dir);
  }
  host = await kernel.readNamespace();
  const mark = `switchyard:${cfg.instance}:`;
  const knownNets = new Set(engine.networks().map((n) => n.id));
  const knownVeths = new Set(engine.sandboxes().flatMap((s) => Object.values(s.endpoints).map((e) => e.hostIfname ?? hostVethName(e.id))));
  const stale: Plan = [];
  for (const l of host.links.values()) {
    if (l.alias?.startsWith(mark) && !knownNets.has(l.alias.slice(mark.length))) stale.push({ op: 'link.del', name: l.name });
    else if (/^yv[0-9a-f]{12}$/.test(l.name) && !knownVeths.has(l.name)) stale.push({ op: 'link.del', name: l.name });
  }
  if (stale.length) {
    // A leftover namespace deleted above takes its veths with it, but the kernel does that
    // asynchronously: a link read back a moment ago may be gone by now, which is success.
    const errors = await kernel.applyBestEffort(stale);
    report.errors.push(...errors.filter((e) => !/Cannot find device/.test(e)));
    report.leftoversRemoved.push(...renderPlan(stale));
  }
  return report;
}

/** After the kernel: every participant (firewall, DNS) rebuilds its part from the state. */
export async function reconcileParticipants(engine: Engine, report: ReconcileReport): Promise<void> {
  for (const p of engine.participants) {
    try {
      await engine.serial(async () => p.reconcile?.(engine));
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
        ipam: [{ subnet: process.env.YARD_DEFAULT_BRIDGE_SUBNET || DEFAULT_BRIDGE_SUBNET }],
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
