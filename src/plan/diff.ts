/**
 * Which ops of a plan the kernel does not already satisfy. Reconcile builds the full plan
 * for every object in the state, reads the kernel back, and applies only the difference,
 * so a restart after a crash re-creates what is missing and leaves the rest untouched.
 */
import type { KernelOp, Plan } from './ops.js';

export interface ObservedLink {
  master?: string;
  up: boolean;
  mtu: number;
  alias?: string;
  /** Bridge-port hairpin mode, for links enslaved to a bridge. */
  hairpin?: boolean;
  addrs: string[];
}

export interface ObservedNs {
  exists: boolean;
  links: ReadonlyMap<string, ObservedLink>;
}

/** Observed namespaces keyed by name; '' is the daemon's own namespace. */
export type Observed = ReadonlyMap<string, ObservedNs>;

const key = (ns?: string) => ns ?? '';

function satisfied(op: KernelOp, seen: Observed): boolean {
  const nsState = (ns?: string) => seen.get(key(ns));
  const link = (ns: string | undefined, name: string) => nsState(ns)?.links.get(name);
  switch (op.op) {
    case 'netns.add':
    case 'netns.attach':
      return !!seen.get(op.name)?.exists;
    case 'link.add.bridge':
    case 'link.add.veth':
    case 'link.add.vxlan':
    case 'link.add.vlan':
      return !!link(op.ns, op.name);
    case 'link.add.macvlan':
    case 'link.add.ipvlan':
      return !!link(op.targetNs ?? op.ns, op.name);
    case 'link.set': {
      const l = link(op.ns, op.name);
      if (!l) return false;
      if (op.up !== undefined && l.up !== op.up) return false;
      if (op.master !== undefined && (l.master ?? 'nomaster') !== op.master) return false;
      if (op.mtu !== undefined && l.mtu !== op.mtu) return false;
      if (op.alias !== undefined && l.alias !== op.alias) return false;
      if (op.hairpin !== undefined && (l.hairpin ?? false) !== op.hairpin) return false;
      return true;
    }
    case 'addr.add':
      return !!link(op.ns, op.dev)?.addrs.includes(op.cidr);
    case 'netns.del':
      return !seen.get(op.name)?.exists;
    case 'link.del':
      return !link(op.ns, op.name);
    case 'addr.del':
      return !link(op.ns, op.dev)?.addrs.includes(op.cidr);
    // Routes and sysctls are not read back: see missingOps. Forwarding and neighbour
    // entries of overlays are owned by the cluster agent, which reads them back itself.
    case 'route.add':
    case 'route.del':
    case 'sysctl.set':
    case 'fdb.replace':
    case 'fdb.del':
    case 'neigh.replace':
    case 'neigh.del':
      return true;
  }
}

/**
 * The ops of `plan` that still need applying. Routes are not read back: a route is lost
 * only with its link or address, so a route is re-applied (`ip route replace`, idempotent)
 * exactly when something else in its namespace was missing — in this plan, or in an
 * earlier plan of the same reconcile (`touched`, updated here): a sandbox's host route
 * through a network's shim must come back when the network's plan re-created the shim.
 */
/**
 * An op whose object is there but off in what a later change can set (a veth made as a
 * bridge port and taken off the bridge since): that change, instead of the op.
 */
function repairOf(op: KernelOp, seen: Observed): KernelOp | undefined {
  if (op.op !== 'link.add.veth' || op.master === undefined) return undefined;
  const l = seen.get(key(op.ns))?.links.get(op.name);
  return l && l.master !== op.master ? { op: 'link.set', ns: op.ns, name: op.name, master: op.master } : undefined;
}

export function missingOps(plan: Plan, seen: Observed, touched: Set<string> = new Set()): Plan {
  plan = plan.map((op) => repairOf(op, seen) ?? op);
  const missing = plan.filter((op) => !satisfied(op, seen));
  for (const op of missing) touched.add('ns' in op ? key(op.ns) : op.op === 'netns.add' || op.op === 'netns.attach' ? op.name : '');
  return plan.filter(
    (op) => missing.includes(op) || ((op.op === 'route.add' || op.op === 'sysctl.set') && touched.has(key(op.ns))),
  );
}
