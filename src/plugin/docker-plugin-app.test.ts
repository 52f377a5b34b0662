/**
 * The network driver side of the Docker plugin, as dockerd (20.10) calls it: bodies exactly
 * as libnetwork's remote driver encodes them, answers as its plugin client decodes them.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { dockerPluginApp } from './docker-plugin-app.js';
import { PLUGIN_MEDIA_TYPE } from './docker-protocol.js';
import { YardError } from '../errors.js';
import { fakeBackend, type FakeBackend } from '../../test/unit/plugin-fake.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);

let b: FakeBackend;
let app: Hono;

beforeEach(() => {
  b = fakeBackend();
  app = dockerPluginApp(b, { scope: 'local' });
});

/** As libnetwork sends it: POST, Accept with the plugin media type, no Content-Type, JSON + newline (or nothing). */
async function call(a: Hono, method: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; type: string | null }> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  const r = await a.request(`/${method}`, { method: 'POST', headers: { Accept: PLUGIN_MEDIA_TYPE }, body: text });
  return { status: r.status, json: (await r.json()) as Record<string, unknown>, type: r.headers.get('content-type') };
}
const post = (method: string, body?: unknown) => call(app, method, body);

/** dockerd's CreateNetwork for `docker network create -d switchyard [-o ...] [--internal] --subnet 172.18.0.0/16`. */
function createBody(generic: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    NetworkID: NET,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': generic, ...extra },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '172.18.0.0/16', Gateway: '172.18.0.1/16', AuxAddresses: { printer: '172.18.0.5/16' } }],
    IPv6Data: [],
  };
}

const createEndpointBody = (iface: Record<string, string> = { Address: '172.18.0.2/16', AddressIPv6: '', MacAddress: '' }, options: Record<string, unknown> = {}) => ({
  NetworkID: NET,
  EndpointID: EP,
  Interface: iface,
  Options: options,
});

describe('handshake', () => {
  it('Plugin.Activate (empty body) names both interfaces for the local plugin, only NetworkDriver for the global one', async () => {
    const r = await post('Plugin.Activate');
    expect(r.status).toBe(200);
    expect(r.type).toBe(PLUGIN_MEDIA_TYPE);
    expect(r.json).toEqual({ Implements: ['NetworkDriver', 'IpamDriver'] });
    const g = await call(dockerPluginApp(b, { scope: 'global' }), 'Plugin.Activate');
    expect(g.json).toEqual({ Implements: ['NetworkDriver'] });
  });

  it('GetCapabilities answers the plugin name\'s scope', async () => {
    expect((await post('NetworkDriver.GetCapabilities')).json).toEqual({ Scope: 'local', ConnectivityScope: 'local' });
    const g = await call(dockerPluginApp(b, { scope: 'global' }), 'NetworkDriver.GetCapabilities');
    expect(g.json).toEqual({ Scope: 'global', ConnectivityScope: 'global' });
  });

  it('a call it does not implement is 404 with Err (dockerd reads 404 as "not implemented"); GET on a known call too', async () => {
    const r = await post('NetworkDriver.GwAllocCheck', { Options: {} });
    expect(r.status).toBe(404);
    expect(r.json.Err).toMatch(/NetworkDriver\.GwAllocCheck is not a call the switchyard plugin implements/);
    const g = await app.request('/NetworkDriver.GetCapabilities');
    expect(g.status).toBe(404);
    // Positive control: the same path with POST answers.
    expect((await post('NetworkDriver.GetCapabilities')).status).toBe(200);
  });

  it('the global plugin has no IPAM calls', async () => {
    const g = dockerPluginApp(b, { scope: 'global' });
    expect((await call(g, 'IpamDriver.GetCapabilities')).status).toBe(404);
    expect((await post('IpamDriver.GetCapabilities')).status).toBe(200);
  });
});

