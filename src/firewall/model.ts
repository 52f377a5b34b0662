/**
 * What Switchyard's nftables tables must contain, computed from state. The chains and
 * rules are fixed text (render.ts); everything that depends on networks and sandboxes is
 * an element of a named set or map, so a change is a handful of element additions and
 * deletions and the rule count never grows with ports or networks.
 *
 * Published ports: the first packet of a connection to a local address is DNATed when
 * its (destination address, protocol, destination port) matches an element. Single ports
 * are exact keys in hash maps, so that lookup costs the same with 10 or 20,000 ports
 * (an interval map of concatenated keys is a bitmap walk whose cost grows with its size):
 *   pm4/pm6          protocol . port -> container address . port        (every host address)
 *   pmaddr4/pmaddr6  host address . protocol . port -> container address . port
 *   pr4/pr6          port range . protocol . host address (interval) -> container address
 * Only a range that keeps its numbers (20000-20999:20000-20999) is an interval element,
 * one for the whole range, port first in the key so that a lookup narrows at once; a
 * shifted range (8000-8009:80-89) is one hash element per port (nft cannot add an offset
 * to a port).
 */
import { setImmediate as pause } from 'node:timers/promises';
import { hostFamilies, normalizeSources, publishTarget, sourceWithin, sourcesOf, specOf, type PortMapping } from '../model/ports.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';

export type InetSetName =
  | 'bridges' | 'same_bridge' | 'internal' | 'masq4' | 'masq6' | 'hairpin4' | 'hairpin6' | 'pm4' | 'pmaddr4' | 'pr4' | 'pm6' | 'pmaddr6' | 'pr6'
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
  pm4: { family: 'inet', type: 'inet_proto . inet_service', map: 'ipv4_addr . inet_service', about: 'IPv4 ports published on every address: protocol . port -> container address . port (a hash: one lookup whatever the number of ports)' },
  pmaddr4: { family: 'inet', type: 'ipv4_addr . inet_proto . inet_service', map: 'ipv4_addr . inet_service', about: 'IPv4 ports published on one host address: address . protocol . port -> container address . port (a hash)' },
  pr4: { family: 'inet', type: 'inet_service . inet_proto . ipv4_addr', map: 'ipv4_addr', interval: true, about: 'IPv4 port ranges that keep their numbers: port range . protocol . host address (0.0.0.0/0: every address) -> container address' },
  pm6: { family: 'inet', type: 'inet_proto . inet_service', map: 'ipv6_addr . inet_service', about: 'IPv6 ports published on every address, as pm4' },
  pmaddr6: { family: 'inet', type: 'ipv6_addr . inet_proto . inet_service', map: 'ipv6_addr . inet_service', about: 'IPv6 ports published on one host address, as pmaddr4' },
  pr6: { family: 'inet', type: 'inet_service . inet_proto . ipv6_addr', map: 'ipv6_addr', interval: true, about: 'IPv6 port ranges that keep their numbers, as pr4' },
  limited4: { family: 'inet', type: 'inet_service . inet_proto . ipv4_addr . ipv4_addr', interval: true, about: 'published IPv4 ports limited by --publish-from: container port . protocol . container address . host address (port first: a lookup narrows at once)' },
  allowed4: { family: 'inet', type: 'inet_service . inet_proto . ipv4_addr . ipv4_addr . ipv4_addr', interval: true, about: 'the sources each limited IPv4 port accepts: limited4 key . source prefix' },
  limited6: { family: 'inet', type: 'inet_service . inet_proto . ipv6_addr . ipv6_addr', interval: true, about: 'published IPv6 ports limited by --publish-from, as limited4' },
  allowed6: { family: 'inet', type: 'inet_service . inet_proto . ipv6_addr . ipv6_addr . ipv6_addr', interval: true, about: 'the sources each limited IPv6 port accepts, as allowed4' },
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

/** Whether a mapping is published on every address of its families. */
const onEveryAddress = (m: PortMapping) => !m.hostIp || m.hostIp === '0.0.0.0' || m.hostIp === '::';

/** The map elements one mapping becomes, for a container address of family `fam`. */
export function portElements(m: PortMapping, fam: 4 | 6, containerAddr: string): { set: SetName; key: string; value: string }[] {
  const every = onEveryAddress(m);
  if (m.hostPortEnd > m.hostPort && m.hostPort === m.containerPort && m.hostPortEnd === m.containerPortEnd) {
    return [{ set: fam === 4 ? 'pr4' : 'pr6', key: `${range(m.hostPort, m.hostPortEnd)} . ${m.proto} . ${keyAddress(m, fam)}`, value: containerAddr }];
  }
  const set: SetName = every ? (fam === 4 ? 'pm4' : 'pm6') : fam === 4 ? 'pmaddr4' : 'pmaddr6';
  const prefix = every ? `${m.proto}` : `${m.hostIp} . ${m.proto}`;
  const out: { set: SetName; key: string; value: string }[] = [];
  for (let i = 0; i <= m.hostPortEnd - m.hostPort; i++) {
    const cport = m.containerPortEnd > m.containerPort ? m.containerPort + i : m.containerPort;
    out.push({ set, key: `${prefix} . ${m.hostPort + i}`, value: `${containerAddr} . ${cport}` });
  }
  return out;
}

/**
 * The source-limit elements of a mapping limited by --publish-from, for a container address
 * of family `fam`: one `limited` element (the port) and one `allowed` element per source of
 * that family, whatever the number of ports in a range. The key is what the forward chain
 * sees after DNAT (the original destination address, the container address and port), so
 * it needs no per-port rule; the port comes first, so that the lookup (an interval set:
 * addresses and ports may be ranges) narrows to a handful of elements at its first field. A limited port with no source of a family accepts nobody of it.
 */
