/**
 * Validation of a sandbox's published ports before anything is applied: where they can be
 * published, that the host address exists, that no other sandbox holds the same
 * (address, protocol, port), and the choice of host ports left open (`-p 80`,
 * `-p 8000-8010:80`). Pure: the caller passes the host's addresses.
 */
import { YardError } from '../errors.js';
import { EPHEMERAL_FIRST, EPHEMERAL_LAST, hostIpsOverlap, publishTarget, specOf, type PortMapping } from '../model/ports.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { PortIndex } from './port-index.js';

export interface PublishContext {
  /** Every other live sandbox (unless `taken` is given). */
  others: readonly SandboxRecord[];
  /**
   * The ports of every other live sandbox, already indexed (PublishedPorts): `others` is
   * then not read, and the sandbox's own ports are added to it as they are checked.
   */
  taken?: PortIndex;
  networks: ReadonlyMap<string, NetworkRecord>;
  /** Addresses configured in the daemon's namespace (no prefix length). */
  hostAddresses: ReadonlySet<string>;
}

const FIELD = '-p';

/** Checks `sb.ports` and fills in host ports still 0. Throws a YardError naming the -p value. */
export function resolvePublishedPorts(sb: SandboxRecord, ctx: PublishContext): void {
  const ports = sb.ports ?? [];
  if (!ports.length) return;
  const first = specOf(ports[0]!);
  const nets = Object.values(sb.endpoints).map((ep) => ctx.networks.get(ep.networkId)).filter((n): n is NetworkRecord => !!n);
  const special = nets.find((n) => n.driver === 'host' || n.driver === 'null');
  if (special) {
    throw new YardError('PUBLISH_NOT_ALLOWED', `-p ${first}: a sandbox on the ${special.name} network cannot publish ports`, {
      field: FIELD,
      hint: special.driver === 'host' ? 'on the host network the process binds host ports itself; drop -p' : 'a sandbox on none has no network to publish from; drop -p or use a bridge network',
    });
  }
  const target = publishTarget(sb, ctx.networks);
  if (!target) {
    const internal = nets.find((n) => n.internal);
    throw new YardError('PUBLISH_NOT_ALLOWED', `-p ${first}: ${internal ? `network ${internal.name} is --internal, so nothing outside it can reach its ports` : `none of the sandbox's networks (${nets.map((n) => n.name).join(', ')}) is a bridge network`}`, {
      field: FIELD,
      hint: 'publish from a sandbox that is also on a non-internal bridge network, or drop -p',
    });
  }
  // Every port already held, indexed: the checks below are linear in the ports involved.
  let taken = ctx.taken;
  if (!taken) {
    taken = new PortIndex();
    for (const o of ctx.others) for (const m of o.ports ?? []) if (m.hostPort) taken.add(m, o.name);
  }

  for (const m of ports) {
    const spec = specOf(m);
    if (m.hostIp && !['0.0.0.0', '::'].includes(m.hostIp)) {
      if (m.hostIp === '::1') {
        throw new YardError('PUBLISH_NOT_ALLOWED', `-p ${spec}: ports cannot be published on ::1`, {
          field: FIELD,
          hint: 'IPv6 cannot route loopback traffic to a container; publish on 127.0.0.1 instead',
        });
      }
      if (!ctx.hostAddresses.has(m.hostIp)) {
        throw new YardError('INVALID_ARGUMENT', `-p ${spec}: ${m.hostIp} is not an address of this host`, {
          field: FIELD,
          hint: `use one of ${[...ctx.hostAddresses].join(', ') || 'the host\'s addresses'}, or omit the address to publish on all of them`,
        });
      }
    }
    const fam6 = m.hostIp.includes(':');
    if (m.hostIp && (fam6 ? !target.ep.ipv6 : !target.ep.ipv4)) {
      throw new YardError('INVALID_ARGUMENT', `-p ${spec}: the sandbox has no IPv${fam6 ? 6 : 4} address on network ${target.net.name}`, {
        field: FIELD,
        hint: fam6 ? 'create the network with --ipv6, or publish on an IPv4 address' : 'publish on an IPv6 address',
      });
    }
    if (!m.hostPort || m.hostRangeChoice) {
      const len = m.containerPortEnd - m.containerPort;
      const [lo, hi] = m.hostRangeChoice ? [m.hostPort, m.hostPortEnd] : [EPHEMERAL_FIRST, EPHEMERAL_LAST - len];
      const chosen = taken.firstFree(m.hostIp, m.proto, lo, hi, len);
      if (!chosen) {
        throw new YardError('PORT_IN_USE', `-p ${spec}: no free host port left in ${lo}-${hi + len}`, {
          field: FIELD,
          hint: 'remove sandboxes that publish ports in that range, or name another host port',
        });
      }
      m.hostPort = chosen;
      m.hostPortEnd = chosen + len;
      delete m.hostRangeChoice;
    } else {
      const c = taken.clash(m);
      if (c) {
        const what = `${m.hostIp || '0.0.0.0'}:${m.hostPort === m.hostPortEnd ? m.hostPort : `${m.hostPort}-${m.hostPortEnd}`}/${m.proto}`;
        throw new YardError('PORT_IN_USE', `-p ${spec}: host port ${what} is already published ${c.owner === sb.name ? 'by another -p of this sandbox' : `by sandbox ${c.owner}`} (-p ${specOf(c.m)})`, {
          field: FIELD,
          hint: c.owner === sb.name ? 'publish each host port once' : `pick another host port, or remove that sandbox first (yard rm -f ${c.owner})`,
        });
      }
    }
    taken.add(m, sb.name);
  }
  checkSourceKeys(ports);
}

/**
 * The source limit is checked after DNAT, keyed by the container address and port: two -p
 * of one sandbox that can lead the same packet to the same container port must carry the
 * same sources (`-p 8000:80 --publish-from 8000=10.0.0.0/8 -p 8001:80` cannot be told apart
 * there).
 */
function checkSourceKeys(ports: readonly PortMapping[]): void {
  if (!ports.some((m) => m.sources)) return;
  // Sorted by protocol and first container port; each mapping is compared with the ones
  // after it that start inside its range (linear for ports that do not overlap).
  const sig = (m: PortMapping) => (m.sources ? m.sources.join(',') : '*');
  const sorted = [...ports].sort((a, b) => a.proto.localeCompare(b.proto) || a.containerPort - b.containerPort);
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i]!;
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j]!;
      if (b.proto !== a.proto || b.containerPort > a.containerPortEnd) break;
      if (!hostIpsOverlap(a.hostIp, b.hostIp) || sig(a) === sig(b)) continue;
      const [x, y] = ports.indexOf(a) < ports.indexOf(b) ? [a, b] : [b, a];
      throw new YardError('INVALID_ARGUMENT', `--publish-from: -p ${specOf(x)} and -p ${specOf(y)} lead to the same container port with different sources`, {
        field: '--publish-from',
        hint: 'give both the same --publish-from sources (Switchyard checks the source after translating to the container port)',
      });
    }
  }
}