describe('CreateNetwork', () => {
  it('translates -o options, the driver selector, --internal, --ipv6 and the pools', async () => {
    const r = await post('NetworkDriver.CreateNetwork', createBody({ driver: 'macvlan', parent: 'lan0' }, { 'com.docker.network.internal': true }));
    expect(r).toMatchObject({ status: 200, json: {} });
    expect(b.networks.get(NET)).toEqual({
      id: NET,
      scope: 'local',
      driver: 'macvlan',
      options: { parent: 'lan0' },
      enableIPv6: false,
      internal: true,
      ipv4: [{ addressSpace: 'LocalDefault', subnet: '172.18.0.0/16', gateway: '172.18.0.1', auxAddresses: { printer: '172.18.0.5' } }],
      ipv6: [],
    });
  });

  it('bridge is the default driver; --internal absent is false', async () => {
    await post('NetworkDriver.CreateNetwork', createBody({ 'com.docker.network.bridge.name': 'br-docker1' }));
    expect(b.networks.get(NET)).toMatchObject({ driver: 'bridge', options: { 'com.docker.network.bridge.name': 'br-docker1' }, internal: false });
  });

  it('a backend refusal is HTTP 200 with Err "<message> (<hint>)", which dockerd shows as "remote: ..."', async () => {
    const r = await post('NetworkDriver.CreateNetwork', createBody({ nosuch: '1' }));
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ Err: 'driver bridge has no option nosuch (known options: com.docker.network.bridge.name, com.docker.network.driver.mtu)' });
    expect(b.networks.size).toBe(0);
  });

  it('overlay on the local plugin is refused, pointing at switchyard-global; the global plugin takes it by default', async () => {
    const r = await post('NetworkDriver.CreateNetwork', createBody({ driver: 'overlay' }));
    expect(r.status).toBe(200);
    expect(r.json.Err).toBe('-o driver=overlay is not a Switchyard driver of the switchyard plugin (overlay networks are multi-host: create them with docker network create -d switchyard-global)');
    expect(b.calls).toHaveLength(0);
    const g = await call(dockerPluginApp(b, { scope: 'global' }), 'NetworkDriver.CreateNetwork', { ...createBody(), IPv4Data: [{ AddressSpace: 'GlobalDefault', Pool: '10.240.0.0/24', Gateway: '10.240.0.1/24' }] });
    expect(g.json).toEqual({});
    expect(b.networks.get(NET)).toMatchObject({ scope: 'global', driver: 'overlay' });
  });

  it('an -o value that is not a string, or a generic map that is not a map, is refused naming it', async () => {
    expect((await post('NetworkDriver.CreateNetwork', createBody({ mtu: 1500 }))).json.Err).toMatch(/^-o mtu: the value 1500 is not a string/);
    expect((await post('NetworkDriver.CreateNetwork', { ...createBody(), Options: { 'com.docker.network.generic': 'x' } })).json.Err).toMatch(/com\.docker\.network\.generic is not a map/);
    expect(b.calls).toHaveLength(0);
  });

  it('a gateway outside its pool or a pool of the wrong family is refused', async () => {
    const body = createBody();
    body.IPv4Data[0]!.Gateway = '10.0.0.1/16';
    expect((await post('NetworkDriver.CreateNetwork', body)).json.Err).toMatch(/IPv4Data\[0\]\.Gateway 10\.0\.0\.1 is outside the subnet 172\.18\.0\.0\/16/);
    const v6 = { ...createBody(), IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: 'fd00::/64' }] };
    expect((await post('NetworkDriver.CreateNetwork', v6)).json.Err).toMatch(/IPv4Data\[0\]\.Pool "fd00::\/64" is not an IPv4 subnet/);
    expect(b.calls).toHaveLength(0);
  });
});

