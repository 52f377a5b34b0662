/**
 * `yard port explain`: for each published port, who can reach it and which rules decide
 * that, derived from the same model and rule text the firewall loads. Pure. The chains
 * are an input (by default the ones Switchyard renders; the daemon passes the ones the
 * kernel holds), so a claim such as "unreachable from the LAN" holds only when the rule
 * that makes it true is there.
 */
import ipaddr from 'ipaddr.js';
import { hostFamilies, publishTarget, sourceWithin, sourcesOf, specOf, type PortMapping } from '../model/ports.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { portElements, sourceElements, elementText, bridgeOf } from './model.js';
import { RULES, TABLE, USER_CHAIN, USER_TABLE, dropsBeforeDnat, inetChains, type ChainSpec } from './render.js';

export interface PortExplanation {
  spec: string;
  /** e.g. `10.231.0.2:8080/tcp -> 172.18.0.2:80` */
  path: string;
  reach: { who: 'LAN' | 'host' | 'localhost' | 'sandboxes'; allowed: boolean; why: string }[];
  rules: string[];
  /** With `--from ADDR`: whether a client with that address may connect, and what decides it. */
  from?: { address: string; allowed: boolean; why: string; decidedBy: string };
  /** What the host's other firewalls (ufw, firewalld, ...) mean for this port (docs/firewall.md). */
  hostFirewall?: string[];
}

export interface ExplainOptions {
  /** A client address (validated by the caller): say whether it may connect to each port. */
  from?: string;
}

const r = (chain: string, rule: string) => `inet ${TABLE} ${chain}: ${rule}`;

export function explainPorts(
  sb: SandboxRecord,
  networks: ReadonlyMap<string, NetworkRecord>,
  _all: readonly SandboxRecord[],
  userRules: string[] | null,
  chains: readonly ChainSpec[] = inetChains(),
  opts: ExplainOptions = {},
): PortExplanation[] {
  const target = publishTarget(sb, networks);
  const guard = dropsBeforeDnat(chains, RULES.loopbackGuard4);
  const fwd = chains.find((c) => c.name === 'forward' && c.hook?.hook === 'forward')?.rules ?? [];
  const enforced = { 4: fwd.includes(RULES.sources4), 6: fwd.includes(RULES.sources6) };
  const out: PortExplanation[] = [];
  for (const m of sb.ports ?? []) {
    const e = explainOne(m, sb, target, userRules, guard, enforced);
    if (opts.from !== undefined) e.from = explainFrom(m, target, opts.from, guard, enforced, userRules);
    out.push(e);
  }
  return out;
}

type Enforced = { 4: boolean; 6: boolean };

/** Whether a client at `addr` (not this host) may open a connection to the port, and which element or rule decides. */
function explainFrom(m: PortMapping, target: ReturnType<typeof publishTarget>, addr: string, guard: ChainSpec | undefined, enforced: Enforced, userRules: string[] | null): NonNullable<PortExplanation['from']> {
  const fam = ipaddr.parse(addr).kind() === 'ipv6' ? 6 : 4;
  const no = (why: string, decidedBy: string) => ({ address: addr, allowed: false, why, decidedBy });
  const user = userRules?.length ? ` (unless a rule of the user chain inet ${USER_TABLE} ${USER_CHAIN}, consulted first, drops it)` : '';
  if (!target) return no('the port is not published', 'no map element');
  if (!hostFamilies(m).includes(fam) || !(fam === 4 ? target.ep.ipv4 : target.ep.ipv6)) return no(`the port is not published on IPv${fam}`, `no element of ${fam === 4 ? 'pm4/pmaddr4/pr4' : 'pm6/pmaddr6/pr6'}`);
  if (m.hostIp.startsWith('127.')) {
    return guard ? no(`only this host can reach ${m.hostIp}`, `${guard.name} "${RULES.loopbackGuard4}"`) : { address: addr, allowed: true, why: `nothing drops ${m.hostIp} from outside before DNAT`, decidedBy: `forward "${RULES.published}"` };
  }
  const cAddr = (fam === 4 ? target.ep.ipv4 : target.ep.ipv6)!.split('/')[0]!;
  const rule = fam === 4 ? RULES.sources4 : RULES.sources6;
  if (!m.sources) return { address: addr, allowed: true, why: `the port is not limited by --publish-from: every client may connect${user}`, decidedBy: `forward "${RULES.published}"` };
  const [limited, ...allowed] = sourceElements(m, fam, cAddr);
  if (!enforced[fam]) return { address: addr, allowed: true, why: `the port is limited to ${sourcesOf(m, fam).join(', ') || 'no IPv' + fam + ' source'}, but the forward chain lacks the rule that enforces it (Switchyard's self-heal restores it)`, decidedBy: `forward "${RULES.published}"` };
  const hit = allowed.find((e) => sourceWithin(addr, e.key.split(' . ').pop()!));
  if (hit) return { address: addr, allowed: true, why: `${hit.key.split(' . ').pop()} is one of the port's sources${user}`, decidedBy: `set ${hit.set} element ${hit.key}` };
  return no(`the port is limited to ${sourcesOf(m, fam).join(', ') || `no IPv${fam} source`}, and ${addr} is not in ${sourcesOf(m, fam).length > 1 ? 'any of them' : 'it'}: the connection is refused`, `set ${limited!.set} element ${limited!.key} and forward "${rule}"`);
}

