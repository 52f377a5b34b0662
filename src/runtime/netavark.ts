/**
 * Podman's network contract (netavark 1.4), pure: the JSON Podman writes on `setup` and
 * `teardown`, checked field by field, turned into the engine's requests, and the status
 * block netavark prints back. The daemon side (netavark-room.ts) carries the requests out.
 *
 * Podman owns the network definitions (`podman network create` writes them; netavark is
 * never called for it) and allocates the addresses itself (`static_ips`). Each setup names
 * the networks with their full definition (`network_info`) and the container's options per
 * network (`networks`): the engine gets a network with Podman's ID and name (created on
 * first use, removed when its last container leaves, as netavark removes its bridge), and a
 * sandbox with the container's ID and name in the namespace Podman made.
 */
import type { z as zt } from 'zod';
import { zod } from '../model/zod.js';
import ipaddr from 'ipaddr.js';
import { YardError } from '../errors.js';
import type { PortMapping, PortProto } from '../model/ports.js';
import type { EndpointRecord, NetworkRecord } from '../model/types.js';
import type { NetworkCreateRequest } from '../engine/networks.js';
import type { AttachRequest } from '../engine/endpoints.js';
import { DNS_DOMAIN_LABEL, DNS_GATEWAY_LABEL } from '../dns/records.js';

/** Loaded with this module (which loads on demand): see model/zod.ts. */
const z = zod();

/** Label on the networks made for Podman: its network ID. */
export const PODMAN_NETWORK_LABEL = 'io.podman.network.id';
export const PODMAN_DNS_DOMAIN = 'dns.podman';

const subnet = z.object({
  subnet: z.string(),
  gateway: z.string().optional().nullable(),
  lease_range: z.unknown().optional().nullable(),
});

const network = z.object({
  name: z.string(),
  id: z.string(),
  driver: z.string(),
  network_interface: z.string().optional().nullable(),
  created: z.string().optional().nullable(),
  subnets: z.array(subnet).optional().nullable(),
  ipv6_enabled: z.boolean().optional().nullable(),
  internal: z.boolean().optional().nullable(),
  dns_enabled: z.boolean().optional().nullable(),
  labels: z.record(z.string(), z.string()).optional().nullable(),
  options: z.record(z.string(), z.string()).optional().nullable(),
  ipam_options: z.record(z.string(), z.string()).optional().nullable(),
});

const perNetwork = z.object({
  aliases: z.array(z.string()).optional().nullable(),
  interface_name: z.string(),
  static_ips: z.array(z.string()).optional().nullable(),
  static_mac: z.string().optional().nullable(),
});

const portMapping = z.object({
  host_ip: z.string().optional().nullable(),
  container_port: z.number().int(),
  host_port: z.number().int(),
  range: z.number().int().optional().nullable(),
  protocol: z.string(),
});

export const NetavarkOptionsSchema = z.object({
  container_id: z.string(),
  container_name: z.string(),
  port_mappings: z.array(portMapping).optional().nullable(),
  networks: z.record(z.string(), perNetwork),
  network_info: z.record(z.string(), network),
  dns_servers: z.array(z.string()).optional().nullable(),
});

export type NetavarkOptions = zt.infer<typeof NetavarkOptionsSchema>;
export type PodmanNetwork = zt.infer<typeof network>;

/** netavark's status block for one network. */
export interface StatusBlock {
  dns_search_domains: string[];
  dns_server_ips: string[];
  interfaces: Record<string, { mac_address: string; subnets: { ipnet: string; gateway?: string }[] }>;
}

const bad = (field: string, msg: string, hint: string) => new YardError('INVALID_ARGUMENT', msg, { field, hint });

/** Parse Podman's JSON (text), naming the first field that is wrong. */
export function parseNetavarkOptions(text: string): NetavarkOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw bad('stdin', `failed to load network options: ${(e as Error).message}`, 'pass the network options JSON that Podman writes on standard input');
  }
  const r = NetavarkOptionsSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.') || 'stdin';
    throw bad(field, `failed to load network options: ${field}: ${issue.message}`, "pass the network options JSON that Podman writes (netavark's format)");
  }
  return r.data;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** Everything the engine needs for one network of a setup. */
export interface NetworkStep {
  /** Podman's name for it (the key in network_info). */
  name: string;
  create: NetworkCreateRequest;
  attach: Omit<AttachRequest, 'network'>;
  dns: boolean;
}

