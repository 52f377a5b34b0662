/**
 * What macvlan and ipvlan share: sandboxes get an interface stacked on a parent link of
 * the host (a LAN uplink, a VLAN sub-interface created on the fly, or, for --internal
 * networks, a private bridge with no uplink), so they sit directly on the LAN without NAT.
 *
 * The host-access gotcha: the kernel does not pass traffic between a parent and its
 * macvlan/ipvlan-l2 children, so the host cannot reach its own sandboxes. With
 * `-o host_access=true` the network gets a "shim": a child of the same parent in the host
 * namespace, with one address, and host routes to the sandboxes through it.
 */
import { YardError } from '../errors.js';
import { allocateAddress } from '../ipam/allocator.js';
import { formatAddr, parsePrefix, parseAddr, prefixContains } from '../ipam/prefix.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import type { KernelOp, Plan } from '../plan/ops.js';
import { checkIfname, gatewayRoutesViaPools, ownerMark, planEndpointAddresses, parseBoolOption, parseMtuOption, type DriverEnv, type NetworkIntent } from './contract.js';

export const LAN_OPT = {
  parent: 'parent',
  hostAccess: 'host_access',
  hostAccessAddress: 'host_access_address',
  mtu: 'com.docker.network.driver.mtu',
} as const;

export const shimName = (networkId: string) => `ys${networkId.slice(0, 12)}`;
export const internalParentName = (networkId: string) => `yi${networkId.slice(0, 12)}`;
const SHIM_AUX = 'switchyard-host-access';

/** Interfaces a user could mean as a parent: Ethernet links that are not bridges nor Switchyard's own. */
function candidateParents(env: DriverEnv): string[] {
  return [...env.hostLinks.entries()]
    .filter(([name, l]) => name !== 'lo' && !l.alias?.startsWith('switchyard:') && !/^y[vsi][0-9a-f]{12}$/.test(name) && l.kind !== 'bridge' && (!l.mac || (ETHERNET_MAC.test(l.mac) && l.mac !== '00:00:00:00:00:00')))
    .map(([name]) => name)
    .sort();
}

export interface LanPrepared {
  parent: string;
  /** True when Switchyard creates the parent (a VLAN sub-interface or an internal bridge) and removes it with the network. */
  createParent: 'vlan' | 'bridge' | '';
  vlanId?: number;
  hostAccess: boolean;
  mtu?: number;
}

