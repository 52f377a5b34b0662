/**
 * What Switchyard's nftables tables must contain, computed from state. The chains and
 * rules are fixed text (render.ts); everything that depends on networks and sandboxes is
 * an element of a named set or map, so a change is a handful of element additions and
 * deletions and the rule count never grows with ports or networks.
 *
 * Published ports: a packet whose (destination address, protocol, destination port)
 * matches a key is DNATed. Keys are intervals, so "every address" is 0.0.0.0/0 and a port
 * range is one element. Two maps per family:
 *   pm4/pm6  key -> container address . port    (the port changes: 8080 -> 80)
 *   pr4/pr6  key -> container address           (the port is kept: 20000-20999 -> same)
 * A range whose host and container ports differ (8000-8009 -> 80-89) becomes one pm
 * element per port: nft cannot add an offset to a port.
 */
import { setImmediate as pause } from 'node:timers/promises';
import { hostFamilies, normalizeSources, publishTarget, sourceWithin, sourcesOf, specOf, type PortMapping } from '../model/ports.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';

export type InetSetName =
  | 'bridges' | 'same_bridge' | 'internal' | 'masq4' | 'masq6' | 'hairpin4' | 'hairpin6' | 'pm4' | 'pr4' | 'pm6' | 'pr6'
  | 'limited4' | 'allowed4' | 'limited6' | 'allowed6';
export type BridgeSetName = 'no_icc_ports';
export type SetName = InetSetName | BridgeSetName;

export interface SetDef {
  family: 'inet' | 'bridge';
  type: string;
  map?: string;
  interval?: boolean;
  /** Why the set exists: rendered as a comment above it. */
  about: string;
}

export const SET_DEFS: Record<SetName, SetDef> = {
  bridges: { family: 'inet', type: 'ifname', about: 'every bridge of a Switchyard network' },
  same_bridge: { family: 'inet', type: 'ifname . ifname', about: 'bridge . bridge, for traffic routed back into its own network' },
  internal: { family: 'inet', type: 'ifname', about: 'bridges of --internal networks: no traffic to or from outside' },
  masq4: { family: 'inet', type: 'ipv4_addr', interval: true, about: 'IPv4 subnets masqueraded when they leave through a non-bridge interface' },
  masq6: { family: 'inet', type: 'ipv6_addr', interval: true, about: 'IPv6 subnets masqueraded likewise' },
  hairpin4: { family: 'inet', type: 'ifname . ipv4_addr', interval: true, about: 'bridge . its IPv4 subnet: published-port traffic from a network back into itself is masqueraded' },
  hairpin6: { family: 'inet', type: 'ifname . ipv6_addr', interval: true, about: 'bridge . its IPv6 subnet, as hairpin4' },
  pm4: { family: 'inet', type: 'ipv4_addr . inet_proto . inet_service', map: 'ipv4_addr . inet_service', interval: true, about: 'published IPv4 ports: host address . protocol . port -> container address . port' },
  pr4: { family: 'inet', type: 'ipv4_addr . inet_proto . inet_service', map: 'ipv4_addr', interval: true, about: 'published IPv4 ports that keep their port number (ranges): -> container address' },
  pm6: { family: 'inet', type: 'ipv6_addr . inet_proto . inet_service', map: 'ipv6_addr . inet_service', interval: true, about: 'published IPv6 ports, as pm4' },
  pr6: { family: 'inet', type: 'ipv6_addr . inet_proto . inet_service', map: 'ipv6_addr', interval: true, about: 'published IPv6 ports, as pr4' },
  limited4: { family: 'inet', type: 'ipv4_addr . ipv4_addr . inet_proto . inet_service', interval: true, about: 'published IPv4 ports limited by --publish-from: host address . container address . protocol . container port' },
  allowed4: { family: 'inet', type: 'ipv4_addr . ipv4_addr . inet_proto . inet_service . ipv4_addr', interval: true, about: 'the sources each limited IPv4 port accepts: limited4 key . source prefix' },
  limited6: { family: 'inet', type: 'ipv6_addr . ipv6_addr . inet_proto . inet_service', interval: true, about: 'published IPv6 ports limited by --publish-from, as limited4' },
  allowed6: { family: 'inet', type: 'ipv6_addr . ipv6_addr . inet_proto . inet_service . ipv6_addr', interval: true, about: 'the sources each limited IPv6 port accepts, as allowed4' },
  no_icc_ports: { family: 'bridge', type: 'ifname', about: 'sandbox ports of networks with enable_icc=false: no IP traffic bridged between them' },
};