/**
 * Check one network's definition as netavark does (`unknown network driver X`), and turn it
 * into the engine's network request. Podman's names: bridge `network_interface` is the
 * bridge's name, macvlan/ipvlan's is the parent; options `mtu`, `mode`, `vlan`.
 */
export function networkRequest(key: string, n: PodmanNetwork): NetworkCreateRequest {
  const f = (k: string) => `network_info.${key}.${k}`;
  if (!['bridge', 'macvlan', 'ipvlan'].includes(n.driver)) {
    throw bad(f('driver'), `unknown network driver ${n.driver}`, 'use a bridge, macvlan or ipvlan network');
  }
  if (!/^[0-9a-f]{64}$/.test(n.id)) throw bad(f('id'), `network ${n.name}: id ${JSON.stringify(n.id.slice(0, 80))} is not 64 hex digits`, "pass Podman's network ID");
  const ipam = n.ipam_options?.driver ?? 'host-local';
  if (ipam !== 'host-local' && ipam !== 'none') {
    throw bad(f('ipam_options.driver'), `network ${n.name}: IPAM driver ${ipam} is not supported; Switchyard takes the addresses Podman assigns`, 'create the network with the default IPAM (host-local)');
  }
  const subnets = n.subnets ?? [];
  if (!subnets.length) throw bad(f('subnets'), `network ${n.name} has no subnet`, 'create the Podman network with --subnet (or let Podman pick one)');
  const options: Record<string, string> = {};
  const iface = n.network_interface ?? '';
  if (iface && !IFNAME.test(iface)) throw bad(f('network_interface'), `network ${n.name}: interface name ${JSON.stringify(iface.slice(0, 40))} is not 1 to 15 letters, digits, _ . or -`, 'give a valid interface name');
  const o = n.options ?? {};
  for (const k of Object.keys(o)) {
    if (!['mtu', 'mode', 'vlan', 'isolate', 'metric', 'no_default_route'].includes(k)) {
      throw bad(f(`options.${k}`), `network ${n.name}: unsupported network option ${k}`, 'use the options mtu, mode or vlan');
    }
  }
  if (o.mtu !== undefined && o.mtu !== '' && o.mtu !== '0') options['com.docker.network.driver.mtu'] = o.mtu;
  if (n.driver === 'bridge') {
    if (iface) options['com.docker.network.bridge.name'] = iface;
    if (o.vlan) throw bad(f('options.vlan'), `network ${n.name}: vlan on a bridge network is not supported`, 'remove the vlan option');
  } else {
    if (!iface) throw bad(f('network_interface'), `network ${n.name}: a ${n.driver} network needs its parent interface`, `create it with podman network create -d ${n.driver} -o parent=<interface>`);
    options.parent = o.vlan ? `${iface}.${o.vlan}` : iface;
    if (o.mode) options[n.driver === 'macvlan' ? 'macvlan_mode' : 'ipvlan_mode'] = o.mode;
  }
  return {
    name: n.name,
    id: n.id,
    driver: n.driver,
    options,
    internal: !!n.internal,
    ipv6: !!n.ipv6_enabled,
    labels: { ...(n.labels ?? {}), [PODMAN_NETWORK_LABEL]: n.id, ...(n.dns_enabled ? { [DNS_DOMAIN_LABEL]: PODMAN_DNS_DOMAIN, [DNS_GATEWAY_LABEL]: 'true' } : {}) },
    ipam: subnets.map((s) => ({ subnet: s.subnet, ...(s.gateway ? { gateway: s.gateway } : {}) })),
  };
}