/** Validate parent, VLAN, host access and MTU options for a macvlan/ipvlan network. */
export function prepareLan(kind: 'macvlan' | 'ipvlan', intent: NetworkIntent, env: DriverEnv): LanPrepared {
  const o = intent.options;
  if (!env.linkKinds.has(kind)) {
    throw new YardError('DRIVER_UNSUPPORTED', `this kernel has no ${kind} support (\`ip link add ... type ${kind}\` answers "Unknown device type"), so no sandbox could ever join ${kind === 'ipvlan' ? 'an' : 'a'} ${kind} network`, {
      field: '--driver',
      hint: kind === 'ipvlan' ? 'use -d macvlan (modes bridge, private, vepa, passthru), or a kernel built with CONFIG_IPVLAN' : 'use a kernel built with CONFIG_MACVLAN',
    });
  }
  const hostAccess = o[LAN_OPT.hostAccess] !== undefined ? parseBoolOption(LAN_OPT.hostAccess, o[LAN_OPT.hostAccess]) : false;
  const mtu = o[LAN_OPT.mtu] !== undefined ? parseMtuOption(LAN_OPT.mtu, o[LAN_OPT.mtu]) : undefined;
  if (o[LAN_OPT.hostAccessAddress] !== undefined && !hostAccess) {
    throw new YardError('INVALID_ARGUMENT', `-o ${LAN_OPT.hostAccessAddress} needs -o ${LAN_OPT.hostAccess}=true`, { field: `-o ${LAN_OPT.hostAccessAddress}`, hint: `add -o ${LAN_OPT.hostAccess}=true` });
  }
  let parent = o[LAN_OPT.parent] ?? '';
  if (!parent) {
    if (intent.internal) return { parent: '', createParent: 'bridge', hostAccess: false, mtu };
    const here = candidateParents(env);
    throw new YardError('INVALID_ARGUMENT', `-d ${kind} needs a parent interface`, {
      field: '-o parent',
      hint: `add -o parent=<interface>${here.length ? ` (interfaces here: ${here.join(', ')})` : ''}, or use --internal for a network with no uplink`,
    });
  }
  checkIfname('-o parent', parent);
  if (intent.internal) {
    throw new YardError('INVALID_ARGUMENT', `an --internal ${kind} network has no uplink, so -o parent=${parent} cannot be used`, { field: '-o parent', hint: 'drop -o parent, or drop --internal' });
  }
  let createParent: LanPrepared['createParent'] = '';
  let vlanId: number | undefined;
  const vlan = /^(.+)\.(\d+)$/.exec(parent);
  if (vlan && !env.hostLinks.has(parent)) {
    const [, base, id] = vlan;
    vlanId = Number(id);
    if (vlanId < 1 || vlanId > 4094) {
      throw new YardError('INVALID_ARGUMENT', `-o parent=${parent}: VLAN ID ${id} is outside 1-4094`, { field: '-o parent', hint: 'use a VLAN ID from 1 to 4094, e.g. lan0.100' });
    }
    if (!env.linkKinds.has('vlan')) {
      throw new YardError('DRIVER_UNSUPPORTED', `this kernel has no 802.1q VLAN support, so the sub-interface ${parent} cannot be created`, {
        field: '-o parent',
        hint: `use ${base} itself as the parent, or a kernel built with CONFIG_VLAN_8021Q`,
      });
    }
    if (!env.hostLinks.has(base!)) throw parentMissing(base!, env);
    checkParentLink(base!, env);
    createParent = 'vlan';
    parent = `${base}.${id}`;
  } else if (!env.hostLinks.has(parent)) {
    throw parentMissing(parent, env);
  } else {
    checkParentLink(parent, env);
  }
  // One parent cannot carry both kinds: the kernel makes it either a macvlan or an ipvlan port.
  const other = env.networks.find((n) => n.driverState.parent === parent && n.driver !== kind && (n.driver === 'macvlan' || n.driver === 'ipvlan'));
  if (other) {
    throw new YardError('INVALID_ARGUMENT', `network ${other.name} is already using parent interface ${parent} with the ${other.driver} driver`, {
      field: '-o parent',
      hint: `a parent carries either macvlan or ipvlan children, not both; use another parent or -d ${other.driver}`,
    });
  }
  return { parent, createParent, vlanId, hostAccess, mtu };
}

const ETHERNET_MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * A parent must be an Ethernet link of the host that is not Switchyard's own: macvlan and
 * ipvlan children need a MAC-addressed link to stack on (loopback, tun or ip tunnels have
 * none, and the kernel accepts the network only to fail every join), and a link Switchyard
 * manages (a network's bridge, shim or internal parent, an endpoint's veth) or any bridge
 * would tie the LAN network to another network's fate.
 */
export function checkParentLink(name: string, env: DriverEnv): void {
  const link = env.hostLinks.get(name);
  if (!link) return;
  const refuse = (why: string) =>
    new YardError('INVALID_ARGUMENT', `-o parent=${name}: ${why}`, {
      field: '-o parent',
      hint: `use the host's LAN (Ethernet) interface${candidateParents(env).length ? ` (interfaces here: ${candidateParents(env).join(', ')})` : ''}`,
    });
  if (name === 'lo' || link.mac === '00:00:00:00:00:00') throw refuse(`${name} is the loopback interface`);
  const owner = env.networks.find((n) => n.driverState.bridge === name || (n.driverState.parent === name && !!n.driverState.createParent));
  if (link.alias?.startsWith('switchyard:') || /^y[vsi][0-9a-f]{12}$/.test(name) || owner) {
    throw refuse(`${name} is a link Switchyard manages${owner ? ` (network ${owner.name})` : ''}`);
  }
  if (link.kind === 'bridge') throw refuse(`${name} is a bridge; sandboxes would sit behind it, not on the LAN`);
  if (!link.mac || !ETHERNET_MAC.test(link.mac)) throw refuse(`${name} is not an Ethernet interface (it has no MAC address${link.kind ? `; kind ${link.kind}` : ''})`);
}

