/**
 * The embedded resolver's records, computed from state (pure). Docker's rules:
 *  - only user-defined networks whose sandboxes get an interface serve names (not the
 *    default bridge, not host/none);
 *  - on such a network a sandbox is known by its name, its aliases on that network, its
 *    short ID (12 hex), and each of those followed by `.<network>`; case-insensitive;
 *  - one name may belong to several sandboxes (a shared alias): every address answers;
 *  - PTR of an endpoint's address answers `<name>.<network>`;
 *  - a sandbox sees only the networks it is attached to, searched in the order it joined
 *    them; anything else is not answered locally (it goes upstream).
 */
import ipaddr from 'ipaddr.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { getDriver } from '../drivers/index.js';
import type { ResolvInput } from './sandbox-files.js';

/** Docker's TTL for container records (defined with the fast path's wire format, which the resolver's worker thread loads alone). */
export { LOCAL_TTL } from './fast-answer.js';
export const EMBEDDED_DNS = '127.0.0.11';
/** Label naming an extra DNS domain under which a network's names answer (Podman's dns.podman). */
export const DNS_DOMAIN_LABEL = 'switchyard.dns.domain';
/** Label: the network's names are also answered on its gateway address (where Podman's containers ask, as aardvark-dns serves them). */
export const DNS_GATEWAY_LABEL = 'switchyard.dns.gateway';
const OVERLAY_GATEWAY_BRIDGE = 'yard_gwbridge';

/** Does a network serve names through the embedded resolver? */
export function servesDns(net: NetworkRecord): boolean {
  // The overlay gateway bridge (Docker's docker_gwbridge) only carries traffic out; ICC is off on it.
  if (net.predefined || net.name === OVERLAY_GATEWAY_BRIDGE || net.labels?.['switchyard.role'] === 'overlay gateway bridge') return false;
  try {
    return getDriver(net.driver).attach === 'interface';
  } catch {
    return false;
  }
}

/** How a name matched a sandbox (explain shows it). */
export type NameKind = 'name' | 'alias' | 'short-id';

export interface Holder {
  sandboxId: string;
  sandboxName: string;
  kind: NameKind;
  ipv4?: string;
  ipv6?: string;
}

/** What the reverse name of an endpoint's address answers. */
export interface PtrTarget {
  /** `<name>.<network>` */
  target: string;
  sandboxName: string;
  sandboxId: string;
}

export interface NetworkNames {
  net: NetworkRecord;
  /** lower-case name (with and without `.<network>`) -> holders, oldest sandbox first. */
  names: Map<string, Holder[]>;
  /** canonical address -> every sandbox with it on this network, oldest first; the last one answers. */
  ptr: Map<string, PtrTarget[]>;
}

export interface Records {
  /** Only networks that serve DNS, by ID. */
  networks: Map<string, NetworkNames>;
  /** The sandbox records the names come from (tombstoned ones left out), by ID. */
  sandboxes: Map<string, SandboxRecord>;
}

const bare = (cidr?: string) => (cidr ? canonicalIp(cidr.split('/')[0]!) : undefined);

/** A dotted quad without leading zeros is already canonical: no parse needed. */
const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** Parsing is slow (ipaddr.js: tens of µs); the same few addresses come back all the time. */
const canonicalCache = new Map<string, string>();

export function canonicalIp(ip: string): string {
  if (CANONICAL_V4.test(ip)) return ip;
  const hit = canonicalCache.get(ip);
  if (hit !== undefined) return hit;
  let out: string;
  try {
    out = ipaddr.process(ip).toString();
  } catch {
    out = ip;
  }
  if (canonicalCache.size >= 4096) canonicalCache.clear();
  canonicalCache.set(ip, out);
  return out;
}

/** Oldest first (by creation time, then ID): the order of a name's holders, in a full build and an update alike. */
function olderFirst(a: SandboxRecord, b: SandboxRecord): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The DNS-serving networks of `networks`, each with no names yet. */
function emptyRecords(networks: Iterable<NetworkRecord>): Records {
  const out: Records = { networks: new Map(), sandboxes: new Map() };
  for (const net of networks) {
    if (!net.deleting && servesDns(net)) out.networks.set(net.id, { net, names: new Map(), ptr: new Map() });
  }
  return out;
}

