/**
 * Docker Engine API shapes (API 1.41) for networks and for sandboxes shown as
 * containers. Pure mapping from Switchyard's records.
 */
import type { PoolConfig } from '../ipam/config.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { publishTarget, shownHostIps, type PortMapping } from '../model/ports.js';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.12';

function ipamConfig(p: PoolConfig, predefined: boolean) {
  return {
    Subnet: p.subnet,
    ...(p.ipRange ? { IPRange: p.ipRange } : {}),
    // As Docker: a gateway given, or one of a pool from the defaults; not one chosen in a
    // given subnet. The default bridge shows its gateway, as dockerd's does once docker0
    // exists when it starts (on its first start, before docker0 exists, it shows none).
    ...(p.gateway && (!p.gatewayChosen || predefined) ? { Gateway: p.gateway } : {}),
    ...(Object.keys(p.auxAddresses).length ? { AuxiliaryAddresses: p.auxAddresses } : {}),
  };
}

export function networkJson(net: NetworkRecord, attached?: { sb: SandboxRecord; ep: EndpointRecord }[]) {
  const out: Record<string, unknown> = {
    Name: net.name,
    Id: net.id,
    Created: net.created,
    Scope: net.scope,
    Driver: net.driver,
    EnableIPv6: net.ipv6,
    // As Docker: null for the predefined networks and when none were given (docker-py), what was given otherwise (the CLI gives {}).
    IPAM: { Driver: net.ipam.driver, Options: net.predefined ? null : net.ipam.options, Config: net.ipam.config.map((p) => ipamConfig(p, !!net.predefined)) },
    Internal: net.internal,
    Attachable: net.attachable,
    Ingress: false,
    ConfigFrom: { Network: net.configFrom ?? '' },
    ConfigOnly: !!net.configOnly,
    Containers: {} as Record<string, unknown>,
    Options: net.options,
    Labels: net.labels,
    // Switchyard's own (ignored by Docker clients): what the driver decided, e.g. the
    // bridge name, MTU, macvlan parent and host-access shim.
    Switchyard: { Driver: net.driverState, ...(net.predefined ? { Predefined: true } : {}) },
  };
  if (attached) {
    const containers: Record<string, unknown> = {};
    for (const { sb, ep } of attached) {
      containers[sb.id] = {
        Name: sb.name,
        EndpointID: ep.id,
        MacAddress: ep.mac ?? '',
        IPv4Address: ep.ipv4 ?? '',
        IPv6Address: ep.ipv6 ?? '',
        // Switchyard's own: the DHCP lease (dhcp IPAM).
        ...(ep.lease ? { DHCP: dhcpLeaseJson(ep) } : {}),
      };
    }
    out.Containers = containers;
  }
  return out;
}

export function endpointSettings(net: NetworkRecord, ep: EndpointRecord) {
  const v4 = net.ipam.config.find((p) => !p.subnet.includes(':'));
  const v6 = net.ipam.config.find((p) => p.subnet.includes(':'));
  const [ip4, len4] = ep.ipv4 ? ep.ipv4.split('/') : ['', '0'];
  const [ip6, len6] = ep.ipv6 ? ep.ipv6.split('/') : ['', '0'];
  return {
    IPAMConfig: ep.requestedIpv4 || ep.requestedIpv6 ? { IPv4Address: ep.requestedIpv4 ?? '', IPv6Address: ep.requestedIpv6 ?? '' } : null,
    Links: ep.links?.length ? ep.links : null,
    Aliases: ep.aliases.length ? ep.aliases : null,
    NetworkID: net.id,
    EndpointID: ep.id,
    Gateway: ep.ipv4 && (v4?.gateway ?? ep.lease?.router) && !net.internal ? (v4?.gateway ?? ep.lease?.router)! : '',
    IPAddress: ip4,
    IPPrefixLen: Number(len4),
    IPv6Gateway: ep.ipv6 && v6?.gateway && !net.internal ? v6.gateway : '',
    GlobalIPv6Address: ip6,
    GlobalIPv6PrefixLen: Number(len6),
    MacAddress: ep.mac ?? '',
    DriverOpts: ep.driverOpts ?? null,
    // Switchyard: the interface names on both sides.
    Interface: ep.ifname,
    HostInterface: ep.hostIfname ?? '',
    // Switchyard: the DHCP lease the address came from (dhcp IPAM).
    ...(ep.lease ? { DHCP: dhcpLeaseJson(ep) } : {}),
  };
}