function parentMissing(parent: string, env: DriverEnv): YardError {
  const here = candidateParents(env);
  return new YardError('INVALID_ARGUMENT', `parent interface ${parent} does not exist on this host`, {
    field: '-o parent',
    hint: here.length ? `use one of: ${here.join(', ')}` : 'create the interface first',
  });
}

/** Pick and reserve the shim's address (after IPAM, so it knows the subnets). */
export function finishLan(net: NetworkRecord, env?: Pick<DriverEnv, 'hostLinks'>): void {
  if (net.driverState.createParent === 'bridge') net.driverState.parent = internalParentName(net.id);
  if (!net.driverState.hostAccess) return;
  const v4 = net.ipam.config.find((p) => !p.subnet.includes(':'));
  if (!v4) {
    throw new YardError('INVALID_ARGUMENT', `-o ${LAN_OPT.hostAccess}=true needs an IPv4 subnet`, { field: `-o ${LAN_OPT.hostAccess}`, hint: 'add an IPv4 --subnet' });
  }
  const wanted = net.options[LAN_OPT.hostAccessAddress];
  // The host's own addresses: the shim must not take one of them (the host would lose it).
  const hostAddrs = new Map<string, string>();
  for (const [name, l] of env?.hostLinks ?? []) for (const a of l.addrs) hostAddrs.set(a.split('/')[0]!, name);
  let address: string;
  if (wanted !== undefined) {
    const a = parseAddr(wanted);
    const p = parsePrefix(v4.subnet)!;
    if (!a || a.family !== 4 || !prefixContains(p, a)) {
      throw new YardError('INVALID_ARGUMENT', `-o ${LAN_OPT.hostAccessAddress}=${wanted} is not an IPv4 address inside ${v4.subnet}`, {
        field: `-o ${LAN_OPT.hostAccessAddress}`,
        hint: `pick a free address of ${v4.subnet} outside --ip-range, e.g. an --aux-address`,
      });
    }
    const holder = hostAddrs.get(formatAddr(a));
    if (holder) {
      throw new YardError('INVALID_ARGUMENT', `-o ${LAN_OPT.hostAccessAddress}=${wanted} is this host's own address (on ${holder})`, {
        field: `-o ${LAN_OPT.hostAccessAddress}`,
        hint: `pick a free address of ${v4.subnet} that no host or sandbox uses`,
      });
    }
    const isAux = Object.values(v4.auxAddresses).includes(wanted);
    address = isAux ? wanted : allocateAddress({ networkName: net.name, pools: [v4], family: 4, inUse: new Map(), requested: wanted, field: `-o ${LAN_OPT.hostAccessAddress}` }).address;
  } else {
    address = highestFree(v4, hostAddrs);
  }
  if (!Object.values(v4.auxAddresses).includes(address)) v4.auxAddresses = { ...v4.auxAddresses, [SHIM_AUX]: address };
  net.driverState.shimAddress = address;
}

