/**
 * Published ports (`-p`): parsing Docker's spec syntax into PortMapping records, choosing
 * the endpoint a sandbox's ports lead to, and Docker's textual forms (`docker port`,
 * `docker ps`). Pure.
 *
 *   [hostIP:][hostPort[-end]:]containerPort[-end][/proto]      hostIP may be [v6] in brackets
 *
 * A host port of 0 in a record means "not chosen yet": the firewall room picks a free one
 * from the ephemeral range before anything is applied.
 */
import ipaddr from 'ipaddr.js';
import { YardError } from '../errors.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from './types.js';

export const PORT_PROTOS = ['tcp', 'udp', 'sctp'] as const;
export type PortProto = (typeof PORT_PROTOS)[number];

export interface PortMapping {
  proto: PortProto;
  containerPort: number;
  /** Equal to containerPort for a single port. */
  containerPortEnd: number;
  /** '' = every address of the host (0.0.0.0 and ::); otherwise one address, canonical form. */
  hostIp: string;
  /** 0 until allocated. */
  hostPort: number;
  hostPortEnd: number;
  /** Host range given for a single container port: any one free port of it is taken (Docker's rule). */
  hostRangeChoice?: boolean;
  /**
   * Only these clients may connect (`--publish-from`): canonical addresses (`192.168.1.5`)
   * and prefixes (`10.0.0.0/8`), none inside another. Absent: every client.
   */
  sources?: string[];
}

/** Docker's ephemeral range for `-p 80` (its default /proc/sys/net/ipv4/ip_local_port_range). */
export const EPHEMERAL_FIRST = 32768;
export const EPHEMERAL_LAST = 60999;

const FIELD = '-p';

function bad(spec: string, why: string, hint = 'write it as [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO], e.g. -p 8080:80 or -p 127.0.0.1:9090:90/udp'): YardError {
  return new YardError('INVALID_ARGUMENT', `-p ${spec}: ${why}`, { field: FIELD, hint });
}

function parseRange(spec: string, text: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw bad(spec, `${what} ${JSON.stringify(text)} is not a port or a port range`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  for (const p of [a, b]) {
    if (p < 1 || p > 65535) throw bad(spec, `${what} ${p} is out of range`, 'ports go from 1 to 65535');
  }
  if (b < a) throw bad(spec, `${what} range ${text} ends before it starts`, 'write the lower port first, e.g. 8000-8010');
  return [a, b];
}

/** Parse one `-p` value. */
export function parsePortSpec(spec: string): PortMapping {
  if (typeof spec !== 'string') throw bad(JSON.stringify(spec), 'the value is not a string');
  let rest = spec;
  if (!rest) throw bad(spec, 'the value is empty');
  // Strict: nothing is trimmed or skipped, so what is stored is exactly what was parsed.
  if (/[\s\u0000-\u001f\u007f]/.test(rest)) throw bad(JSON.stringify(spec), 'the value has blanks, line breaks or control characters');
  let proto: PortProto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (!(PORT_PROTOS as readonly string[]).includes(p)) {
      throw bad(spec, `unknown protocol ${JSON.stringify(rest.slice(slash + 1))}`, `use one of ${PORT_PROTOS.join(', ')}`);
    }
    proto = p as PortProto;
    rest = rest.slice(0, slash);
  }
  let hostIp = '';
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') throw bad(spec, 'an IPv6 host address must be written [addr]:port');
    hostIp = rest.slice(1, close);
    if (!ipaddr.IPv6.isValid(hostIp)) throw bad(spec, `${hostIp} is not an IPv6 address`);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  let hostPart = '';
  let containerPart: string;
  if (parts.length === 1) containerPart = parts[0]!;
  else if (parts.length === 2) [hostPart, containerPart] = parts as [string, string];
  else if (parts.length === 3 && !hostIp) {
    [hostIp, hostPart, containerPart] = parts as [string, string, string];
    if (!ipaddr.IPv4.isValidFourPartDecimal(hostIp)) throw bad(spec, `${JSON.stringify(hostIp)} is not an IPv4 address`, 'write an IPv6 host address in brackets: -p [::1]:8080:80');
  } else throw bad(spec, 'too many ":"');
  if (!containerPart) throw bad(spec, 'the container port is missing');
  const [cp, cpe] = parseRange(spec, containerPart, 'container port');
  let hp = 0;
  let hpe = 0;
  let hostRangeChoice = false;
  if (hostPart) {
    [hp, hpe] = parseRange(spec, hostPart, 'host port');
    const hostLen = hpe - hp;
    const contLen = cpe - cp;
    if (contLen === 0 && hostLen > 0) hostRangeChoice = true;
    else if (hostLen !== contLen) {
      throw bad(spec, `the host range ${hostPart} has ${hostLen + 1} ports and the container range ${containerPart} has ${contLen + 1}`, 'give both ranges the same length (or a single container port)');
    }
  }
  if (hostIp) hostIp = canonicalIp(hostIp);
  return { proto, containerPort: cp, containerPortEnd: cpe, hostIp, hostPort: hp, hostPortEnd: hpe, ...(hostRangeChoice ? { hostRangeChoice } : {}) };
}