export function sourceElements(m: PortMapping, fam: 4 | 6, containerAddr: string): { set: SetName; key: string }[] {
  if (!m.sources) return [];
  const base = `${range(m.containerPort, m.containerPortEnd)} . ${m.proto} . ${containerAddr} . ${keyAddress(m, fam)}`;
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

/** The elements of the networks themselves (bridges, isolation, masquerade, hairpin). */
export function networkElements(networks: Iterable<NetworkRecord>): FirewallModel {
  const model = emptyModel();
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
  return model;
}

/** The elements one sandbox brings (its icc=false ports and its published ports), added to `model`. */
export function* addSandboxElements(model: FirewallModel, sb: SandboxRecord, byId: ReadonlyMap<string, NetworkRecord>): Generator<void> {
  if (sb.deleting) return;
  for (const ep of Object.values(sb.endpoints)) {
    const net = byId.get(ep.networkId);
    if (net && isBridgeNetwork(net) && net.driverState.icc === false && ep.hostIfname) add(model, 'no_icc_ports', q(ep.hostIfname));
  }
  let n = 0;
  for (const e of sandboxPortElements(sb, byId)) {
    add(model, e.set, e.key, e.value);
    if (++n % STEP_ELEMENTS === 0) yield;
  }
}

/** One sandbox's elements as a model of their own. */
export function sandboxModel(sb: SandboxRecord, byId: ReadonlyMap<string, NetworkRecord>): FirewallModel {
  const model = emptyModel();
  for (const _ of addSandboxElements(model, sb, byId));
  return model;
}

/** sandboxModel, letting the event loop run between steps. */
export async function sandboxModelAsync(sb: SandboxRecord, byId: ReadonlyMap<string, NetworkRecord>): Promise<FirewallModel> {
  const model = emptyModel();
  for (const _ of addSandboxElements(model, sb, byId)) await pause();
  return model;
}

/**
 * A diff gathered over several part replacements, made safe to load: an element both
 * deleted and added (two parts passing it on) is loaded as the union now has it.
 */
export function settleDiff(d: ModelDiff, union: FirewallModel): ModelDiff {
  const unique = (els: Element[]) => [...new Map(els.map((e) => [elementText(e), e])).values()];
  for (const name of SET_NAMES) {
    const del = d.del[name] ?? [];
    const addl = d.add[name] ?? [];
    if (!del.length || !addl.length) continue;
    const added = new Set(addl.map(elementText));
    const both = new Set(del.map(elementText).filter((t) => added.has(t)));
    if (!both.size) continue;
    d.del[name] = unique(del.filter((e) => !both.has(elementText(e)) || !union[name].has(elementText(e))));
    d.add[name] = unique(addl.filter((e) => !both.has(elementText(e)) || union[name].has(elementText(e))));
    d.count = SET_NAMES.reduce((n, s) => n + (d.del[s]?.length ?? 0) + (d.add[s]?.length ?? 0), 0);
  }
  return d;
}

/** Fills `model` from state, yielding after every STEP_ELEMENTS elements. */
function* buildModel(model: FirewallModel, networks: readonly NetworkRecord[], sandboxes: readonly SandboxRecord[]): Generator<void> {
  const byId = new Map(networks.map((n) => [n.id, n]));
  const nets = networkElements(networks);
  for (const name of SET_NAMES) for (const [k, e] of nets[name]) model[name].set(k, e);
  for (const sb of sandboxes) yield* addSandboxElements(model, sb, byId);
}

/**
 * The firewall's model kept as parts (one for the networks, one per sandbox) and their
 * union, with a count per element: a change replaces the parts it touches and yields
 * the elements the union gains and loses, so its cost follows the size of the change,
 * not the number of sandboxes or ports already published. An element two parts hold
 * (none should) stays until both let go of it.
 */
export class ModelParts {
  /** The union of the parts: what the kernel should hold. Read-only for callers. */
  readonly union: FirewallModel = emptyModel();
  private readonly parts = new Map<string, FirewallModel>();
  private readonly refs = new Map<string, number>();

  get(id: string): FirewallModel | undefined {
    return this.parts.get(id);
  }

  ids(): IterableIterator<string> {
    return this.parts.keys();
  }

  /** Replaces part `id` with `next` (undefined: drops it); adds the union's changes to `diff`. */
  replace(id: string, next: FirewallModel | undefined, diff: ModelDiff = emptyDiff()): ModelDiff {
    const prev = this.parts.get(id);
    if (next) this.parts.set(id, next);
    else this.parts.delete(id);
    for (const name of SET_NAMES) {
      diff.del[name] ??= [];
      diff.add[name] ??= [];
      if (prev) {
        for (const [k, e] of prev[name]) {
          if (next?.[name].has(k)) continue;
          const rk = `${name} ${k}`;
          const n = (this.refs.get(rk) ?? 1) - 1;
          if (n > 0) {
            this.refs.set(rk, n);
            continue;
          }
          this.refs.delete(rk);
          this.union[name].delete(k);
          diff.del[name].push(e);
          diff.count++;
        }
      }
      if (next) {
        for (const [k, e] of next[name]) {
          if (prev?.[name].has(k)) continue;
          const rk = `${name} ${k}`;
          const n = (this.refs.get(rk) ?? 0) + 1;
          this.refs.set(rk, n);
          if (n > 1) continue;
          this.union[name].set(k, e);
          diff.add[name].push(e);
          diff.count++;
        }
      }
    }
    return diff;
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

export const emptyDiff = (): ModelDiff => ({ del: {} as Record<SetName, Element[]>, add: {} as Record<SetName, Element[]>, count: 0 });

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
