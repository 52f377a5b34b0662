/**
 * The bridge driver: a Linux bridge in the daemon's namespace holding the gateway
 * address(es), and a veth pair per endpoint (host side enslaved to the bridge, sandbox
 * side named ethN with the endpoint's addresses). Firewall options (icc, masquerade,
 * internal) are stored here and rendered by the firewall room.
 */
import { YardError } from '../errors.js';
import { parseAddr } from '../ipam/prefix.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import type { Plan } from '../plan/ops.js';
import { checkIfname, gatewayRoutesViaPools, macFromId, ownerMark, planEndpointAddresses, parseBoolOption, parseMtuOption, type DriverEnv, type NetworkDriver, type NetworkIntent, type PreparedNetwork } from './contract.js';

export const OPT = {
  name: 'com.docker.network.bridge.name',
  mtu: 'com.docker.network.driver.mtu',
  icc: 'com.docker.network.bridge.enable_icc',
  masquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  hostBinding: 'com.docker.network.bridge.host_binding_ipv4',
  defaultBridge: 'com.docker.network.bridge.default_bridge',
  ifacePrefix: 'com.docker.network.container_iface_prefix',
} as const;

/** The default bridge's kernel name (Docker's docker0). */
export const DEFAULT_BRIDGE_IFNAME = 'yard0';
/** A Linux bridge accepts at most 1024 ports (BR_MAX_PORTS). */
export const BRIDGE_MAX_PORTS = 1024;

/** Host side of an endpoint's veth: `yv` + 12 hex of the endpoint ID (reconcile finds leftovers by it). */
export const hostVethName = (endpointId: string) => `yv${endpointId.slice(0, 12)}`;

/**
 * The bridge name the network asks for: an empty one means the default (as in Docker);
 * every other option given with an empty value is refused by its parser rather than taken
 * as its default. '' when the network gets a name of its own ID.
 */
function givenBridgeName(intent: NetworkIntent): string {
  const o = intent.options;
  return o[OPT.name] !== undefined && o[OPT.name] !== '' ? o[OPT.name]! : intent.isDefaultBridge ? DEFAULT_BRIDGE_IFNAME : '';
}