/** At most this many -p values per sandbox (a range counts once: -p 20000-29999:20000-29999). */
export const MAX_PORT_SPECS = 1024;

export function parsePortSpecs(specs: readonly string[]): PortMapping[] {
  if (specs.length > MAX_PORT_SPECS) {
    throw new YardError('INVALID_ARGUMENT', `-p is given ${specs.length} times; at most ${MAX_PORT_SPECS} are allowed`, { field: FIELD, hint: 'publish ranges, e.g. -p 20000-20999:20000-20999' });
  }
  return specs.map((s) => parsePortSpec(s));
}

export function canonicalIp(ip: string): string {
  return ipaddr.parse(ip).toString();
}

/** Which families a mapping's host address covers. */
export function hostFamilies(m: Pick<PortMapping, 'hostIp'>): (4 | 6)[] {
  if (!m.hostIp) return [4, 6];
  return m.hostIp.includes(':') ? [6] : [4];
}

/** Whether two host addresses can receive the same packet. */
export function hostIpsOverlap(a: string, b: string): boolean {
  if (!a || !b) return true;
  const fa = a.includes(':');
  if (fa !== b.includes(':')) return false;
  return a === b || a === '0.0.0.0' || b === '0.0.0.0' || a === '::' || b === '::';
}

/** Do two mappings claim a common (address, protocol, port)? */
export function mappingsClash(a: PortMapping, b: PortMapping): boolean {
  return a.proto === b.proto && hostIpsOverlap(a.hostIp, b.hostIp) && a.hostPort <= b.hostPortEnd && b.hostPort <= a.hostPortEnd;
}

/**
 * The endpoint a sandbox's published ports lead to: its earliest-joined endpoint on a
 * non-internal bridge network (Docker publishes through the gateway network).
 */
export function publishTarget(sb: SandboxRecord, networks: ReadonlyMap<string, NetworkRecord>): { net: NetworkRecord; ep: EndpointRecord } | undefined {
  for (const ep of Object.values(sb.endpoints).sort((a, b) => a.order - b.order)) {
    const net = networks.get(ep.networkId);
    if (net && net.driver === 'bridge' && !net.internal && !net.deleting) return { net, ep };
  }
  return undefined;
}

// ------------------------------------------------------------------ --publish-from

/** At most this many sources per published port. */
export const MAX_PORT_SOURCES = 64;
const FROM = '--publish-from';

function badFrom(value: string, why: string, hint = 'write it as [HOST_PORT[/PROTO]=]SOURCE[,SOURCE...], e.g. --publish-from 10.0.0.0/8,192.168.1.5 or --publish-from 8000=10.0.0.0/8'): YardError {
  return new YardError('INVALID_ARGUMENT', `${FROM} ${value}: ${why}`, { field: FROM, hint });
}

/**
 * One source: an address (`192.168.1.5`, `2001:db8::7`) or a prefix (`10.0.0.0/8`,
 * `2001:db8::/32`) with no host bits set. Returns the canonical text (an address without
 * /32 or /128).
 */
