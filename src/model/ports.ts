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

/** `docker port` lines: one per container port, e.g. `80/tcp -> 0.0.0.0:8080`. */
export function dockerPortLines(ports: readonly PortMapping[], hasV6: boolean): string[] {
  const lines: { port: number; proto: string; text: string }[] = [];
  for (const m of ports) {
    for (let i = 0; i <= m.containerPortEnd - m.containerPort; i++) {
      const cport = m.containerPort + i;
      const hport = m.hostPort + (m.hostPortEnd > m.hostPort ? i : 0);
      for (const ip of shownHostIps(m, hasV6)) lines.push({ port: cport, proto: m.proto, text: `${containerKey(m, cport)} -> ${bracket(ip)}:${hport}` });
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
