/**
 * A plan is the list of kernel operations that turns intent into reality. Drivers and
 * the engine build plans (pure); `kernel/apply` runs them (the only code that touches
 * Linux). Because a plan is data it can be printed (`--dry-run`), rendered to the exact
 * `ip` commands, inverted for rollback, and compared in unit tests.
 *
 * `ns` is the network namespace an operation runs in: `undefined` means the daemon's own
 * ("host") namespace; otherwise a named namespace under /run/netns.
 */

export type KernelOp =
  | { op: 'netns.add'; name: string }
  | { op: 'netns.del'; name: string }
  /** A runtime's namespace (its file at `path`) under our name: a bind mount at /run/netns/<name>. `netns.del` undoes it, leaving the namespace to its runtime. */
  | { op: 'netns.attach'; name: string; path: string }
  | {
      op: 'link.add.bridge';
      ns?: string;
      name: string;
      mtu?: number;
      /**
       * A fixed MAC. Without one a bridge takes the lowest MAC of its ports, so it changes
       * as sandboxes come and go, and every sandbox's ARP entry for its gateway goes stale.
       */
      mac?: string;
    }
  | {
      op: 'link.add.veth';
      ns?: string;
      name: string;
      /** The peer is created directly in `peerNs` under `peerName`. */
      peerName: string;
      peerNs?: string;
      peerMac?: string;
      mtu?: number;
      /** Made a port of this bridge in the same request (the kernel enslaves it right after creating it). */
      master?: string;
      /**
       * Queues each way, on both ends. Without it the kernel allocates a queue per possible
       * CPU on each end (one of them in use), which costs time and memory per veth on a large
       * host; with it, `ethtool -L` cannot raise the count later.
       */
      queues?: number;
    }
  | {
      op: 'link.add.macvlan';
      ns?: string;
      name: string;
      parent: string;
      mode: 'bridge' | 'private' | 'vepa' | 'passthru';
      /** Created directly in this namespace (the parent stays in `ns`). */
      targetNs?: string;
      mac?: string;
      mtu?: number;
    }
  | { op: 'link.add.vlan'; ns?: string; name: string; parent: string; vlanId: number }
  | {
      op: 'link.add.ipvlan';
      ns?: string;
      name: string;
      parent: string;
      mode: 'l2' | 'l3' | 'l3s';
      flag?: 'bridge' | 'private' | 'vepa';
      targetNs?: string;
      mtu?: number;
    }
  | {
      op: 'link.add.vxlan';
      ns?: string;
      name: string;
      vni: number;
      dstport: number;
      local?: string;
      dev?: string;
      mtu?: number;
      /** Answer ARP/ND on the device from its neighbour table (no flooding across hosts). */
      proxy?: boolean;
    }
  | {
      op: 'link.del';
      ns?: string;
      name: string;
      /** The other end of a veth pair, which goes with it (set down and renamed out of the way when the delete runs behind). */
      peer?: { ns?: string; name: string };
      /**
       * When the delete runs behind, rename the link out of the way first, so its name is
       * free at once (a bridge's name may be the user's). Only for links reconcile finds by
       * their mark rather than their name.
       */
      freeName?: boolean;
      /**
       * The delete behind waits until the daemon's kernel work pauses, so that it does not
       * hold the kernel's lock under the next request: for a link nothing but the host
       * lists (a bridge). Other links are deleted at once.
       */
      whenQuiet?: boolean;
      /**
       * A removal may answer once the link is down and delete it behind (a bridge, a veth:
       * deletes that wait tens of ms for RCU). Other links are deleted before the answer.
       */
      behind?: boolean;
    }
  | {
      op: 'link.set';
      ns?: string;
      name: string;
      up?: boolean;
      master?: string;
      mtu?: number;
      /** ifalias: Switchyard marks links it owns `switchyard:<instance>:<id>` so reconcile can find leftovers. */
      alias?: string;
      /**
       * Bridge-port hairpin mode: frames may leave through the port they came in on. The
       * kernel applies port options before a master change in the same request, so set it
       * in an op of its own, after the one that enslaves the link.
       */
      hairpin?: boolean;
      /** A new name (the link must be down). */
      newName?: string;
      /**
       * `none`: the link never makes itself an IPv6 link-local address (so no DAD, no router
       * solicitations); for a bridge port, which needs no address of its own.
       */
      addrGenMode?: 'none';
      /** Undo information: the previous values, when the op changes an existing link. */
      prev?: { up?: boolean; master?: string | null; mtu?: number };
    }
  | { op: 'addr.add'; ns?: string; dev: string; cidr: string }
  | { op: 'addr.del'; ns?: string; dev: string; cidr: string }
  | { op: 'route.add'; ns?: string; dst: string; via?: string; dev?: string }
  | { op: 'route.del'; ns?: string; dst: string; via?: string; dev?: string }
  | { op: 'sysctl.set'; ns?: string; key: string; value: string; prev?: string }
  /**
   * A forwarding entry on a VXLAN device: frames for `mac` go to the VTEP `dst`. Not an
   * `ip` subcommand: kernel/apply runs these through `bridge -batch -`.
   */
  | { op: 'fdb.replace'; ns?: string; dev: string; mac: string; dst: string }
  | { op: 'fdb.del'; ns?: string; dev: string; mac: string; dst?: string }
  /** A permanent neighbour entry (the VXLAN device's proxy answers ARP/ND from it). */
  | { op: 'neigh.replace'; ns?: string; dev: string; ip: string; mac: string }
  | { op: 'neigh.del'; ns?: string; dev: string; ip: string };