function explainOne(
  m: PortMapping,
  sb: SandboxRecord,
  target: ReturnType<typeof publishTarget>,
  userRules: string[] | null,
  guard: ChainSpec | undefined,
  enforced: Enforced,
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
    return [
      ...portElements(m, fam, a.split('/')[0]!).map((e) => `map ${e.set} element ${elementText(e)}`),
      ...sourceElements(m, fam, a.split('/')[0]!).map((e) => `set ${e.set} element ${e.key}`),
    ];
  });
  const limit = m.sources ? ` from ${m.sources.join(', ')} only (--publish-from: other clients are refused by forward "ct state new ct status dnat ... != @allowed4/6 reject"${enforced[4] && enforced[6] ? '' : ', a rule that is missing from the kernel right now'})` : '';
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
        { who: 'LAN', allowed: true, why: `DNAT in nat-prerouting when the destination is ${m.hostIp ? m.hostIp : 'any address of this host'}; forward accepts it with "${RULES.published}"${limit}${userRules?.length ? ' unless a user rule drops it first' : ''}` },
        { who: 'host', allowed: true, why: `DNAT in nat-output for ${m.hostIp || 'any local address'}${m.sources ? ' (the host itself is not limited by --publish-from: its connections do not cross the forward hook)' : ''}` },
        { who: 'localhost', allowed: !m.hostIp || m.hostIp === '0.0.0.0', why: !m.hostIp || m.hostIp === '0.0.0.0' ? '127.0.0.1 is a local address covered by the key 0.0.0.0/0; its source is masqueraded onto the bridge' : `only ${m.hostIp} is published` },
        { who: 'sandboxes', allowed: true, why: `through ${m.hostIp || 'the host\'s addresses'} (hairpin): DNAT; from ${target.net.name} itself (${sb.name} included) "${RULES.hairpin4}" so replies come back through the host, from other networks the reply is routed back through it anyway${limit}` },
      ];
  return {
    spec,
    path: `${hostShown}:${ports(m.hostPort, m.hostPortEnd)}/${m.proto} -> ${sb.name} ${cAddr}:${ports(m.containerPort, m.containerPortEnd)} on network ${target.net.name} (${br})`,
    reach,
    rules: [
      ...(m.sources ? [r('forward', RULES.sources4), r('forward', RULES.sources6)] : []),
      ...(loopbackOnly && guard ? [r(guard.name, RULES.loopbackGuard4)] : []),
      r('nat-prerouting / nat-output', RULES.toPublished),
      ...elements,
      r('forward', RULES.published),
      r('forward', `${RULES.intoNetworks}  (everything else from outside into a network)`),
      userNote,
    ],
  };
}