export const SET_NAMES = Object.keys(SET_DEFS) as SetName[];

export interface Element {
  key: string;
  value?: string;
}

/** Elements by set, each keyed by its full text (`key : value`) for diffing. */
export type FirewallModel = Record<SetName, Map<string, Element>>;

export function emptyModel(): FirewallModel {
  return Object.fromEntries(SET_NAMES.map((n) => [n, new Map()])) as unknown as FirewallModel;
}

export const elementText = (e: Element) => (e.value === undefined ? e.key : `${e.key} : ${e.value}`);

function add(model: FirewallModel, set: SetName, key: string, value?: string): void {
  const e: Element = value === undefined ? { key } : { key, value };
  model[set].set(elementText(e), e);
}

const q = (ifname: string) => `"${ifname}"`;

export function isBridgeNetwork(net: NetworkRecord): boolean {
  return net.driver === 'bridge' && !net.deleting;
}

export function bridgeOf(net: NetworkRecord): string {
  return String(net.driverState.bridge || `br-${net.id.slice(0, 12)}`);
}

/** The host-side key address of a mapping in one family. */
function keyAddress(m: PortMapping, fam: 4 | 6): string {
  if (!m.hostIp || m.hostIp === '0.0.0.0' || m.hostIp === '::') return fam === 4 ? '0.0.0.0/0' : '::/0';
  return m.hostIp;
}

const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);

/** The map elements one mapping becomes, for a container address of family `fam`. */
export function portElements(m: PortMapping, fam: 4 | 6, containerAddr: string): { set: SetName; key: string; value: string }[] {
  const addr = keyAddress(m, fam);
  const [pm, pr] = fam === 4 ? (['pm4', 'pr4'] as const) : (['pm6', 'pr6'] as const);
  if (m.hostPort === m.containerPort && m.hostPortEnd === m.containerPortEnd) {
    return [{ set: pr, key: `${addr} . ${m.proto} . ${range(m.hostPort, m.hostPortEnd)}`, value: containerAddr }];
  }
  if (m.containerPort === m.containerPortEnd) {
    return [{ set: pm, key: `${addr} . ${m.proto} . ${range(m.hostPort, m.hostPortEnd)}`, value: `${containerAddr} . ${m.containerPort}` }];
  }
  const out: { set: SetName; key: string; value: string }[] = [];
  for (let i = 0; i <= m.hostPortEnd - m.hostPort; i++) {
    out.push({ set: pm, key: `${addr} . ${m.proto} . ${m.hostPort + i}`, value: `${containerAddr} . ${m.containerPort + i}` });
  }
  return out;
}

/**
 * The source-limit elements of a mapping limited by --publish-from, for a container address
 * of family `fam`: one `limited` element (the port) and one `allowed` element per source of
 * that family, whatever the number of ports in a range. The key is what the forward chain
 * sees after DNAT (the original destination address, the container address and port), so
 * it needs no per-port rule. A limited port with no source of a family accepts nobody of it.
 */
export function sourceElements(m: PortMapping, fam: 4 | 6, containerAddr: string): { set: SetName; key: string }[] {
  if (!m.sources) return [];
  const base = `${keyAddress(m, fam)} . ${containerAddr} . ${m.proto} . ${range(m.containerPort, m.containerPortEnd)}`;
  return [{ set: fam === 4 ? 'limited4' : 'limited6', key: base }, ...sourcesOf(m, fam).map((s) => ({ set: (fam === 4 ? 'allowed4' : 'allowed6') as SetName, key: `${base} . ${s}` }))];
}