export function buildRecords(networks: Iterable<NetworkRecord>, sandboxes: Iterable<SandboxRecord>): Records {
  const out = emptyRecords(networks);
  // Sorted first, each sandbox's names go at the end of their lists: no search.
  for (const sb of [...sandboxes].filter((s) => !s.deleting).sort(olderFirst)) addSandbox(out, sb);
  return out;
}

/**
 * Replace in place what `records` hold for sandbox `id` by `next` (undefined, or a
 * tombstoned record: the sandbox is gone). Only that sandbox's names and addresses are
 * touched; the result equals a full build from the same networks and sandboxes.
 */
export function updateRecords(records: Records, id: string, next?: SandboxRecord): void {
  dropSandbox(records, id);
  if (next && !next.deleting) addSandbox(records, next);
}

/**
 * The records for `networks` and `sandboxes`, made from `prev` (built from an earlier
 * state; changed in place) when the DNS-serving networks are the same records: only
 * sandboxes whose record is not the one `prev` was made from (records are immutable) are
 * updated, so one change costs a walk of identity checks plus that sandbox's names,
 * whatever the number of sandboxes. Any change of a serving network builds them again.
 */
export function refreshRecords(prev: Records | undefined, networks: Iterable<NetworkRecord>, sandboxes: readonly SandboxRecord[]): Records {
  const nets = [...networks];
  if (!prev || !sameNetworks(prev, nets)) return buildRecords(nets, sandboxes);
  let live = 0;
  for (const sb of sandboxes) {
    if (sb.deleting) continue;
    live++;
    if (prev.sandboxes.get(sb.id) !== sb) updateRecords(prev, sb.id, sb);
  }
  // Every live sandbox is in now: any more are gone.
  if (prev.sandboxes.size > live) {
    const ids = new Set(sandboxes.filter((s) => !s.deleting).map((s) => s.id));
    for (const id of [...prev.sandboxes.keys()]) if (!ids.has(id)) updateRecords(prev, id);
  }
  return prev;
}

function sameNetworks(records: Records, networks: readonly NetworkRecord[]): boolean {
  let n = 0;
  for (const net of networks) {
    if (net.deleting || !servesDns(net)) continue;
    if (records.networks.get(net.id)?.net !== net) return false;
    n++;
  }
  return n === records.networks.size;
}

/** What one endpoint adds to its network's names, computed once per record (records are immutable). */
interface EndpointEntries {
  sb: SandboxRecord;
  net: NetworkRecord;
  names: [string, Holder][];
  ptr: [string, PtrTarget][];
}
const entriesCache = new WeakMap<EndpointRecord, EndpointEntries>();

function endpointEntries(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): EndpointEntries {
  const hit = entriesCache.get(ep);
  if (hit && hit.sb === sb && hit.net === net) return hit;
  const ipv4 = bare(ep.ipv4);
  const ipv6 = bare(ep.ipv6);
  // `.<network>`, and the network's own DNS domain when it has one (Podman's dns.podman).
  const domain = net.labels?.[DNS_DOMAIN_LABEL]?.toLowerCase().replace(/\.$/, '');
  const suffixes = [`.${net.name.toLowerCase()}`, ...(domain ? [`.${domain}`] : [])];
  const keys: [string, NameKind][] = [
    [sb.name, 'name'],
    ...ep.aliases.map((a): [string, NameKind] => [a, 'alias']),
    [sb.id.slice(0, 12), 'short-id'],
  ];
  const names: [string, Holder][] = [];
  const seen = new Set<string>();
  for (const [raw, kind] of keys) {
    const key = raw.toLowerCase().replace(/\.$/, '');
    if (!key || seen.has(key)) continue;
    seen.add(key);
    const holder: Holder = { sandboxId: sb.id, sandboxName: sb.name, kind, ipv4, ipv6 };
    for (const k of [key, ...suffixes.map((x) => key + x)]) names.push([k, holder]);
  }
  const target = `${sb.name}.${net.name}`;
  const ptr: EndpointEntries['ptr'] = [];
  for (const ip of [ipv4, ipv6]) if (ip) ptr.push([ip, { target, sandboxName: sb.name, sandboxId: sb.id }]);
  const out = { sb, net, names, ptr };
  entriesCache.set(ep, out);
  return out;
}

