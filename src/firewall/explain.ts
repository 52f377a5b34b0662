/**
 * `yard port explain`: for each published port, who can reach it and which rules decide
 * that, derived from the same model and rule text the firewall loads. Pure. The chains
 * are an input (by default the ones Switchyard renders; the daemon passes the ones the
 * kernel holds), so a claim such as "unreachable from the LAN" holds only when the rule
 * that makes it true is there.
 */
import { publishTarget, specOf, type PortMapping } from '../model/ports.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { portElements, elementText, bridgeOf } from './model.js';
import { RULES, TABLE, USER_CHAIN, USER_TABLE, dropsBeforeDnat, inetChains, type ChainSpec } from './render.js';

export interface PortExplanation {
  spec: string;
  /** e.g. `10.231.0.2:8080/tcp -> 172.18.0.2:80` */
  path: string;
  reach: { who: 'LAN' | 'host' | 'localhost' | 'sandboxes'; allowed: boolean; why: string }[];
  rules: string[];
}

const r = (chain: string, rule: string) => `inet ${TABLE} ${chain}: ${rule}`;

export function explainPorts(
  sb: SandboxRecord,
  networks: ReadonlyMap<string, NetworkRecord>,
  _all: readonly SandboxRecord[],
  userRules: string[] | null,
  chains: readonly ChainSpec[] = inetChains(),
): PortExplanation[] {
  const target = publishTarget(sb, networks);
  const guard = dropsBeforeDnat(chains, RULES.loopbackGuard4);
  const out: PortExplanation[] = [];
  for (const m of sb.ports ?? []) out.push(explainOne(m, sb, target, userRules, guard));
  return out;
}

function explainOne(
  m: PortMapping,
  sb: SandboxRecord,
  target: ReturnType<typeof publishTarget>,
  userRules: string[] | null,
  guard: ChainSpec | undefined,
): PortExplanation {
  const spec = specOf(m);
  const ports = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
  if (!target) {
    return { spec, path: `${spec}: not published (the sandbox has no non-internal bridge network)`, reach: [], rules: [] };
  }
  const cAddr = target.ep.ipv4?.split('/')[0] ?? target.ep.ipv6?.split('/')[0] ?? '?';
  const loopbackOnly = m.hostIp === '127.0.0.1' || m.hostIp.startsWith('127.');
  const hostShown = m.hostIp || '0.0.0.0 and ::';
  const elements = (['4', '6'] as const).flatMap((f) => {
    const fam = Number(f) as 4 | 6;
    const a = fam === 4 ? target.ep.ipv4 : target.ep.ipv6;
    if (!a || (m.hostIp && m.hostIp.includes(':') !== (fam === 6))) return [];
    return portElements(m, fam, a.split('/')[0]!).map((e) => `map ${e.set} element ${elementText(e)}`);
  });
  const br = bridgeOf(target.net);
  const userNote =
    userRules === null
      ? `the user chain inet ${USER_TABLE} ${USER_CHAIN} is missing (Switchyard re-creates it)`
      : userRules.length
        ? `the user chain inet ${USER_TABLE} ${USER_CHAIN} is consulted first and has ${userRules.length} rule(s): ${userRules.join(' ; ')}`
        : `the user chain inet ${USER_TABLE} ${USER_CHAIN} is consulted first and is empty`;
  // Packets addressed to 127.x from elsewhere reach nat-prerouting (127.0.0.1 is a local
  // address, so "fib daddr type local" matches) unless a chain drops them before DNAT.
  const guardRule = guard && `${guard.name} "${RULES.loopbackGuard4}"`;
  const reach: PortExplanation['reach'] = loopbackOnly
    ? [
        { who: 'localhost', allowed: true, why: `DNAT in nat-output for ${m.hostIp}, source masqueraded onto ${br} (route_localnet=1 on ${br})` },
        { who: 'host', allowed: false, why: `only ${m.hostIp} is published; other host addresses do not match the map key` },
        guardRule
          ? { who: 'LAN', allowed: false, why: `packets for ${m.hostIp} that did not come from this host (lo) are dropped before DNAT by ${guardRule}; routing to ${cAddr}:${ports(m.containerPort, m.containerPortEnd)} directly is dropped by forward "${RULES.intoNetworks}"` }
          : { who: 'LAN', allowed: true, why: `no chain drops ${m.hostIp} arriving from outside before DNAT: a machine on the LAN that sends a packet for ${m.hostIp} to this host's MAC address is DNATed by nat-prerouting and accepted by forward "${RULES.published}"` },
        guardRule
          ? { who: 'sandboxes', allowed: false, why: `127.0.0.0/8 in a sandbox is its own loopback; a packet for 127.x sent to the host through a bridge is dropped by ${guardRule}` }
          : { who: 'sandboxes', allowed: true, why: `127.0.0.0/8 in a sandbox is its own loopback, but nothing drops a packet for ${m.hostIp} sent to the host through a bridge before DNAT` },
      ]
    : [
        { who: 'LAN', allowed: true, why: `DNAT in nat-prerouting when the destination is ${m.hostIp ? m.hostIp : 'any address of this host'}; forward accepts it with "${RULES.published}"${userRules?.length ? ' unless a user rule drops it first' : ''}` },
        { who: 'host', allowed: true, why: `DNAT in nat-output for ${m.hostIp || 'any local address'}` },
        { who: 'localhost', allowed: !m.hostIp || m.hostIp === '0.0.0.0', why: !m.hostIp || m.hostIp === '0.0.0.0' ? '127.0.0.1 is a local address covered by the key 0.0.0.0/0; its source is masqueraded onto the bridge' : `only ${m.hostIp} is published` },
        { who: 'sandboxes', allowed: true, why: `through ${m.hostIp || 'the host\'s addresses'} (hairpin): DNAT; from ${target.net.name} itself (${sb.name} included) "${RULES.hairpin4}" so replies come back through the host, from other networks the reply is routed back through it anyway` },
      ];
  return {
    spec,
    path: `${hostShown}:${ports(m.hostPort, m.hostPortEnd)}/${m.proto} -> ${sb.name} ${cAddr}:${ports(m.containerPort, m.containerPortEnd)} on network ${target.net.name} (${br})`,
    reach,
    rules: [
      ...(loopbackOnly && guard ? [r(guard.name, RULES.loopbackGuard4)] : []),
      r('nat-prerouting / nat-output', RULES.toPublished),
      ...elements,
      r('forward', RULES.published),
      r('forward', `${RULES.intoNetworks}  (everything else from outside into a network)`),
      userNote,
    ],
  };
}