/** The highest usable address of the subnet outside the ip-range, so it never competes with sandboxes. */
function highestFree(pool: NetworkRecord['ipam']['config'][number], hostAddrs: ReadonlyMap<string, string>): string {
  const p = parsePrefix(pool.subnet)!;
  const range = pool.ipRange ? parsePrefix(pool.ipRange) : null;
  const taken = new Set([pool.gateway, ...Object.values(pool.auxAddresses), ...hostAddrs.keys()]);
  const size = 1n << BigInt(32 - p.len);
  for (let off = size - 2n; off >= 1n; off--) {
    const v = p.base + off;
    const text = [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
    if (taken.has(text)) continue;
    if (range && prefixContains(range, { family: 4, value: v })) continue;
    return text;
  }
  throw new YardError('ADDRESSES_EXHAUSTED', `subnet ${pool.subnet} has no free address outside --ip-range for the host shim`, {
    field: `-o ${LAN_OPT.hostAccessAddress}`,
    hint: 'name one with -o host_access_address=IP',
  });
}

/** Parent creation (VLAN or internal bridge) and the host shim. */
export function planLanCreate(kind: 'macvlan' | 'ipvlan', net: NetworkRecord, instance: string): Plan {
  const s = net.driverState;
  const parent = String(s.parent);
  const mark = ownerMark(instance, net.id);
  const plan: Plan = [];
  if (s.createParent === 'vlan') {
    plan.push({ op: 'link.add.vlan', name: parent, parent: parent.slice(0, parent.lastIndexOf('.')), vlanId: Number(s.vlanId) });
    plan.push({ op: 'link.set', name: parent, alias: mark, up: true });
  } else if (s.createParent === 'bridge') {
    plan.push({ op: 'link.add.bridge', name: parent });
    plan.push({ op: 'link.set', name: parent, alias: mark, up: true });
  }
  if (s.shimAddress) {
    const shim = shimName(net.id);
    plan.push(
      kind === 'macvlan'
        ? { op: 'link.add.macvlan', name: shim, parent, mode: 'bridge' }
        // Same mode as the sandboxes' children: the kernel keeps one mode per parent.
        : { op: 'link.add.ipvlan', name: shim, parent, mode: (s.mode as 'l2' | 'l3' | 'l3s') ?? 'l2', flag: 'bridge' },
      { op: 'link.set', name: shim, alias: mark, up: true },
      { op: 'addr.add', dev: shim, cidr: `${s.shimAddress}/32` },
    );
    const range = net.ipam.config.find((p) => !p.subnet.includes(':'))?.ipRange;
    if (range) plan.push({ op: 'route.add', dst: range, dev: shim });
  }
  return plan;
}

export function planLanDelete(net: NetworkRecord): Plan {
  const s = net.driverState;
  const plan: Plan = [];
  if (s.shimAddress) plan.push({ op: 'link.del', name: shimName(net.id) });
  if (s.createParent) plan.push({ op: 'link.del', name: String(s.parent) });
  return plan;
}

/** Host routes for sandboxes the shim's --ip-range route does not cover. */
export function shimRoutes(net: NetworkRecord, ep: EndpointRecord, verb: 'route.add' | 'route.del'): Plan {
  const s = net.driverState;
  if (!s.shimAddress || !ep.ipv4) return [];
  const ip = ep.ipv4.split('/')[0]!;
  const range = net.ipam.config.find((p) => !p.subnet.includes(':'))?.ipRange;
  const a = parseAddr(ip)!;
  if (range && prefixContains(parsePrefix(range)!, a)) return [];
  return [{ op: verb, dst: `${ip}/32`, dev: shimName(net.id) }];
}

export function lanHostLinks(net: NetworkRecord): string[] {
  const s = net.driverState;
  return [...(s.shimAddress ? [shimName(net.id)] : []), ...(s.createParent ? [String(s.parent)] : [])];
}

export function lanGatewayRoutes(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord, onLinkDefault = false): Plan {
  // dhcp IPAM: the gateway is the router the endpoint's lease names (none before the lease).
  if (net.ipam.driver === 'dhcp') return net.internal || !ep.lease?.router ? [] : [{ op: 'route.add', ns: sb.netns ?? undefined, dst: 'default', via: ep.lease.router, dev: ep.ifname }];
  if (!onLinkDefault) return gatewayRoutesViaPools(net, sb, ep);
  // ipvlan l3/l3s: the parent routes for the sandbox, so its default route is on-link.
  return net.internal || !ep.ipv4 ? [] : [{ op: 'route.add', ns: sb.netns ?? undefined, dst: 'default', dev: ep.ifname }];
}

/** Join: the child link created straight into the sandbox, its addresses, and shim routes. */
export function planLanJoin(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord, child: KernelOp): Plan {
  return [child, ...planEndpointAddresses(sb, ep), ...shimRoutes(net, ep, 'route.add')];
}

export function planLanLeave(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan {
  return [...shimRoutes(net, ep, 'route.del'), { op: 'link.del', ns: sb.netns ?? undefined, name: ep.ifname }];
}

export function lanState(p: LanPrepared): Record<string, string | number | boolean> {
  return {
    parent: p.parent,
    createParent: p.createParent,
    ...(p.vlanId !== undefined ? { vlanId: p.vlanId } : {}),
    hostAccess: p.hostAccess,
    ...(p.mtu ? { mtu: p.mtu } : {}),
  };
}