function addSandbox(records: Records, sb: SandboxRecord): void {
  records.sandboxes.set(sb.id, sb);
  for (const ep of Object.values(sb.endpoints)) {
    const nn = records.networks.get(ep.networkId);
    if (!nn) continue;
    const e = endpointEntries(nn.net, sb, ep);
    for (const [k, holder] of e.names) insertInOrder(records, nn.names, k, holder, sb);
    for (const [ip, p] of e.ptr) insertInOrder(records, nn.ptr, ip, p, sb);
  }
}

/** After every entry of a sandbox older than `sb` (or the same: its own earlier names): at the end, for the newest. */
function insertInOrder<T extends { sandboxId: string }>(records: Records, m: Map<string, T[]>, key: string, item: T, sb: SandboxRecord): void {
  const list = m.get(key);
  if (!list) {
    m.set(key, [item]);
    return;
  }
  let i = list.length;
  while (i > 0) {
    const other = records.sandboxes.get(list[i - 1]!.sandboxId);
    if (!other || olderFirst(other, sb) <= 0) break;
    i--;
  }
  list.splice(i, 0, item);
}

function dropSandbox(records: Records, id: string): void {
  const sb = records.sandboxes.get(id);
  if (!sb) return;
  for (const ep of Object.values(sb.endpoints)) {
    const nn = records.networks.get(ep.networkId);
    if (!nn) continue;
    // The same entries as when it was added (cached per endpoint; computed the same way if not).
    const e = endpointEntries(nn.net, sb, ep);
    for (const [k] of e.names) removeFrom(nn.names, k, id);
    for (const [ip] of e.ptr) removeFrom(nn.ptr, ip, id);
  }
  records.sandboxes.delete(id);
}

/** Holder lists are changed in place: a shared alias keeps its round-robin position. */
function removeFrom<T extends { sandboxId: string }>(m: Map<string, T[]>, key: string, id: string): void {
  const list = m.get(key);
  if (!list) return;
  let j = 0;
  for (const x of list) if (x.sandboxId !== id) list[j++] = x;
  list.length = j;
  if (!j) m.delete(key);
}

/** The networks a sandbox's queries may see, in the order it joined them. */
export function scopeOf(records: Records, sb: SandboxRecord): NetworkNames[] {
  return Object.values(sb.endpoints)
    .sort((a, b) => a.order - b.order)
    .map((ep) => records.networks.get(ep.networkId))
    .filter((n): n is NetworkNames => !!n);
}

/** Whether a sandbox uses the embedded resolver at all. */
export function usesEmbeddedDns(records: Records, sb: SandboxRecord): boolean {
  return !!sb.netns && scopeOf(records, sb).length > 0;
}

export type LocalAnswer =
  /** The name is local: addresses of the asked family (possibly none: NODATA). */
  | { kind: 'addresses'; network: NetworkRecord; holders: Holder[]; addresses: string[] }
  | { kind: 'ptr'; network: NetworkRecord; target: string; address: string }
  /** The name exists locally but has no records of this type (answered empty, NOERROR). */
  | { kind: 'nodata'; network: NetworkRecord; holders: Holder[] }
  /** Not local: forward upstream. `reason` is for explain. */
  | { kind: 'none'; reason: string };

/**
 * What the resolver answers locally for a query from `sb`. `rotation` says by how much to
 * rotate the order of several addresses (the caller counts per name: round robin).
 */
