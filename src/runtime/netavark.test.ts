import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/unit/thrown.js';
import type { EndpointRecord, NetworkRecord } from '../model/types.js';
import { DNS_DOMAIN_LABEL, DNS_GATEWAY_LABEL } from '../dns/records.js';
import { PODMAN_NETWORK_LABEL, networkRequest, parseNetavarkOptions, portMappings, sameNetwork, setupSteps, statusBlock, type PodmanNetwork } from './netavark.js';

const FIXTURES = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../test/fixtures/netavark');
const fixture = (f: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8')) as { stdin: unknown; stdout: Record<string, unknown> };
const ID = 'ab'.repeat(32);

const bridge = (over: Partial<PodmanNetwork> = {}): PodmanNetwork => ({
  name: 'app',
  id: 'cd'.repeat(32),
  driver: 'bridge',
  network_interface: 'podman1',
  subnets: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1' }],
  ipv6_enabled: false,
  internal: false,
  dns_enabled: true,
  ipam_options: { driver: 'host-local' },
  ...over,
});

describe("Podman's recorded calls", () => {
  it('a DNS network: Podman\'s network, with its ID, bridge name, subnet and dns.podman; the container\'s address, interface and aliases', () => {
    const o = parseNetavarkOptions(JSON.stringify(fixture('setup-dns-network.json').stdin));
    const [s, ...rest] = setupSteps(o);
    expect(rest).toEqual([]);
    expect(s!.create).toMatchObject({
      name: 'app',
      id: '0f2fdc0bfa97340b90effe4ad6dca46ad3cab783caa819911aa442915157ab8a',
      driver: 'bridge',
      options: { 'com.docker.network.bridge.name': 'podman1' },
      ipam: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1' }],
      internal: false,
    });
    expect(s!.create.labels).toMatchObject({ [PODMAN_NETWORK_LABEL]: s!.create.id, [DNS_DOMAIN_LABEL]: 'dns.podman', [DNS_GATEWAY_LABEL]: 'true' });
    expect(s!.attach).toEqual({ ifname: 'eth0', aliases: ['34fe55a745e3'], ip: '10.89.0.7' });
    expect(s!.dns).toBe(true);
  });

  it('the default network has no DNS; -p 8080:80 -p 8082:81 become two TCP mappings', () => {
    const o = parseNetavarkOptions(JSON.stringify(fixture('setup-port-mappings.json').stdin));
    const [s] = setupSteps(o);
    expect(s!.dns).toBe(false);
    expect(s!.create.labels![DNS_DOMAIN_LABEL]).toBeUndefined();
    expect(portMappings(o)).toEqual([
      { proto: 'tcp', containerPort: 80, containerPortEnd: 80, hostIp: '', hostPort: 8080, hostPortEnd: 8080 },
      { proto: 'tcp', containerPort: 81, containerPortEnd: 81, hostIp: '', hostPort: 8082, hostPortEnd: 8082 },
    ]);
  });

  it('the status block has netavark\'s shape: search domain, server, interface with MAC and address/gateway', () => {
    const want = fixture('setup-dns-network.json').stdout.app as { interfaces: Record<string, unknown> };
    const net = { id: 'n', name: 'app', ipam: { driver: 'default', options: {}, config: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1' }] } } as unknown as NetworkRecord;
    const ep = { ifname: 'eth0', mac: 'aa:bb:cc:dd:ee:ff', ipv4: '10.89.0.7/24', aliases: [] } as unknown as EndpointRecord;
    const got = statusBlock(net, ep, true);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    expect(got).toEqual({
      dns_search_domains: ['dns.podman'],
      dns_server_ips: ['10.89.0.1'],
      interfaces: { eth0: { mac_address: 'aa:bb:cc:dd:ee:ff', subnets: [{ ipnet: '10.89.0.7/24', gateway: '10.89.0.1' }] } },
    });
    expect(Object.keys(want.interfaces)).toEqual(['eth0']);
    expect((want as unknown as { dns_server_ips: string[] }).dns_server_ips).toEqual(['10.89.0.1']);
    expect(statusBlock(net, ep, false).dns_server_ips).toEqual([]);
  });
});

describe('checks, each naming its field', () => {
  it('bad JSON and missing fields', () => {
    expect(thrown(() => parseNetavarkOptions('{')).message).toMatch(/^failed to load network options/);
    const e = thrown(() => parseNetavarkOptions(JSON.stringify({ container_id: ID, networks: {}, network_info: {} })));
    expect(e.field).toBe('container_name');
  });

  it('an unknown driver is refused as netavark refuses it; macvlan and ipvlan take the parent and mode', () => {
    expect(thrown(() => networkRequest('x', bridge({ driver: 'foo' }))).message).toBe('unknown network driver foo');
    const mv = networkRequest('lan', bridge({ driver: 'macvlan', network_interface: 'lan0', options: { mode: 'bridge' } }));
    expect(mv.options).toEqual({ parent: 'lan0', macvlan_mode: 'bridge' });
    expect(networkRequest('lan', bridge({ driver: 'ipvlan', network_interface: 'lan0', options: { mode: 'l3', vlan: '5' } })).options).toEqual({ parent: 'lan0.5', ipvlan_mode: 'l3' });
    expect(thrown(() => networkRequest('lan', bridge({ driver: 'macvlan', network_interface: '' }))).field).toBe('network_info.lan.network_interface');
  });

  it('IPAM dhcp, a bad interface name, an unknown option, no subnet', () => {
    expect(thrown(() => networkRequest('a', bridge({ ipam_options: { driver: 'dhcp' } }))).field).toBe('network_info.a.ipam_options.driver');
    expect(thrown(() => networkRequest('a', bridge({ network_interface: 'x;rm -rf /' }))).field).toBe('network_info.a.network_interface');
    expect(thrown(() => networkRequest('a', bridge({ options: { evil: '1' } }))).field).toBe('network_info.a.options.evil');
    expect(thrown(() => networkRequest('a', bridge({ subnets: [] }))).field).toBe('network_info.a.subnets');
    // Positive control: the same network as Podman writes it passes, with its MTU.
    expect(networkRequest('a', bridge({ options: { mtu: '1400' } })).options).toEqual({ 'com.docker.network.bridge.name': 'podman1', 'com.docker.network.driver.mtu': '1400' });
  });

  it('container ID and name, interface name, addresses, ports', () => {
    const o = (over: Record<string, unknown>) => ({
      container_id: ID,
      container_name: 'web',
      networks: { app: { interface_name: 'eth0', static_ips: ['10.89.0.5'] } },
      network_info: { app: bridge() },
      ...over,
    });
    expect(setupSteps(parseNetavarkOptions(JSON.stringify(o({}))))[0]!.attach.ip).toBe('10.89.0.5');
    expect(thrown(() => setupSteps(parseNetavarkOptions(JSON.stringify(o({ container_id: 'x' }))))).field).toBe('container_id');
    expect(thrown(() => setupSteps(parseNetavarkOptions(JSON.stringify(o({ container_name: '../x' }))))).field).toBe('container_name');
    expect(thrown(() => setupSteps(parseNetavarkOptions(JSON.stringify(o({ networks: { app: { interface_name: 'eth0', static_ips: ['10.89.0.999'] } } }))))).field).toBe('networks.app.static_ips');
    expect(thrown(() => setupSteps(parseNetavarkOptions(JSON.stringify(o({ networks: {} }))))).field).toBe('networks.app');
    const port = (p: Record<string, unknown>) => portMappings(parseNetavarkOptions(JSON.stringify(o({ port_mappings: [{ host_ip: '', container_port: 80, host_port: 8080, range: 1, protocol: 'tcp', ...p }] }))));
    expect(port({ protocol: 'tcp,udp', range: 3 }).map((m) => [m.proto, m.hostPort, m.hostPortEnd, m.containerPortEnd])).toEqual([['tcp', 8080, 8082, 82], ['udp', 8080, 8082, 82]]);
    expect(thrown(() => port({ protocol: 'icmp' })).field).toBe('port_mappings.0.protocol');
    expect(thrown(() => port({ host_port: 65535, range: 2 })).field).toBe('port_mappings.0.host_port');
    expect(thrown(() => port({ host_ip: 'nope' })).field).toBe('port_mappings.0.host_ip');
  });

  it('sameNetwork compares ID, driver and subnets', () => {
    const req = networkRequest('app', bridge());
    const net = { id: req.id, driver: 'bridge', ipam: { config: [{ subnet: '10.89.0.0/24' }] } } as unknown as NetworkRecord;
    expect(sameNetwork(net, req)).toBe(true);
    expect(sameNetwork({ ...net, ipam: { ...net.ipam, config: [{ subnet: '10.90.0.0/24' }] } } as NetworkRecord, req)).toBe(false);
  });
});