export function parseSource(text: string, value = text): string {
  if (/[\s\u0000-\u001f\u007f]/.test(text)) throw badFrom(JSON.stringify(value), 'the value has blanks, line breaks or control characters');
  if (!text) throw badFrom(JSON.stringify(value), 'a source is empty', 'separate sources with single commas, e.g. 10.0.0.0/8,192.168.1.5');
  const [addr, len, extra] = text.split('/');
  if (extra !== undefined || !ipaddr.isValid(addr!) || !(ipaddr.IPv4.isValidFourPartDecimal(addr!) || ipaddr.IPv6.isValid(addr!))) {
    throw badFrom(value, `${JSON.stringify(text)} is not an IP address or prefix`, 'give an address (192.168.1.5, 2001:db8::7) or a prefix (10.0.0.0/8, 2001:db8::/32)');
  }
  const ip = ipaddr.parse(addr!);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    throw badFrom(value, `${text} is an IPv4-mapped IPv6 address`, `write the IPv4 address itself (${(ip as ipaddr.IPv6).toIPv4Address().toString()})`);
  }
  const max = ip.kind() === 'ipv4' ? 32 : 128;
  if (len === undefined) return ip.toString();
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) throw badFrom(value, `${JSON.stringify(text)} has prefix length ${JSON.stringify(len)}`, `an IPv${max === 32 ? 4 : 6} prefix length goes from 0 to ${max}`);
  const bits = Number(len);
  const net = ip.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${bits}`) : ipaddr.IPv6.networkAddressFromCIDR(`${addr}/${bits}`);
  if (net.toString() !== ip.toString()) throw badFrom(value, `${text} has host bits set`, `did you mean ${net.toString()}/${bits}?`);
  return bits === max ? ip.toString() : `${ip.toString()}/${bits}`;
}

/** A source as [address, prefix length]. */
function cidrOf(source: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const [a, l] = source.split('/');
  const ip = ipaddr.parse(a!);
  return [ip, l === undefined ? (ip.kind() === 'ipv4' ? 32 : 128) : Number(l)];
}

/** Whether source `inner` lies inside source `outer` (same family). */
export function sourceWithin(inner: string, outer: string): boolean {
  const [a, al] = cidrOf(inner);
  const [b, bl] = cidrOf(outer);
  return a.kind() === b.kind() && al >= bl && (a as ipaddr.IPv4).match(b as ipaddr.IPv4, bl);
}

// Made on first use: a collator loads ICU's collation data (about 4 MiB resident), which
// the daemon otherwise never needs.
let numeric: Intl.Collator | undefined;

/** Sources sorted, duplicates and sources inside another one dropped (nft refuses overlapping elements). */
export function normalizeSources(sources: readonly string[]): string[] {
  const uniq = [...new Set(sources)];
  const kept = uniq.filter((s) => !uniq.some((o) => o !== s && sourceWithin(s, o)));
  return kept.sort((x, y) => Number(x.includes(':')) - Number(y.includes(':')) || (numeric ??= new Intl.Collator('en', { numeric: true })).compare(x, y));
}

/** Whether a mapping's host address can take traffic of family `fam`. */
const bindsFamily = (m: PortMapping, fam: 4 | 6) => hostFamilies(m).includes(fam);

/**
 * Applies `--publish-from` values to parsed mappings. Each value is
 * `[HOST_PORT[/PROTO]=]SOURCE[,SOURCE...]`: without a selector it limits every -p; with one,
 * the -p values whose host port (or host range) holds HOST_PORT (and whose protocol is
 * PROTO, when given). Values for the same mapping add up. Every source must be of a family
 * the mapping is published on (an IPv6 source for `-p 10.0.0.1:8000:80` is refused).
 * Throws before changing anything.
 */
export function applyPublishFrom(ports: PortMapping[], values: readonly string[]): void {
  if (!values.length) return;
  if (!ports.length) throw badFrom(values[0]!, 'there is no -p to limit', 'add -p, or drop --publish-from');
  const add = new Map<PortMapping, string[]>();
  for (const value of values) {
    if (typeof value !== 'string') throw badFrom(JSON.stringify(value), 'the value is not a string');
    const eq = value.indexOf('=');
    const list = eq >= 0 ? value.slice(eq + 1) : value;
    let targets = ports;
    if (eq >= 0) {
      const sel = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(value.slice(0, eq));
      if (!sel || Number(sel[1]) < 1 || Number(sel[1]) > 65535) throw badFrom(value, `${JSON.stringify(value.slice(0, eq))} is not a host port (1-65535, optionally /tcp, /udp or /sctp)`);
      const port = Number(sel[1]);
      const proto = sel[2]?.toLowerCase();
      targets = ports.filter((m) => m.hostPort > 0 && m.hostPort <= port && port <= m.hostPortEnd && (!proto || m.proto === proto));
      if (!targets.length) throw badFrom(value, `no -p publishes host port ${port}${proto ? `/${proto}` : ''}`, 'name a host port given with -p (e.g. -p 8000:80 --publish-from 8000=10.0.0.0/8)');
    }
    const sources = list.split(',').map((t) => parseSource(t, value));
    for (const m of targets) {
      for (const s of sources) {
        const fam = s.includes(':') ? 6 : 4;
        if (!bindsFamily(m, fam)) {
          throw badFrom(value, `${s} is an IPv${fam} source, but -p ${specOf(m)} is published on IPv${fam === 4 ? 6 : 4} only`, `give IPv${fam === 4 ? 6 : 4} sources for it, or publish it on every address`);
        }
      }
      add.set(m, [...(add.get(m) ?? []), ...sources]);
    }
  }
  // Mappings mostly share one list: normalise each distinct list once.
  const memo = new Map<string, string[]>();
  const result = new Map<PortMapping, string[]>();
  for (const [m, sources] of add) {
    const list = [...(m.sources ?? []), ...sources];
    const key = list.join(',');
    let all = memo.get(key);
    if (!all) memo.set(key, (all = normalizeSources(list)));
    if (all.length > MAX_PORT_SOURCES) throw badFrom(values.join(' '), `-p ${specOf(m)} is given ${all.length} sources; at most ${MAX_PORT_SOURCES} are allowed`, 'give prefixes that cover several addresses');
    result.set(m, all);
  }
  for (const [m, all] of result) m.sources = [...all];
}

/** The sources of a mapping in one family ([] = none of that family may connect, when limited). */
export function sourcesOf(m: PortMapping, fam: 4 | 6): string[] {
  return (m.sources ?? []).filter((s) => s.includes(':') === (fam === 6));
}

/** Docker's `80/tcp` key, or `80-89/tcp`. */
export function containerKey(m: PortMapping, port = m.containerPort): string {
  return `${port}/${m.proto}`;
}

const bracket = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);

/** The host addresses a mapping is shown under: '' is 0.0.0.0, plus [::] when v6 is published. */
export function shownHostIps(m: PortMapping, hasV6: boolean): string[] {
  if (m.hostIp) return [m.hostIp];
  return hasV6 ? ['0.0.0.0', '::'] : ['0.0.0.0'];
}

/**
 * `docker port` lines: one per container port, e.g. `80/tcp -> 0.0.0.0:8080`. With
 * `withSources`, a port limited by --publish-from ends with ` (from 10.0.0.0/8, 192.168.1.5)`.
 */
export function dockerPortLines(ports: readonly PortMapping[], hasV6: boolean, withSources = false): string[] {
  const lines: { port: number; proto: string; text: string }[] = [];
  for (const m of ports) {
    for (let i = 0; i <= m.containerPortEnd - m.containerPort; i++) {
      const cport = m.containerPort + i;
      const hport = m.hostPort + (m.hostPortEnd > m.hostPort ? i : 0);
      for (const ip of shownHostIps(m, hasV6)) {
        const from = m.sources ? ` (from ${sourcesOf(m, ip.includes(':') ? 6 : 4).join(', ') || 'nowhere'})` : '';
        lines.push({ port: cport, proto: m.proto, text: `${containerKey(m, cport)} -> ${bracket(ip)}:${hport}${withSources ? from : ''}` });
      }
    }
  }
  return lines.sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto)).map((l) => l.text);
}

/** `docker ps` PORTS cell: `0.0.0.0:8080->80/tcp, 0.0.0.0:20000-20999->20000-20999/tcp`. */
export function psPortsCell(ports: readonly PortMapping[], hasV6: boolean): string {
  const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
  return ports
    .flatMap((m) => shownHostIps(m, hasV6).map((ip) => `${ip.includes(':') ? `[${ip}]` : ip}:${range(m.hostPort, m.hostPortEnd)}->${range(m.containerPort, m.containerPortEnd)}/${m.proto}`))
    .join(', ');
}

/** The `-p` spec that produced a mapping (for messages). */
export function specOf(m: PortMapping): string {
  const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
  const ip = m.hostIp ? `${bracket(m.hostIp)}:` : '';
  const host = m.hostPort ? range(m.hostPort, m.hostPortEnd) : '';
  return `${ip}${host || ip ? `${host}:` : ''}${range(m.containerPort, m.containerPortEnd)}/${m.proto}`;
}