export type Plan = KernelOp[];

/** The operation that undoes `op`, or null when nothing needs undoing. */
export function inverseOf(op: KernelOp): KernelOp | null {
  switch (op.op) {
    case 'netns.add':
    case 'netns.attach':
      return { op: 'netns.del', name: op.name };
    case 'link.add.bridge':
    case 'link.add.macvlan':
    case 'link.add.ipvlan':
    case 'link.add.vxlan':
    case 'link.add.vlan':
      return { op: 'link.del', ns: 'targetNs' in op && op.targetNs ? op.targetNs : op.ns, name: op.name };
    case 'link.add.veth':
      return { op: 'link.del', ns: op.ns, name: op.name };
    case 'addr.add':
      return { op: 'addr.del', ns: op.ns, dev: op.dev, cidr: op.cidr };
    case 'route.add':
      return { op: 'route.del', ns: op.ns, dst: op.dst, via: op.via, dev: op.dev };
    case 'link.set': {
      if (!op.prev) return null;
      const p = op.prev;
      return {
        op: 'link.set',
        ns: op.ns,
        name: op.name,
        ...(p.up !== undefined ? { up: p.up } : {}),
        ...(p.master !== undefined ? { master: p.master ?? 'nomaster' } : {}),
        ...(p.mtu !== undefined ? { mtu: p.mtu } : {}),
      };
    }
    case 'sysctl.set':
      return op.prev === undefined ? null : { op: 'sysctl.set', ns: op.ns, key: op.key, value: op.prev };
    case 'fdb.replace':
      return { op: 'fdb.del', ns: op.ns, dev: op.dev, mac: op.mac, dst: op.dst };
    case 'neigh.replace':
      return { op: 'neigh.del', ns: op.ns, dev: op.dev, ip: op.ip };
    // Deletions are not undone: plans put every deletion after every check, and a
    // teardown is finished (not reverted) on failure, from a tombstone in the state.
    case 'netns.del':
    case 'link.del':
    case 'addr.del':
    case 'route.del':
    case 'fdb.del':
    case 'neigh.del':
      return null;
  }
}