export const bridgeDriver: NetworkDriver = {
  name: 'bridge',
  attach: 'interface',
  scope: 'local',
  optionKeys: Object.values(OPT),

  // Only a bridge name of the user's (or the default bridge's) can clash with a host link.
  hostLinksRead(intent) {
    const bridge = givenBridgeName(intent);
    if (!bridge) return [];
    checkIfname(`-o ${OPT.name}`, bridge);
    return [bridge];
  },

  prepareNetwork(intent: NetworkIntent, env: DriverEnv): PreparedNetwork {
    const o = intent.options;
    const bridge = givenBridgeName(intent);
    if (bridge) {
      checkIfname(`-o ${OPT.name}`, bridge);
      const owner = env.networks.find((n) => n.driverState.bridge === bridge);
      if (owner) {
        throw new YardError('BRIDGE_NAME_IN_USE', `-o ${OPT.name}=${bridge}: bridge name ${bridge} is already used by network ${owner.name}`, {
          field: `-o ${OPT.name}`,
          hint: 'pick another bridge name or omit the option',
        });
      }
      const alias = env.hostLinks.get(bridge)?.alias;
      if (env.hostLinks.has(bridge) && !alias?.startsWith('switchyard:')) {
        throw new YardError('BRIDGE_NAME_IN_USE', `-o ${OPT.name}=${bridge}: a link named ${bridge} already exists on this host and is not Switchyard's`, {
          field: `-o ${OPT.name}`,
          hint: 'pick another bridge name or omit the option',
        });
      }
    }
    const state: Record<string, string | number | boolean> = {
      mtu: o[OPT.mtu] !== undefined ? parseMtuOption(OPT.mtu, o[OPT.mtu]) : 1500,
      icc: o[OPT.icc] !== undefined ? parseBoolOption(OPT.icc, o[OPT.icc]) : true,
      masquerade: o[OPT.masquerade] !== undefined ? parseBoolOption(OPT.masquerade, o[OPT.masquerade]) : true,
      defaultBridge: !!intent.isDefaultBridge,
    };
    if (o[OPT.defaultBridge] !== undefined) parseBoolOption(OPT.defaultBridge, o[OPT.defaultBridge]);
    if (o[OPT.hostBinding] !== undefined && !parseAddr(o[OPT.hostBinding])) {
      throw new YardError('INVALID_ARGUMENT', `-o ${OPT.hostBinding}=${JSON.stringify(o[OPT.hostBinding])} is not an IP address`, {
        field: `-o ${OPT.hostBinding}`,
        hint: 'give an address of this host, e.g. 127.0.0.1 (or 0.0.0.0 for all)',
      });
    }
    if (o[OPT.ifacePrefix] !== undefined && !/^[a-zA-Z][a-zA-Z0-9]{0,9}$/.test(o[OPT.ifacePrefix])) {
      throw new YardError('INVALID_ARGUMENT', `-o ${OPT.ifacePrefix}=${JSON.stringify(o[OPT.ifacePrefix])} is not an interface name prefix`, {
        field: `-o ${OPT.ifacePrefix}`,
        hint: 'use 1 to 10 letters and digits, starting with a letter, e.g. eth',
      });
    }
    // The ID is not known yet: the engine fills `bridge` in with br-<id12> when empty.
    if (bridge) state.bridge = bridge;
    return { driverState: state, needsGateway: true, hasIpam: true, warnings: [] };
  },

  planCreate(net: NetworkRecord, env: Pick<DriverEnv, 'instance'>): Plan {
    const br = bridgeName(net);
    const mtu = Number(net.driverState.mtu) || 1500;
    const plan: Plan = [
      { op: 'link.add.bridge', name: br, mtu, mac: macFromId(net.id) },
      { op: 'link.set', name: br, alias: ownerMark(env.instance, net.id) },
    ];
    // The bridge's link-local address is usable as soon as it is made (when the first port
    // comes up), without duplicate address detection: until DAD ends (1-2 s) the kernel has
    // no source for the neighbour solicitation of a forwarded packet, so a published IPv6
    // port was not reached from another host in that time. Its other addresses are added
    // without DAD too.
    if (net.ipam.config.some((p) => p.subnet.includes(':'))) plan.push({ op: 'sysctl.set', key: `net/ipv6/conf/${br}/accept_dad`, value: '0' });
    for (const pool of net.ipam.config) {
      if (pool.gateway) plan.push({ op: 'addr.add', dev: br, cidr: `${pool.gateway}/${pool.subnet.split('/')[1]}` });
    }
    plan.push({ op: 'link.set', name: br, up: true });
    return plan;
  },

  planDelete(net: NetworkRecord): Plan {
    // Marked with the network's ID (its alias), so a crash before the delete leaves a link
    // reconcile recognises under any name.
    return [{ op: 'link.del', name: bridgeName(net), behind: true, freeName: true, whenQuiet: true }];
  },

  checkJoin(net: NetworkRecord, endpointsOnNetwork: number): void {
    if (endpointsOnNetwork >= BRIDGE_MAX_PORTS) {
      throw new YardError('BRIDGE_FULL', `network ${net.name} already has ${endpointsOnNetwork} endpoints; a Linux bridge takes at most ${BRIDGE_MAX_PORTS} ports`, {
        hint: 'create another network for more sandboxes',
      });
    }
  },

  planJoin(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan {
    const host = ep.hostIfname ?? hostVethName(ep.id);
    const mtu = Number(net.driverState.mtu) || 1500;
    const ns = sb.netns ?? undefined;
    const plan: Plan = [
      // Made a port of the bridge as it is made, and brought up last: three requests, not four.
      // One queue each way, as the kernel uses by default, without room for one per CPU.
      { op: 'link.add.veth', name: host, peerName: ep.ifname, peerNs: ns, peerMac: ep.mac, mtu, master: bridgeName(net), queues: 1 },
      // The host end is a bridge port and needs no address of its own: without a link-local
      // address it does not announce itself to every sandbox on the bridge each time one joins
      // (set while it is down: a link that comes up first has made one). Hairpin: a sandbox
      // reaching its own published port; the bridge (br_netfilter DNATs bridged frames) sends
      // the frame back out of the port it came in on.
      { op: 'link.set', name: host, addrGenMode: 'none', hairpin: true },
      { op: 'link.set', name: host, up: true },
    ];
    plan.push(...planEndpointAddresses(sb, ep));
    return plan;
  },

  planLeave(_net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan {
    // Deleting one end of a veth deletes both.
    // The sandbox's end is named for a removal that answers before the kernel's delete (a
    // runtime that took the interface over may have renamed it: not then).
    const peer = sb.netns && ep.ifname && sb.runtime?.mode !== 'handover' ? { peer: { ns: sb.netns, name: ep.ifname } } : {};
    return [{ op: 'link.del', name: ep.hostIfname ?? hostVethName(ep.id), behind: true, ...peer }];
  },

  planGatewayRoutes: gatewayRoutesViaPools,

  hostLinksOf(net: NetworkRecord): string[] {
    return [bridgeName(net)];
  },
};

export function bridgeName(net: NetworkRecord): string {
  return String(net.driverState.bridge || `br-${net.id.slice(0, 12)}`);
}