/** An endpoint's DHCP lease as inspect shows it. */
export function dhcpLeaseJson(ep: EndpointRecord) {
  const l = ep.lease!;
  return { Address: l.address, Server: l.server, Router: l.router ?? '', DNS: l.dns, LeaseSeconds: l.leaseSeconds, Obtained: l.obtained, RenewAt: l.renewAt, Expires: l.expires, ClientID: l.clientId };
}

export function sandboxJson(sb: SandboxRecord, networks: Map<string, NetworkRecord>, logPath: string) {
  const nets: Record<string, unknown> = {};
  let mode = 'default';
  for (const ep of Object.values(sb.endpoints).sort((a, b) => a.order - b.order)) {
    const net = networks.get(ep.networkId);
    if (!net) continue;
    if (mode === 'default') mode = net.name;
    nets[net.name] = endpointSettings(net, ep);
  }
  return {
    Id: sb.id,
    Name: '/' + sb.name,
    Created: sb.created,
    Path: sb.command[0] ?? '',
    Args: sb.command.slice(1),
    State: {
      Status: sb.status,
      Running: sb.status === 'running',
      Pid: sb.status === 'running' ? (sb.pid ?? 0) : 0,
      ExitCode: sb.exitCode ?? 0,
      StartedAt: sb.startedAt ?? '0001-01-01T00:00:00Z',
      FinishedAt: sb.finishedAt ?? '0001-01-01T00:00:00Z',
    },
    LogPath: logPath,
    Config: { Hostname: sb.hostname, Cmd: sb.command, Labels: sb.labels },
    HostConfig: { NetworkMode: mode, Dns: sb.dns, DnsSearch: sb.dnsSearch, DnsOptions: sb.dnsOptions, ExtraHosts: sb.extraHosts, PortBindings: portBindings(sb.ports ?? []) },
    NetworkSettings: {
      SandboxID: sb.id,
      SandboxKey: sb.netns ? `/run/netns/${sb.netns}` : '',
      Networks: nets,
      Ports: publishedPorts(sb, networks),
    },
    // Switchyard's own: the namespace name for `ip netns exec`.
    Netns: sb.netns,
    // Switchyard's own: the published ports as records (ranges kept whole), for ps.
    PublishedPorts: (sb.ports ?? []).map((m) => ({ ...m, v6: hasV6Target(sb, networks) })),
  };
}

/** Docker's HostConfig.PortBindings: what was asked, `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`. */
function portBindings(ports: readonly PortMapping[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of ports) {
    for (let i = 0; i <= m.containerPortEnd - m.containerPort; i++) {
      const hp = m.hostPort + (m.hostPortEnd > m.hostPort ? i : 0);
      (out[`${m.containerPort + i}/${m.proto}`] ??= []).push({ HostIp: m.hostIp, HostPort: String(hp) });
    }
  }
  return out;
}

function hasV6Target(sb: SandboxRecord, networks: Map<string, NetworkRecord>): boolean {
  return !!publishTarget(sb, networks)?.ep.ipv6;
}

/** Docker's NetworkSettings.Ports: what is published, one entry per container port and host address. */
function publishedPorts(sb: SandboxRecord, networks: Map<string, NetworkRecord>): Record<string, { HostIp: string; HostPort: string }[]> {
  const v6 = hasV6Target(sb, networks);
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of sb.ports ?? []) {
    for (let i = 0; i <= m.containerPortEnd - m.containerPort; i++) {
      const hp = m.hostPort + (m.hostPortEnd > m.hostPort ? i : 0);
      const list = (out[`${m.containerPort + i}/${m.proto}`] ??= []);
      for (const ip of shownHostIps(m, v6)) list.push({ HostIp: ip, HostPort: String(hp) });
    }
  }
  return out;
}