/** The inverse plan of the ops that were applied, in reverse order. */
export function undoPlan(applied: Plan): Plan {
  const out: Plan = [];
  for (let i = applied.length - 1; i >= 0; i--) {
    const inv = inverseOf(applied[i]!);
    if (inv) out.push(inv);
  }
  // Deleting a namespace deletes every link and address inside it: skip those.
  const deletedNs = new Set(out.filter((o) => o.op === 'netns.del').map((o) => (o as { name: string }).name));
  return out.filter((o) => o.op === 'netns.del' || !('ns' in o) || !o.ns || !deletedNs.has(o.ns));
}

/**
 * The `ip` command line (arguments after `ip [-n ns]`) for one op, as `ip -batch` reads
 * it. `sysctl.set` and `netns.attach` have no `ip` form and return null.
 */
export function ipArgs(op: KernelOp): string[] | null {
  const mtu = (m?: number) => (m ? ['mtu', String(m)] : []);
  const queues = (q?: number) => (q ? ['numtxqueues', String(q), 'numrxqueues', String(q)] : []);
  switch (op.op) {
    case 'netns.add':
      return ['netns', 'add', op.name];
    case 'netns.del':
      return ['netns', 'del', op.name];
    case 'link.add.bridge':
      return ['link', 'add', op.name, ...mtu(op.mtu), ...(op.mac ? ['address', op.mac] : []), 'type', 'bridge'];
    case 'link.add.veth':
      return [
        'link', 'add', op.name, ...mtu(op.mtu), ...queues(op.queues), ...(op.master ? ['master', op.master] : []), 'type', 'veth',
        'peer', 'name', op.peerName, ...mtu(op.mtu), ...queues(op.queues),
        ...(op.peerMac ? ['address', op.peerMac] : []), ...(op.peerNs ? ['netns', op.peerNs] : []),
      ];
    case 'link.add.macvlan':
      return [
        'link', 'add', op.name, 'link', op.parent, ...mtu(op.mtu), ...(op.mac ? ['address', op.mac] : []),
        ...(op.targetNs ? ['netns', op.targetNs] : []), 'type', 'macvlan', 'mode', op.mode,
      ];
    case 'link.add.vlan':
      return ['link', 'add', 'link', op.parent, 'name', op.name, 'type', 'vlan', 'id', String(op.vlanId)];
    case 'link.add.ipvlan':
      return [
        'link', 'add', op.name, 'link', op.parent, ...mtu(op.mtu), ...(op.targetNs ? ['netns', op.targetNs] : []),
        'type', 'ipvlan', 'mode', op.mode, ...(op.flag ? [op.flag] : []),
      ];
    case 'link.add.vxlan':
      return [
        'link', 'add', op.name, ...mtu(op.mtu), 'type', 'vxlan', 'id', String(op.vni), 'dstport', String(op.dstport),
        ...(op.local ? ['local', op.local] : []), ...(op.dev ? ['dev', op.dev] : []), 'nolearning',
        ...(op.proxy ? ['proxy'] : []),
      ];
    case 'link.del':
      return ['link', 'del', op.name];
    case 'link.set': {
      const args = ['link', 'set', 'dev', op.name];
      if (op.master !== undefined) args.push(...(op.master === 'nomaster' ? ['nomaster'] : ['master', op.master]));
      if (op.mtu !== undefined) args.push('mtu', String(op.mtu));
      if (op.alias !== undefined) args.push('alias', op.alias);
      if (op.newName !== undefined) args.push('name', op.newName);
      if (op.addrGenMode !== undefined) args.push('addrgenmode', op.addrGenMode);
      if (op.up !== undefined) args.push(op.up ? 'up' : 'down');
      if (op.hairpin !== undefined) args.push('type', 'bridge_slave', 'hairpin', op.hairpin ? 'on' : 'off');
      return args;
    }
    case 'addr.add':
      return ['addr', 'add', op.cidr, 'dev', op.dev, ...(op.cidr.includes(':') ? ['nodad'] : [])];
    case 'addr.del':
      return ['addr', 'del', op.cidr, 'dev', op.dev];
    case 'route.add':
    case 'route.del': {
      // `replace` makes re-applying a plan (reconcile) idempotent. A v6 default route is
      // written `::/0` because batch lines cannot carry the global `-6` option.
      const verb = op.op === 'route.add' ? 'replace' : 'del';
      const v6 = op.via?.includes(':') || op.dst.includes(':');
      const dst = op.dst === 'default' && v6 ? '::/0' : op.dst;
      return ['route', verb, dst, ...(op.via ? ['via', op.via] : []), ...(op.dev ? ['dev', op.dev] : [])];
    }
    case 'neigh.replace':
      return ['neigh', 'replace', op.ip, 'lladdr', op.mac, 'dev', op.dev, 'nud', 'permanent'];
    case 'neigh.del':
      return ['neigh', 'del', op.ip, 'dev', op.dev];
    case 'sysctl.set':
    case 'netns.attach':
    case 'fdb.replace':
    case 'fdb.del':
      return null;
  }
}