/** A sandbox's published-port elements (none when it has no usable target). */
export function* sandboxPortElements(sb: SandboxRecord, networks: ReadonlyMap<string, NetworkRecord>): Generator<{ set: SetName; key: string; value?: string }> {
  const target = publishTarget(sb, networks);
  if (!target || !sb.ports?.length) return;
  for (const m of sb.ports) {
    if (!m.hostPort) continue;
    for (const fam of hostFamilies(m)) {
      const addr = fam === 4 ? target.ep.ipv4 : target.ep.ipv6;
      if (!addr) continue;
      yield* portElements(m, fam, addr.split('/')[0]!);
      yield* sourceElements(m, fam, addr.split('/')[0]!);
    }
  }
}

/**
 * Elements handled between two pauses of the step-wise builders below (a few ms of work):
 * the daemon builds and diffs models of tens of thousands of elements without holding
 * the event loop (API, DNS) for more than that.
 */
export const STEP_ELEMENTS = 2000;

/** Fills `model` from state, yielding after every STEP_ELEMENTS elements. */
function* buildModel(model: FirewallModel, networks: readonly NetworkRecord[], sandboxes: readonly SandboxRecord[]): Generator<void> {
  const byId = new Map(networks.map((n) => [n.id, n]));
  for (const net of networks) {
    if (!isBridgeNetwork(net)) continue;
    const br = bridgeOf(net);
    add(model, 'bridges', q(br));
    add(model, 'same_bridge', `${q(br)} . ${q(br)}`);
    if (net.internal) {
      add(model, 'internal', q(br));
      continue;
    }
    for (const p of net.ipam.config) {
      // Independent of enable_ip_masquerade: without it a sandbox cannot reach its own
      // published port at all (the reply would not come back through the host).
      add(model, p.subnet.includes(':') ? 'hairpin6' : 'hairpin4', `${q(br)} . ${p.subnet}`);
      if (net.driverState.masquerade !== false) add(model, p.subnet.includes(':') ? 'masq6' : 'masq4', p.subnet);
    }
  }
  let n = 0;
  for (const sb of sandboxes) {
    if (sb.deleting) continue;
    for (const ep of Object.values(sb.endpoints)) {
      const net = byId.get(ep.networkId);
      if (net && isBridgeNetwork(net) && net.driverState.icc === false && ep.hostIfname) add(model, 'no_icc_ports', q(ep.hostIfname));
    }
    for (const e of sandboxPortElements(sb, byId)) {
      add(model, e.set, e.key, e.value);
      if (++n % STEP_ELEMENTS === 0) yield;
    }
  }
}

export function modelOf(networks: readonly NetworkRecord[], sandboxes: readonly SandboxRecord[]): FirewallModel {
  const model = emptyModel();
  for (const _ of buildModel(model, networks, sandboxes));
  return model;
}

/** modelOf, letting the event loop run between steps. */
export async function modelOfAsync(networks: readonly NetworkRecord[], sandboxes: readonly SandboxRecord[]): Promise<FirewallModel> {
  const model = emptyModel();
  for (const _ of buildModel(model, networks, sandboxes)) await pause();
  return model;
}

export interface ModelDiff {
  del: Record<SetName, Element[]>;
  add: Record<SetName, Element[]>;
  count: number;
}

function* buildDiff(d: ModelDiff, from: FirewallModel, to: FirewallModel): Generator<void> {
  let n = 0;
  for (const name of SET_NAMES) {
    d.del[name] = [];
    d.add[name] = [];
    for (const [k, e] of from[name]) {
      if (!to[name].has(k)) d.del[name].push(e);
      if (++n % STEP_ELEMENTS === 0) yield;
    }
    for (const [k, e] of to[name]) {
      if (!from[name].has(k)) d.add[name].push(e);
      if (++n % STEP_ELEMENTS === 0) yield;
    }
    d.count += d.del[name].length + d.add[name].length;
  }
}

