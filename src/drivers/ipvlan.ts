/**
 * ipvlan: sandbox interfaces share the parent's MAC. l2 switches between children and
 * ARPs on the LAN like macvlan; l3 and l3s route: the sandbox has an on-link default
 * route and the LAN reaches it through a route to the subnet via this host (`yard`
 * prints that route). This kernel may lack ipvlan; then create is refused at once
 * (capability probe), not at the first run.
 */
import { YardError } from '../errors.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import type { Plan } from '../plan/ops.js';
import type { DriverEnv, NetworkDriver, NetworkIntent, PreparedNetwork } from './contract.js';
import { finishLan, LAN_OPT, lanGatewayRoutes, lanHostLinks, lanState, planLanCreate, planLanDelete, planLanJoin, planLanLeave, prepareLan } from './parent-link.js';

const MODES = ['l2', 'l3', 'l3s'] as const;
const FLAGS = ['bridge', 'private', 'vepa'] as const;
type Mode = (typeof MODES)[number];
type Flag = (typeof FLAGS)[number];

export const ipvlanDriver: NetworkDriver = {
  name: 'ipvlan',
  attach: 'interface',
  scope: 'local',
  optionKeys: [...Object.values(LAN_OPT), 'ipvlan_mode', 'ipvlan_flag'],

  prepareNetwork(intent: NetworkIntent, env: DriverEnv): PreparedNetwork {
    const mode = (intent.options.ipvlan_mode ?? 'l2') as Mode;
    const flag = (intent.options.ipvlan_flag ?? 'bridge') as Flag;
    if (!MODES.includes(mode)) {
      throw new YardError('INVALID_ARGUMENT', `ipvlan_mode ${mode} is not an ipvlan mode`, { field: '-o ipvlan_mode', hint: `use one of ${MODES.join(', ')}` });
    }
    if (!FLAGS.includes(flag)) {
      throw new YardError('INVALID_ARGUMENT', `ipvlan_flag ${flag} is not an ipvlan flag`, { field: '-o ipvlan_flag', hint: `use one of ${FLAGS.join(', ')}` });
    }
    const lan = prepareLan('ipvlan', intent, env);
    // In l3/l3s the host is the sandboxes' router, so it must reach them out of the box:
    // the parent's own stack cannot (ipvlan never loops master traffic to its children),
    // so the shim is on by default there (-o host_access=false turns it off).
    if (mode !== 'l2' && !intent.internal && intent.options[LAN_OPT.hostAccess] === undefined) lan.hostAccess = true;
    // The ipvlan port mode is per parent: every ipvlan network on one parent must agree.
    const clash = env.networks.find((n) => n.driver === 'ipvlan' && n.driverState.parent === lan.parent && n.driverState.mode !== mode);
    if (clash) {
      throw new YardError('INVALID_ARGUMENT', `network ${clash.name} already uses parent ${lan.parent} in ipvlan mode ${clash.driverState.mode}`, {
        field: '-o ipvlan_mode',
        hint: `use ipvlan_mode=${clash.driverState.mode} on this parent, or another parent`,
      });
    }
    const warnings: string[] = [];
    if (mode === 'l2' && !lan.hostAccess && !intent.internal) {
      warnings.push(`this host cannot reach sandboxes on ${intent.name} through ${lan.parent} (the kernel filters parent-child traffic in ipvlan l2); add -o host_access=true for a shim`);
    }
    if (mode !== 'l2' && !intent.internal) {
      const subnets = intent.ipam.map((c) => c.subnet).filter(Boolean).join(', ') || 'its subnet';
      const here = env.hostLinks.get(lan.parent)?.addrs.find((a) => !a.includes(':'))?.split('/')[0] ?? '<this host>';
      warnings.push(`ipvlan ${mode}: the LAN reaches ${subnets} only through this host; on the upstream router add: ip route add ${subnets} via ${here}`);
    }
    return { driverState: { ...lanState(lan), mode, flag }, needsGateway: mode === 'l2', hasIpam: true, warnings, ignoreHostRoutes: true };
  },

  finishNetwork: (net, env) => finishLan(net, env),
  planCreate: (net, env) => planLanCreate('ipvlan', net, env.instance),
  planDelete: (net) => planLanDelete(net),

  planJoin(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Plan {
    return planLanJoin(net, sb, ep, {
      op: 'link.add.ipvlan',
      name: ep.ifname,
      parent: String(net.driverState.parent),
      mode: net.driverState.mode as Mode,
      flag: net.driverState.flag as Flag,
      targetNs: sb.netns ?? undefined,
      ...(net.driverState.mtu ? { mtu: Number(net.driverState.mtu) } : {}),
    });
  },

  planLeave: planLanLeave,

  planGatewayRoutes: (net, sb, ep) => lanGatewayRoutes(net, sb, ep, net.driverState.mode !== 'l2'),
  hostLinksOf: (net) => lanHostLinks(net),
};