describe('malformed requests: 400 with Err naming the field, never a 5xx', () => {
  it.each([
    ['not JSON', '{"NetworkID": ', /^request body is not valid JSON/],
    ['a list', '[1,2]', /^request body is a JSON list, not a JSON object/],
    ['null', 'null', /^request body is null/],
    ['empty', undefined, /^request field NetworkID is required/],
    ['a bad NetworkID', { NetworkID: '../etc' }, /^request field NetworkID must be 1 to 64 letters and digits/],
    ['a wrong type', { NetworkID: NET, IPv4Data: 'x' }, /^request field IPv4Data: /],
    ['a pool without Pool', { NetworkID: NET, IPv4Data: [{ AddressSpace: 'x' }] }, /^request field IPv4Data\.0\.Pool: Pool is required/],
  ])('%s', async (_what, body, err) => {
    const r = await post('NetworkDriver.CreateNetwork', body);
    expect(r.status).toBe(400);
    expect(r.json.Err).toMatch(err);
    expect(b.calls).toHaveLength(0);
  });

  it('null for an optional field is the field left out (Go encodes nil maps and slices as null)', async () => {
    const r = await post('NetworkDriver.CreateNetwork', { NetworkID: NET, Options: null, IPv4Data: null, IPv6Data: null });
    expect(r).toMatchObject({ status: 200, json: {} });
    expect(b.networks.get(NET)).toMatchObject({ driver: 'bridge', ipv4: [], enableIPv6: false });
  });

  it('a body over the limit is 413 with Err', async () => {
    const small = dockerPluginApp(b, { scope: 'local', maxBodyBytes: 1000 });
    const r = await call(small, 'NetworkDriver.CreateNetwork', { ...createBody(), pad: 'x'.repeat(2000) });
    expect(r.status).toBe(413);
    expect(r.json.Err).toMatch(/larger than the plugin's limit of 1000 bytes/);
    expect((await call(small, 'NetworkDriver.CreateNetwork', createBody())).status).toBe(200);
  });
});

describe('endpoints', () => {
  beforeEach(async () => {
    await post('NetworkDriver.CreateNetwork', createBody());
  });

  it('CreateEndpoint passes IPAM\'s address and answers only what dockerd did not set (the MAC)', async () => {
    const r = await post('NetworkDriver.CreateEndpoint', createEndpointBody());
    expect(r).toMatchObject({ status: 200, json: { Interface: { MacAddress: '02:42:ac:12:00:02' } } });
    expect(r.json.Interface).not.toHaveProperty('Address');
    expect(b.endpoints.get(EP)).toMatchObject({ networkId: NET, iface: { ipv4: '172.18.0.2/16' }, ports: [], exposed: [], dnsServers: [] });
  });

  it('with a --mac-address from dockerd the answer has no Interface at all', async () => {
    const r = await post('NetworkDriver.CreateEndpoint', createEndpointBody({ Address: '172.18.0.2/16', MacAddress: '02:42:AC:12:00:09' }));
    expect(r.json).toEqual({});
    expect(b.endpoints.get(EP)!.iface.mac).toBe('02:42:ac:12:00:09');
  });

  it('a backend that changes an address dockerd gave is reported, not passed on', async () => {
    b.createEndpoint = () => ({ ipv4: '172.18.0.3/16' });
    const r = await post('NetworkDriver.CreateEndpoint', createEndpointBody());
    expect(r.json.Err).toMatch(/the driver changed the endpoint's Address from 172\.18\.0\.2\/16 to 172\.18\.0\.3\/16/);
  });

  it('reads -p bindings, exposed ports, --dns and --driver-opt from the endpoint options', async () => {
    await post('NetworkDriver.CreateEndpoint', createEndpointBody(undefined, {
      'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }],
      'com.docker.network.endpoint.exposedports': [{ Proto: 6, Port: 80 }],
      'com.docker.network.endpoint.dnsservers': ['10.231.0.1'],
      'com.docker.network.endpoint.macaddress': 'AkKsEgAJ',
      'com.example.opt': 'v',
    }));
    expect(b.endpoints.get(EP)).toMatchObject({
      ports: [{ proto: 'tcp', containerPort: 80, containerPortEnd: 80, hostIp: '', hostPort: 8080, hostPortEnd: 8080 }],
      exposed: [{ proto: 'tcp', port: 80 }],
      dnsServers: ['10.231.0.1'],
      driverOpts: { 'com.example.opt': 'v' },
    });
  });

  it('a malformed address or port binding is refused naming it', async () => {
    expect((await post('NetworkDriver.CreateEndpoint', createEndpointBody({ Address: '172.18.0.2' }))).json.Err).toMatch(/^Interface\.Address "172\.18\.0\.2" is not an IPv4 address with its prefix length/);
    const bad = createEndpointBody(undefined, { 'com.docker.network.portmap': [{ Proto: 1, Port: 80 }] });
    expect((await post('NetworkDriver.CreateEndpoint', bad)).json.Err).toMatch(/portmap\[0\]\.Proto: protocol number 1 is not tcp/);
    expect(b.endpoints.size).toBe(0);
  });

  it('Join answers the interface to move, its prefix and the gateway; Leave, EndpointOperInfo, DeleteEndpoint', async () => {
    await post('NetworkDriver.CreateEndpoint', createEndpointBody());
    const j = await post('NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/0123456789ab', Options: { 'com.docker.network.portmap': [] } });
    expect(j.json).toEqual({ InterfaceName: { SrcName: 'yvbbbbbbbbbbbb', DstPrefix: 'eth' }, Gateway: '172.18.0.1' });
    expect(b.endpoints.get(EP)!.sandboxKey).toBe('/var/run/docker/netns/0123456789ab');
    expect((await post('NetworkDriver.EndpointOperInfo', { NetworkID: NET, EndpointID: EP })).json).toEqual({ Value: { hostInterface: 'yvbbbbbbbbbbbb' } });
    expect((await post('NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP })).json).toEqual({});
    expect((await post('NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP })).json).toEqual({});
    expect(b.endpoints.size).toBe(0);
    expect((await post('NetworkDriver.DeleteNetwork', { NetworkID: NET })).json).toEqual({});
    expect(b.networks.size).toBe(0);
  });

  it('Join needs an absolute SandboxKey', async () => {
    await post('NetworkDriver.CreateEndpoint', createEndpointBody());
    const r = await post('NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: 'netns/x' });
    expect(r.status).toBe(400);
    expect(r.json.Err).toMatch(/SandboxKey must be an absolute path/);
    expect(b.calls.map((c) => c.method)).not.toContain('join');
  });

  it('Join renders static routes: via a next hop (RouteType 0) or on-link (RouteType 1); bad backend answers are caught', async () => {
    b.join = () => ({ srcName: 'yv1', dstPrefix: 'eth', staticRoutes: [{ destination: '0.0.0.0/0' }, { destination: '10.9.0.0/16', nextHop: '172.18.0.254' }], disableGatewayService: true });
    const j = await post('NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/run/netns/x' });
    expect(j.json).toEqual({
      InterfaceName: { SrcName: 'yv1', DstPrefix: 'eth' },
      StaticRoutes: [{ Destination: '0.0.0.0/0', RouteType: 1 }, { Destination: '10.9.0.0/16', RouteType: 0, NextHop: '172.18.0.254' }],
      DisableGatewayService: true,
    });
    b.join = () => ({ srcName: 'a-name-far-too-long', dstPrefix: 'eth' });
    expect((await post('NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/run/netns/x' })).json.Err).toMatch(/invalid interface name "a-name-far-too-long"/);
  });

  it('ProgramExternalConnectivity passes the sandbox\'s -p bindings, merged into ranges; Revoke clears them', async () => {
    await post('NetworkDriver.CreateEndpoint', createEndpointBody());
    const portmap = [80, 81, 82].map((p) => ({ Proto: 6, IP: '', Port: p, HostIP: '127.0.0.1', HostPort: p + 8000, HostPortEnd: p + 8000 }));
    const r = await post('NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { 'com.docker.network.portmap': portmap, 'com.docker.network.endpoint.exposedports': [{ Proto: 17, Port: 53 }] } });
    expect(r.json).toEqual({});
    expect(b.endpoints.get(EP)!.external).toEqual({
      ports: [{ proto: 'tcp', containerPort: 80, containerPortEnd: 82, hostIp: '127.0.0.1', hostPort: 8080, hostPortEnd: 8082 }],
      exposed: [{ proto: 'udp', port: 53 }],
    });
    expect((await post('NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP })).json).toEqual({});
    expect(b.endpoints.get(EP)!.external).toBeUndefined();
  });

  it('a call on an unknown network answers Err from the backend (dockerd logs it for deletes)', async () => {
    const r = await post('NetworkDriver.DeleteNetwork', { NetworkID: 'c'.repeat(64) });
    expect(r).toMatchObject({ status: 200, json: { Err: `network ${'c'.repeat(64)} not found (create it first)` } });
    expect(b.networks.has(NET)).toBe(true);
  });

  it('an unexpected backend exception is an Err saying it is a bug, still HTTP 200', async () => {
    b.failNext.set('leave', new TypeError('boom'));
    const r = await post('NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP });
    expect(r).toMatchObject({ status: 200, json: { Err: 'internal error: boom (this is a bug in Switchyard; please report it with the daemon log)' } });
  });
});

describe('discovery and swarm calls', () => {
  it('DiscoverNew/DiscoverDelete pass node events; other discovery types are acknowledged', async () => {
    expect((await post('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: '10.231.0.3', BindAddress: '10.231.0.3', Self: false } })).json).toEqual({});
    expect((await post('NetworkDriver.DiscoverDelete', { DiscoveryType: 1, DiscoveryData: { Address: '10.231.0.3', Self: false } })).json).toEqual({});
    expect((await post('NetworkDriver.DiscoverNew', { DiscoveryType: 2, DiscoveryData: { Scope: 'global' } })).json).toEqual({});
    expect(b.nodes).toEqual([
      { event: 'new', node: { address: '10.231.0.3', bindAddress: '10.231.0.3', self: false } },
      { event: 'delete', node: { address: '10.231.0.3', bindAddress: '', self: false } },
    ]);
    expect((await post('NetworkDriver.DiscoverNew', { DiscoveryData: {} })).status).toBe(400);
  });

  it('AllocateNetwork (swarm managers only) is refused with a way out', async () => {
    const r = await post('NetworkDriver.AllocateNetwork', { NetworkID: NET, Options: {}, IPv4Data: [] });
    expect(r.status).toBe(200);
    expect(r.json.Err).toMatch(/switchyard-global networks are not supported in swarm mode \(AllocateNetwork\) \(run dockerd with a cluster store/);
  });

  it('the backend may throw a YardError without a hint: Err is just the message', async () => {
    b.failNext.set('revokeExternalConnectivity', new YardError('KERNEL_FAILED', 'nft failed'));
    expect((await post('NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP })).json).toEqual({ Err: 'nft failed' });
  });
});