const emptyDiff = (): ModelDiff => ({ del: {} as Record<SetName, Element[]>, add: {} as Record<SetName, Element[]>, count: 0 });

/** Elements to delete and to add to turn `from` into `to`. */
export function diffModels(from: FirewallModel, to: FirewallModel): ModelDiff {
  const d = emptyDiff();
  for (const _ of buildDiff(d, from, to));
  return d;
}

/** diffModels, letting the event loop run between steps. */
export async function diffModelsAsync(from: FirewallModel, to: FirewallModel): Promise<ModelDiff> {
  const d = emptyDiff();
  for (const _ of buildDiff(d, from, to)) await pause();
  return d;
}

/** Number of elements in every set (for figures and tests). */
export function elementCount(model: FirewallModel): number {
  return SET_NAMES.reduce((n, s) => n + model[s].size, 0);
}

/** The host's input verdict for a new connection to a host port (host-firewall.ts inputVerdict). */
export type HostInputVerdict = (fam: 4 | 6, proto: PortMapping['proto'], port: number) => { verdict: 'accept' | 'drop'; decidedBy: string; sources: string[] };

/**
 * `--host-firewall obey`: published ports whose host port the host's input filtering would
 * drop are refused too. Each becomes a limited port (limited4/6) whose allowed sources are
 * the ones the host accepts before it drops, narrowed to the port's own --publish-from
 * (none: nobody). A range is refused whole when any of its ports is (conservative).
 * Changes `model` in place; returns one line per decision, for the daemon log.
 */
export function obeyHostInput(model: FirewallModel, sandboxes: Iterable<SandboxRecord>, networks: ReadonlyMap<string, NetworkRecord>, verdictOf: HostInputVerdict): string[] {
  const memo = new Map<string, ReturnType<HostInputVerdict>>();
  const verdict: HostInputVerdict = (fam, proto, port) => {
    const k = `${fam} ${proto} ${port}`;
    let v = memo.get(k);
    if (!v) memo.set(k, (v = verdictOf(fam, proto, port)));
    return v;
  };
  const lines: string[] = [];
  for (const sb of sandboxes) {
    if (sb.deleting || !sb.ports?.length) continue;
    const target = publishTarget(sb, networks);
    if (!target) continue;
    for (const m of sb.ports) {
      if (!m.hostPort) continue;
      for (const fam of hostFamilies(m)) {
        const addr = (fam === 4 ? target.ep.ipv4 : target.ep.ipv6)?.split('/')[0];
        if (!addr) continue;
        let denied: ReturnType<HostInputVerdict> | undefined;
        for (let p = m.hostPort; p <= m.hostPortEnd && !denied; p++) {
          const v = verdict(fam, m.proto, p);
          if (v.verdict === 'drop') denied = v;
        }
        if (!denied) continue;
        const hostSources = normalizeSources(denied.sources.filter((s) => s.includes(':') === (fam === 6)));
        const own = m.sources?.filter((s) => s.includes(':') === (fam === 6));
        // The intersection of two lists of prefixes: of each overlapping pair, the narrower one.
        const sources = own ? normalizeSources(own.flatMap((o) => hostSources.flatMap((h) => (sourceWithin(o, h) ? [o] : sourceWithin(h, o) ? [h] : [])))) : hostSources;
        for (const e of sourceElements(m, fam, addr)) model[e.set].delete(e.key);
        for (const e of sourceElements({ ...m, sources }, fam, addr)) add(model, e.set, e.key);
        lines.push(`host firewall obey: -p ${specOf(m)} of ${sb.name} over IPv${fam}: ${sources.length ? `only from ${sources.join(', ')}` : 'refused'}, as the host's input filtering decides (${denied.decidedBy})`);
      }
    }
  }
  return lines;
}