/** The `bridge` command line (after `bridge [-n ns]`) of an fdb op, as `bridge -batch` reads it. */
export function bridgeArgs(op: KernelOp): string[] | null {
  switch (op.op) {
    case 'fdb.replace':
      return ['fdb', 'replace', op.mac, 'dev', op.dev, 'dst', op.dst, 'self', 'permanent'];
    case 'fdb.del':
      return ['fdb', 'del', op.mac, 'dev', op.dev, ...(op.dst ? ['dst', op.dst] : []), 'self'];
    default:
      return null;
  }
}

/**
 * The /proc/sys path of a sysctl key: dotted (`net.ipv4.ip_forward`) or, when a component
 * holds a dot itself (an interface named `eth0.5`), slashed (`net/ipv6/conf/eth0.5/...`),
 * as sysctl(8) takes both.
 */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.includes('/') ? key : key.replace(/\./g, '/')}`;
}

/**
 * IPv6 off (`on` false) or on for interface `dev` in namespace `ns`; set before the link
 * comes up. Off, it never autoconfigures a link-local address, runs DAD, sends MLD reports
 * (which a bridge floods to every port) or takes addresses from router advertisements.
 */
export function ipv6Op(ns: string, dev: string, on: boolean): KernelOp {
  return { op: 'sysctl.set', ns, key: `net/ipv6/conf/${dev}/disable_ipv6`, value: on ? '0' : '1' };
}

/**
 * A new namespace's interfaces start without IPv6 (`lo`, already there, keeps ::1); an
 * endpoint with an IPv6 address turns it on for its own interface (ipv6Op). Writing the
 * default takes no lock, where turning IPv6 off on an interface waits for the kernel's
 * global network lock, which is busy while many sandboxes come and go. The daemon's pool
 * of ready namespaces sets it when it makes each one, so the op is then already done.
 */
export function ipv6OffByDefaultOp(ns: string): KernelOp {
  return { op: 'sysctl.set', ns, key: 'net.ipv6.conf.default.disable_ipv6', value: '1' };
}

/** Human-readable shell form of a plan, for `--dry-run` and explain output. */
export function renderPlan(plan: Plan): string[] {
  return plan.map((op) => {
    if (op.op === 'sysctl.set') {
      const w = `sysctl -w ${op.key}=${op.value}`;
      return op.ns ? `ip netns exec ${op.ns} ${w}` : w;
    }
    if (op.op === 'netns.attach') return `touch /run/netns/${op.name}; mount --bind ${op.path} /run/netns/${op.name}`;
    const ns = 'ns' in op && op.ns ? ['-n', op.ns] : [];
    const fdb = bridgeArgs(op);
    if (fdb) return ['bridge', ...ns, ...fdb].join(' ');
    return ['ip', ...ns, ...ipArgs(op)!].join(' ');
  });
}