/** The per-network steps of a setup or teardown, in Podman's order of the networks (by name). */
export function setupSteps(o: NetavarkOptions): NetworkStep[] {
  if (!CONTAINER_ID.test(o.container_id)) throw bad('container_id', `container id ${JSON.stringify(o.container_id.slice(0, 80))} is not 64 hex digits`, "pass Podman's container ID");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(o.container_name)) {
    throw bad('container_name', `container name ${JSON.stringify(o.container_name.slice(0, 80))} is not 1 to 128 letters, digits, _ . or -`, 'name the container with letters, digits, _ . or -');
  }
  return Object.keys(o.network_info)
    .sort()
    .map((key) => {
      const info = o.network_info[key]!;
      const per = o.networks[key];
      if (!per) throw bad(`networks.${key}`, `no per-network options for network ${key}`, 'pass the container options for every network in network_info');
      if (!IFNAME.test(per.interface_name)) throw bad(`networks.${key}.interface_name`, `interface name ${JSON.stringify(per.interface_name.slice(0, 40))} is not 1 to 15 letters, digits, _ . or -`, 'give a valid interface name');
      const create = networkRequest(key, info);
      const attach: Omit<AttachRequest, 'network'> = { ifname: per.interface_name, aliases: per.aliases ?? [] };
      for (const ip of per.static_ips ?? []) {
        if (!ipaddr.isValid(ip)) throw bad(`networks.${key}.static_ips`, `${JSON.stringify(ip.slice(0, 60))} is not an IP address`, 'give addresses of the network');
        if (ipaddr.parse(ip).kind() === 'ipv4') attach.ip = ip;
        else attach.ip6 = ip;
      }
      if (per.static_mac) attach.mac = per.static_mac.toLowerCase();
      return { name: key, create, attach, dns: !!info.dns_enabled };
    });
}

const PROTOS: Record<string, PortProto> = { tcp: 'tcp', udp: 'udp', sctp: 'sctp' };

/** Podman's port mappings as the engine's (one per protocol; `range` consecutive ports). */
export function portMappings(o: NetavarkOptions): PortMapping[] {
  const out: PortMapping[] = [];
  (o.port_mappings ?? []).forEach((p, i) => {
    const f = (k: string) => `port_mappings.${i}.${k}`;
    const range = p.range ?? 1;
    if (range < 1 || range > 65535) throw bad(f('range'), `port range ${range} is not 1 to 65535`, 'give a positive range');
    for (const [k, v] of [['container_port', p.container_port], ['host_port', p.host_port]] as const) {
      if (v < 1 || v + range - 1 > 65535) throw bad(f(k), `${k} ${v} (range ${range}) is outside 1-65535`, 'give ports between 1 and 65535');
    }
    const hostIp = p.host_ip ?? '';
    if (hostIp && !ipaddr.isValid(hostIp)) throw bad(f('host_ip'), `host_ip ${JSON.stringify(hostIp.slice(0, 60))} is not an IP address`, 'give an address of this host, or leave it empty for all');
    for (const proto of p.protocol.split(',')) {
      const pr = PROTOS[proto.trim()];
      if (!pr) throw bad(f('protocol'), `protocol ${JSON.stringify(proto.slice(0, 20))} is not tcp, udp or sctp`, 'use tcp, udp or sctp');
      out.push({
        proto: pr,
        containerPort: p.container_port,
        containerPortEnd: p.container_port + range - 1,
        hostIp: hostIp ? ipaddr.process(hostIp).toString() : '',
        hostPort: p.host_port,
        hostPortEnd: p.host_port + range - 1,
      });
    }
  });
  return out;
}

/** Does the engine's network match Podman's definition (ID, driver, subnets)? */
export function sameNetwork(net: NetworkRecord, req: NetworkCreateRequest): boolean {
  const subnets = (x: { subnet?: string }[]) => x.map((s) => s.subnet ?? '').sort().join(',');
  return net.id === req.id && net.driver === req.driver && subnets(net.ipam.config) === subnets(req.ipam ?? []);
}

/** netavark's answer for one network the container is on. */
export function statusBlock(net: NetworkRecord, ep: EndpointRecord, dns: boolean): StatusBlock {
  const subnets: { ipnet: string; gateway?: string }[] = [];
  for (const cidr of [ep.ipv4, ep.ipv6]) {
    if (!cidr) continue;
    const ip = ipaddr.parse(cidr.split('/')[0]!);
    const pool = net.ipam.config.find((p) => {
      try {
        return ip.match(ipaddr.parseCIDR(p.subnet));
      } catch {
        return false;
      }
    });
    subnets.push({ ipnet: cidr, ...(pool?.gateway ? { gateway: pool.gateway } : {}) });
  }
  // As aardvark-dns: the resolver answers on each DNS network's gateway (one server per
  // network, so that Podman can drop a network's server from resolv.conf on disconnect).
  const servers = dns ? subnets.map((s) => s.gateway).filter((g): g is string => !!g) : [];
  return {
    dns_search_domains: dns ? [PODMAN_DNS_DOMAIN] : [],
    dns_server_ips: servers,
    interfaces: { [ep.ifname]: { mac_address: ep.mac ?? '', subnets } },
  };
}
