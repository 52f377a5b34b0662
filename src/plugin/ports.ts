/**
 * Docker's published and exposed ports, as dockerd hands them to a network plugin, turned
 * into Switchyard's publish records (model/ports.ts). Pure.
 *
 * dockerd sends `com.docker.network.portmap`: one libnetwork PortBinding per container
 * port and host binding, e.g. for `-p 127.0.0.1:8080:80 -p 9000-9001:90-91/udp -p 53`:
 *
 *   {"Proto":6,  "IP":"", "Port":80, "HostIP":"127.0.0.1", "HostPort":8080, "HostPortEnd":8080}
 *   {"Proto":17, "IP":"", "Port":90, "HostIP":"",          "HostPort":9000, "HostPortEnd":9000}
 *   {"Proto":17, "IP":"", "Port":91, "HostIP":"",          "HostPort":9001, "HostPortEnd":9001}
 *   {"Proto":6,  "IP":"", "Port":53, "HostIP":"",          "HostPort":0,    "HostPortEnd":0}
 *
 * Proto is a protocol number (6 tcp, 17 udp, 132 sctp); HostIP "" is every address;
 * HostPort 0 is "any free port"; HostPortEnd > HostPort (with one container port) is
 * "any free port of this range" (`-p 8000-8010:80`). Container port ranges arrive split
 * into single ports; consecutive ones are merged back into one range record, so
 * `-p 20000-20999:20000-20999` stays one record, as with `yard run -p`.
 *
 * `com.docker.network.endpoint.exposedports` is a list of {"Proto":6,"Port":80}.
 */
import type { z as zt } from 'zod';
import { zod } from '../model/zod.js';
import { YardError } from '../errors.js';
import { canonicalIp, type PortMapping, type PortProto } from '../model/ports.js';
import { parseAddr } from '../ipam/prefix.js';
import { PROTO_NUMBERS } from './docker-protocol.js';
import type { ExposedPort } from './backend.js';

/** Loaded with this module (which loads on demand): see model/zod.ts. */
const z = zod();

const port = z.number({ error: 'must be a number' }).int('must be an integer');

const PortBindingSchema = z.object({
  Proto: z.number({ error: 'Proto is required (a protocol number)' }).int(),
  IP: z.string().nullish(),
  Port: port,
  HostIP: z.string().nullish(),
  HostPort: port.nullish(),
  HostPortEnd: port.nullish(),
});

const TransportPortSchema = z.object({ Proto: z.number({ error: 'Proto is required (a protocol number)' }).int(), Port: port });

/** At most this many bindings in one request (a 65,535-port range of tcp and udp fits). */
export const MAX_PORT_BINDINGS = 131_072;

function invalid(field: string, message: string, hint: string): YardError {
  return new YardError('INVALID_ARGUMENT', message, { field, hint });
}

export function protoName(n: unknown, field: string): PortProto {
  for (const [name, num] of Object.entries(PROTO_NUMBERS)) if (num === n) return name as PortProto;
  throw invalid(field, `${field}: protocol number ${JSON.stringify(n)} is not tcp (6), udp (17) or sctp (132)`, 'publish tcp, udp or sctp ports');
}

function checkPort(n: number, field: string, what: string, allowZero = false): void {
  if ((allowZero ? n < 0 : n < 1) || n > 65535) {
    throw invalid(field, `${field}: ${what} ${n} is out of range`, `ports go from 1 to 65535${allowZero ? ' (0: any free port)' : ''}`);
  }
}

function list(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(field, `${field} is not a list`, 'send a JSON list of port records');
  if (value.length > MAX_PORT_BINDINGS) throw invalid(field, `${field} has ${value.length} entries; at most ${MAX_PORT_BINDINGS} are allowed`, 'publish fewer ports');
  return value;
}

function issueText(e: zt.ZodError): string {
  const i = e.issues[0]!;
  return `${i.path.join('.') || 'value'} ${i.message}`;
}

