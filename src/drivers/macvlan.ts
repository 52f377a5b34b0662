/**
 * macvlan: each sandbox interface is a macvlan child of the parent with its own MAC, so
 * the LAN sees the sandbox as one more host. Modes: bridge (children talk to each other
 * inside the host), private (they cannot), vepa (only through a hairpin-capable switch),
 * passthru (one child takes over the parent).
 */
import { YardError } from '../errors.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import type { Plan } from '../plan/ops.js';
import type { DriverEnv, NetworkDriver, NetworkIntent, PreparedNetwork } from './contract.js';
import { finishLan, LAN_OPT, lanGatewayRoutes, lanHostLinks, lanState, planLanCreate, planLanDelete, planLanJoin, planLanLeave, prepareLan } from './parent-link.js';

const MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;
type Mode = (typeof MODES)[number];

export const macvlanDriver: NetworkDriver = {
  name: 'macvlan',
  attach: 'interface',
  scope: 'local',
  optionKeys: [...Object.values(LAN_OPT), 'macvlan_mode'],

  prepareNetwork(intent: NetworkIntent, env: DriverEnv): PreparedNetwork {
    const mode = (intent.options.macvlan_mode ?? 'bridge') as Mode;
    if (!MODES.includes(mode)) {
      throw new YardError('INVALID_ARGUMENT', `macvlan_mode ${mode} is not a macvlan mode`, { field: '-o macvlan_mode', hint: `use one of ${MODES.join(', ')}` });
    }
    const lan = prepareLan('macvlan', intent, env);
    if (mode === 'passthru') {
      const addrs = env.hostLinks.get(lan.parent)?.addrs ?? [];
      if (addrs.length) {
        throw new YardError('INVALID_ARGUMENT', `parent ${lan.parent} carries this host's addresses (${addrs.join(', ')}); passthru would take the interface away from the host`, {
          field: '-o macvlan_mode',
          hint: 'use a dedicated parent interface for passthru, or macvlan_mode=bridge',
        });
      }
      const other = env.networks.find((n) => n.driverState.parent === lan.parent);
      if (other) {
        throw new YardError('INVALID_ARGUMENT', `network ${other.name} already uses parent ${lan.parent}; passthru needs the parent for itself`, { field: '-o parent', hint: 'use another parent' });
      }
    }
    const warnings = lan.hostAccess || intent.internal
      ? []
      : [`this host cannot reach sandboxes on ${intent.name} through ${lan.parent} (the kernel filters traffic between a parent and its macvlan children); add -o host_access=true to give the host a shim interface and routes to them`];
    return { driverState: { ...lanState(lan), mode }, needsGateway: true, hasIpam: true, warnings, ignoreHostRoutes: true };
  },

  finishNetwork: (net, env) => finishLan(net, env),
  planCreate: (net, env) => planLanCreate('macvlan', net, env.instance),
  planDelete: (net) => planLanDelete(net),

  checkJoin(net: NetworkRecord, endpointsOnNetwork: number): void {
    if (net.driverState.mode === 'passthru' && endpointsOnNetwork >= 1) {
      throw new YardError('INVALID_ARGUMENT', `network ${net.name} is in passthru mode and already has its one sandbox`, {
        hint: 'passthru gives the parent to a single sandbox; use macvlan_mode=bridge for several',
      });
    }
  },

  planJoin(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan {
    return planLanJoin(net, sb, ep, {
      op: 'link.add.macvlan',
      name: ep.ifname,
      parent: String(net.driverState.parent),
      mode: net.driverState.mode as Mode,
      targetNs: sb.netns ?? undefined,
      mac: ep.mac,
      ...(net.driverState.mtu ? { mtu: Number(net.driverState.mtu) } : {}),
    });
  },

  planLeave: planLanLeave,

  planGatewayRoutes: (net, sb, ep) => lanGatewayRoutes(net, sb, ep),
  hostLinksOf: (net) => lanHostLinks(net),
};