export function lookupLocal(records: Records, sb: SandboxRecord, qname: string, qtype: string, rotation: (holders: Holder[]) => number = () => 0): LocalAnswer {
  const scope = scopeOf(records, sb);
  if (!scope.length) return { kind: 'none', reason: `sandbox ${sb.name} is on no network with embedded DNS` };
  const name = qname.toLowerCase().replace(/\.$/, '');
  if (qtype === 'PTR') {
    const address = addressOfReverseName(name);
    if (!address) return { kind: 'none', reason: `${qname} is not a reverse name of an address` };
    for (const nn of scope) {
      const hit = nn.ptr.get(address)?.at(-1);
      if (hit) return { kind: 'ptr', network: nn.net, target: hit.target, address };
    }
    return { kind: 'none', reason: `no sandbox on ${scopeNames(scope)} has address ${address}` };
  }
  for (const nn of scope) {
    // A link alias of this sandbox on this network stands for its target's name there (Docker's legacy links).
    const holders = nn.names.get(linkTarget(sb, nn, name) ?? name);
    if (!holders?.length) continue;
    if (qtype !== 'A' && qtype !== 'AAAA') return { kind: 'nodata', network: nn.net, holders };
    const addresses = holders.map((h) => (qtype === 'A' ? h.ipv4 : h.ipv6)).filter((a): a is string => !!a);
    if (!addresses.length) return { kind: 'nodata', network: nn.net, holders };
    return { kind: 'addresses', network: nn.net, holders, addresses: rotate(addresses, rotation(holders)) };
  }
  return { kind: 'none', reason: `no sandbox, alias or short ID "${name}" on ${scopeNames(scope)}` };
}

/**
 * `--link NAME:ALIAS` of the asking sandbox's endpoint on this network: ALIAS (and
 * ALIAS.<network>) is looked up as NAME; only that sandbox sees it.
 */
export function linkTarget(sb: SandboxRecord, nn: NetworkNames, name: string): string | undefined {
  const links = sb.endpoints[nn.net.id]?.links;
  if (!links?.length) return undefined;
  const net = nn.net.name.toLowerCase();
  for (const l of links) {
    const [target, alias = target] = l.replace(/^\//, '').toLowerCase().split(':') as [string, string?];
    if (name === alias || name === `${alias}.${net}`) return target;
  }
  return undefined;
}

function scopeNames(scope: NetworkNames[]): string {
  return scope.length === 1 ? `network ${scope[0]!.net.name}` : `networks ${scope.map((s) => s.net.name).join(', ')}`;
}

export function rotate<T>(list: T[], k: number): T[] {
  if (list.length < 2) return list;
  const i = ((k % list.length) + list.length) % list.length;
  return [...list.slice(i), ...list.slice(0, i)];
}

/** `4.3.2.1.in-addr.arpa` -> 1.2.3.4; 32 nibbles `.ip6.arpa` -> the IPv6 address; else null. */
export function addressOfReverseName(name: string): string | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) < 256)) return null;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return null;
    const hex = nibbles.reverse().join('');
    const groups = hex.match(/.{4}/g)!;
    return canonicalIp(groups.join(':'));
  }
  return null;
}

/**
 * Upstream servers for a sandbox: its --dns, else the DNS servers its DHCP lease names
 * (the earliest joined endpoint with a lease that names some), else the daemon's; at
 * most 3, as a libc resolver would use from resolv.conf.
 */
export function upstreamsOf(sb: SandboxRecord, daemonDns: readonly string[]): string[] {
  const leased = Object.values(sb.endpoints).sort((a, b) => a.order - b.order).find((ep) => ep.lease?.dns.length)?.lease?.dns ?? [];
  return (sb.dns.length ? sb.dns : leased.length ? leased : daemonDns).slice(0, 3);
}

/** Docker forwards only for sandboxes that can reach outside: at least one non-internal network. */
export function mayForward(sb: SandboxRecord, networks: ReadonlyMap<string, NetworkRecord>): boolean {
  return Object.values(sb.endpoints).some((ep) => {
    const n = networks.get(ep.networkId);
    return n && !n.internal;
  });
}

/** Would this server make the resolver ask itself? */
export function isLoop(server: string): boolean {
  return canonicalIp(server) === EMBEDDED_DNS;
}

/** resolv.conf for a sandbox that uses the embedded resolver (Docker's: nameserver 127.0.0.11, ndots:0). */
export function embeddedResolvConf(sb: SandboxRecord, defaults: { dnsSearch: string[]; dnsOptions: string[] }): ResolvInput {
  const options = sb.dnsOptions.length ? sb.dnsOptions : defaults.dnsOptions;
  return {
    nameservers: [EMBEDDED_DNS],
    search: sb.dnsSearch.length ? sb.dnsSearch : defaults.dnsSearch,
    // ndots:0 unless the user chose ndots: a single-label name goes to the resolver as is.
    options: options.some((o) => o.startsWith('ndots:')) ? options : ['ndots:0', ...options],
  };
}
