/**
 * The overlay driver: one network across hosts. Per host and network, a Linux bridge
 * `ov-<12hex>` (no address: an overlay is an L2 segment between sandboxes, the host does
 * not route into it) with a VXLAN device `vx-<12hex>` enslaved to it:
 *
 *   vxlan id <VNI> dstport 4789 local <advertise address> dev <advertise interface> nolearning proxy
 *
 * Nothing is learnt or flooded: the cluster agent (cluster/agent.ts) writes, for every
 * endpoint on another host, a forwarding entry (its MAC -> its host's VTEP) and a
 * permanent neighbour entry (its IP -> its MAC) on the VXLAN device; `proxy` makes the
 * device answer ARP from those neighbour entries locally. There are no all-zero
 * (flood) entries: ARP never needs to cross hosts, and broadcast between hosts is not
 * carried (as with Docker's overlay).
 *
 * Sandboxes join with a veth to the bridge, exactly as on a bridge network; their
 * addresses come from the cluster store (global IPAM). The default route and outbound
 * access come from the per-host gateway bridge (see cluster/gateway.ts), not from here.
 *
 * The VNI and MTU are decided once for the whole cluster at create (the record is shared);
 * the VTEP address and underlay interface are this host's and come from the daemon's
 * --cluster-advertise (DriverEnv.underlay).
 */
import { YardError } from '../errors.js';
import type { NetworkRecord } from '../model/types.js';
import type { Plan } from '../plan/ops.js';
import { bridgeDriver } from './bridge.js';
import { macFromId, ownerMark, parseBoolOption, parseMtuOption, type NetworkDriver, type NetworkIntent, type PreparedNetwork, type DriverEnv } from './contract.js';

export const OVERLAY_OPT = {
  mtu: 'com.docker.network.driver.mtu',
  encrypted: 'encrypted',
  vxlanIdList: 'com.docker.network.driver.overlay.vxlanid_list',
} as const;

export const VXLAN_PORT = 4789;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD_V4 = 50;
export const VXLAN_OVERHEAD_V6 = 70;


export const overlayBridgeName = (net: NetworkRecord) => `ov-${net.id.slice(0, 12)}`;
export const overlayVxlanName = (net: NetworkRecord) => `vx-${net.id.slice(0, 12)}`;

export const overlayDriver: NetworkDriver = {
  name: 'overlay',
  attach: 'interface',
  scope: 'global',
  optionKeys: Object.values(OVERLAY_OPT),

  // Its links are named for the network's ID: no host link can clash before it exists.
  hostLinksRead: () => [],

  prepareNetwork(intent: NetworkIntent, env: DriverEnv): PreparedNetwork {
    const o = intent.options;
    if (o[OVERLAY_OPT.encrypted] !== undefined && (o[OVERLAY_OPT.encrypted] === '' || parseBoolOption(OVERLAY_OPT.encrypted, o[OVERLAY_OPT.encrypted]))) {
      const wg = env.linkKinds.has('wireguard');
      throw new YardError('DRIVER_UNSUPPORTED', `--opt encrypted: this kernel has no ESP/xfrm (IPsec)${wg ? '' : ' and no WireGuard'}, so an encrypted overlay would pass no traffic`, {
        field: '--opt encrypted',
        hint: wg ? 'encrypted overlays are not implemented yet; create the network without --opt encrypted' : 'create the network without --opt encrypted, or run on a kernel with xfrm or wireguard',
      });
    }
    const underlay = env.underlay;
    if (!underlay) {
      throw new YardError('CLUSTER_NOT_CONFIGURED', `network ${intent.name}: the overlay driver needs a cluster store, and this daemon runs without --cluster-store`, {
        field: '--driver',
        hint: 'start every daemon with --cluster-store etcd://<host>:2379 --cluster-advertise <interface> (yard lab up does)',
      });
    }
    let mtu: number;
    let mtuReason: string;
    if (o[OVERLAY_OPT.mtu]) {
      mtu = parseMtuOption(OVERLAY_OPT.mtu, o[OVERLAY_OPT.mtu]);
      mtuReason = `set by -o ${OVERLAY_OPT.mtu}`;
    } else {
      const v6 = underlay.local.includes(':');
      const overhead = v6 ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD_V4;
      mtu = underlay.mtu - overhead;
      mtuReason = `underlay ${underlay.dev} MTU ${underlay.mtu} - ${overhead} (VXLAN over IPv${v6 ? 6 : 4})`;
    }
    const state: Record<string, string | number | boolean> = { mtu, mtuReason };
    if (o[OVERLAY_OPT.vxlanIdList]) state.vniList = o[OVERLAY_OPT.vxlanIdList];
    // Docker's overlay: sandboxes get the subnet's gateway address reserved, but nothing holds it.
    return { driverState: state, needsGateway: true, hasIpam: true, warnings: [] };
  },

  finishNetwork(net: NetworkRecord): void {
    net.driverState.bridge = overlayBridgeName(net);
    net.driverState.vxlan = overlayVxlanName(net);
  },

  planCreate(net: NetworkRecord, env: Pick<DriverEnv, 'instance' | 'underlay'>): Plan {
    const underlay = env.underlay;
    const br = overlayBridgeName(net);
    const vx = overlayVxlanName(net);
    const mtu = Number(net.driverState.mtu) || 1450;
    const mark = ownerMark(env.instance, net.id);
    return [
      { op: 'link.add.bridge', name: br, mtu, mac: macFromId(net.id) },
      { op: 'link.set', name: br, alias: mark },
      {
        op: 'link.add.vxlan',
        name: vx,
        vni: Number(net.driverState.vni) || 0,
        dstport: VXLAN_PORT,
        ...(underlay ? { local: underlay.local, dev: underlay.dev } : {}),
        mtu,
        proxy: true,
      },
      { op: 'link.set', name: vx, alias: mark },
      { op: 'link.set', name: vx, master: br, up: true },
      { op: 'link.set', name: br, up: true },
    ];
  },

  planDelete(net: NetworkRecord): Plan {
    return [
      { op: 'link.del', name: overlayVxlanName(net) },
      { op: 'link.del', name: overlayBridgeName(net) },
    ];
  },

  checkJoin: bridgeDriver.checkJoin,
  // driverState.bridge is the ov- bridge: the bridge driver's veth join applies, without
  // hairpin mode (nothing is DNATed on an overlay's bridge; ports publish on the gateway bridge).
  planJoin: (net, sb, ep) => bridgeDriver.planJoin(net, sb, ep).filter((op) => !(op.op === 'link.set' && op.hairpin !== undefined)),
  planLeave: bridgeDriver.planLeave,

  planGatewayRoutes(): Plan {
    return [];
  },

  hostLinksOf(net: NetworkRecord): string[] {
    return [overlayBridgeName(net), overlayVxlanName(net)];
  },
};
