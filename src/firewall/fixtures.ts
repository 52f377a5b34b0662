/**
 * Small, deterministic networks and sandboxes for the firewall's golden tests and
 * benchmarks (no engine, no kernel).
 */
import type { PoolConfig } from '../ipam/config.js';
import type { PortMapping } from '../model/ports.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';

export interface NetFixture {
  name: string;
  index: number;
  internal?: boolean;
  icc?: boolean;
  masquerade?: boolean;
  ipv6?: boolean;
  defaultBridge?: boolean;
}

const hexId = (prefix: string, n: number) => (prefix + n.toString(16).padStart(4, '0')).padEnd(64, '0');

export function fixtureNetwork(f: NetFixture): NetworkRecord {
  const config: PoolConfig[] = [{ subnet: `172.${18 + f.index}.0.0/16`, gateway: `172.${18 + f.index}.0.1`, auxAddresses: {} } as PoolConfig];
  if (f.ipv6) config.push({ subnet: `fd00:${f.index + 1}::/64`, gateway: `fd00:${f.index + 1}::1`, auxAddresses: {} } as PoolConfig);
  return {
    id: hexId('aa', f.index),
    name: f.name,
    driver: 'bridge',
    scope: 'local',
    created: '2026-01-01T00:00:00.000000000Z',
    internal: !!f.internal,
    attachable: false,
    ipv6: !!f.ipv6,
    ipam: { driver: 'default', options: {}, config },
    options: {},
    labels: {},
    driverState: {
      bridge: f.defaultBridge ? 'yard0' : `br-${hexId('aa', f.index).slice(0, 12)}`,
      icc: f.icc !== false,
      masquerade: f.masquerade !== false,
      mtu: 1500,
      defaultBridge: !!f.defaultBridge,
    },
  };
}

export function fixtureSandbox(name: string, index: number, nets: NetworkRecord[], ports: PortMapping[] = []): SandboxRecord {
  const endpoints: Record<string, EndpointRecord> = {};
  nets.forEach((net, order) => {
    const v4 = net.ipam.config.find((p) => !p.subnet.includes(':'));
    const v6 = net.ipam.config.find((p) => p.subnet.includes(':'));
    const epId = hexId('ee', index * 16 + order);
    endpoints[net.id] = {
      id: epId,
      networkId: net.id,
      ifname: `eth${order}`,
      hostIfname: `yv${epId.slice(0, 12)}`,
      ...(v4 ? { ipv4: `${v4.subnet.split('.').slice(0, 3).join('.')}.${index + 2}/16` } : {}),
      ...(v6 ? { ipv6: `${v6.subnet.split('::')[0]}::${(index + 2).toString(16)}/64` } : {}),
      aliases: [],
      order,
    };
  });
  return {
    id: hexId('bb', index),
    name,
    created: '2026-01-01T00:00:00.000000000Z',
    netns: `yard-test-${index}`,
    hostname: name,
    command: ['sleep', '1000'],
    detached: true,
    status: 'running',
    dns: [],
    dnsSearch: [],
    dnsOptions: [],
    extraHosts: [],
    labels: {},
    endpoints,
    ...(ports.length ? { ports } : {}),
  };
}

export const port = (hostPort: number, containerPort: number, proto: PortMapping['proto'] = 'tcp', hostIp = '', len = 0): PortMapping => ({
  proto,
  containerPort,
  containerPortEnd: containerPort + len,
  hostIp,
  hostPort,
  hostPortEnd: hostPort + len,
});

export interface MatrixCase {
  name: string;
  networks: NetworkRecord[];
  sandboxes: SandboxRecord[];
}

/**
 * The golden matrix: each option on and off, with and without published ports. File
 * names say the configuration (as moby's golden files do).
 */
export function goldenMatrix(): MatrixCase[] {
  const cases: MatrixCase[] = [];
  for (const internal of [false, true]) {
    for (const icc of [true, false]) {
      for (const masquerade of [true, false]) {
        for (const ipv6 of [false, true]) {
          for (const published of [false, true]) {
            if (internal && published) continue; // refused by validation
            if (internal && !masquerade) continue; // masquerade has no effect on internal networks
            const net = fixtureNetwork({ name: 'app', index: 1, internal, icc, masquerade, ipv6 });
            const ports = published
              ? [port(8080, 80), port(9090, 90, 'tcp', '127.0.0.1'), port(5353, 53, 'udp'), port(20000, 20000, 'tcp', '', 999), port(8000, 80, 'tcp', '', 2)]
              : [];
            const sbs = [fixtureSandbox('web', 0, [net], ports), fixtureSandbox('db', 1, [net])];
            cases.push({
              name: `internal=${internal},icc=${icc},masquerade=${masquerade},ipv6=${ipv6},published=${published}`,
              networks: [fixtureNetwork({ name: 'bridge', index: 0, defaultBridge: true }), net],
              sandboxes: sbs,
            });
          }
        }
      }
    }
  }
  return cases;
}