/** Docker's PortBinding list -> Switchyard's publish records (merged into ranges where consecutive). */
export function portMappingsFrom(value: unknown, field: string): PortMapping[] {
  const out: PortMapping[] = [];
  list(value, field).forEach((raw, i) => {
    const f = `${field}[${i}]`;
    const r = PortBindingSchema.safeParse(raw);
    if (!r.success) throw invalid(f, `${f}: ${issueText(r.error)}`, 'send libnetwork PortBinding records ({"Proto":6,"Port":80,"HostIP":"","HostPort":8080,"HostPortEnd":8080})');
    const b = r.data;
    const proto = protoName(b.Proto, `${f}.Proto`);
    checkPort(b.Port, f, 'container port');
    const hostPort = b.HostPort ?? 0;
    let hostPortEnd = b.HostPortEnd ?? 0;
    checkPort(hostPort, f, 'host port', true);
    checkPort(hostPortEnd, f, 'host port range end', true);
    if (hostPort === 0 && hostPortEnd !== 0) throw invalid(f, `${f}: HostPortEnd ${hostPortEnd} is given without HostPort`, 'give HostPort, or neither for any free port');
    if (hostPortEnd === 0) hostPortEnd = hostPort;
    if (hostPortEnd < hostPort) throw invalid(f, `${f}: host port range ${hostPort}-${hostPortEnd} ends before it starts`, 'write the lower port first');
    let hostIp = '';
    if (b.HostIP) {
      if (!parseAddr(b.HostIP)) throw invalid(f, `${f}: HostIP ${JSON.stringify(b.HostIP)} is not an IP address`, 'give an address of this host, or "" for all of them');
      hostIp = canonicalIp(b.HostIP);
    }
    const m: PortMapping = { proto, containerPort: b.Port, containerPortEnd: b.Port, hostIp, hostPort, hostPortEnd };
    if (hostPortEnd > hostPort) m.hostRangeChoice = true;
    out.push(m);
  });
  return mergeRanges(out);
}

/**
 * Merge consecutive single-port records (same protocol and host address, next container
 * port on the next host port) into one range record. Records with a free host port (0) or
 * a host range to choose from stay as they are: dockerd picks those one by one. dockerd
 * sends the ports highest first, so they are sorted (protocol, host address, port) first.
 */
export function mergeRanges(ms: readonly PortMapping[]): PortMapping[] {
  const out: PortMapping[] = [];
  const sorted = [...ms].sort((a, b) => a.proto.localeCompare(b.proto) || a.hostIp.localeCompare(b.hostIp) || a.containerPort - b.containerPort || a.hostPort - b.hostPort);
  for (const m of sorted) {
    const last = out[out.length - 1];
    const fixed = (x: PortMapping) => x.hostPort > 0 && !x.hostRangeChoice && x.hostPortEnd - x.hostPort === x.containerPortEnd - x.containerPort;
    if (
      last && fixed(last) && fixed(m) && last.proto === m.proto && last.hostIp === m.hostIp &&
      m.containerPort === last.containerPortEnd + 1 && m.hostPort === last.hostPortEnd + 1 && m.containerPortEnd === m.containerPort
    ) {
      last.containerPortEnd = m.containerPort;
      last.hostPortEnd = m.hostPort;
    } else out.push({ ...m });
  }
  return out;
}

/** Docker's TransportPort list -> exposed ports. */
export function exposedPortsFrom(value: unknown, field: string): ExposedPort[] {
  return list(value, field).map((raw, i) => {
    const f = `${field}[${i}]`;
    const r = TransportPortSchema.safeParse(raw);
    if (!r.success) throw invalid(f, `${f}: ${issueText(r.error)}`, 'send libnetwork TransportPort records ({"Proto":6,"Port":80})');
    checkPort(r.data.Port, f, 'port');
    return { proto: protoName(r.data.Proto, `${f}.Proto`), port: r.data.Port };
  });
}
