/**
 * The Docker plugin's backend over the engine (fake kernel, memory store): what each call
 * leaves in Switchyard's records and which kernel plan it hands over. Whether dockerd and
 * the kernel accept it is the lab's part (test/lab/docker-plugin.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { makeEngine, type TestEngine } from '../../test/unit/fakes.js';
import { EngineDockerBackend, dockerNetworkName, portBindings } from './engine-backend.js';
import { releaseGoneRuntimeSandboxes } from '../engine/reconcile.js';

let t: TestEngine;
afterEach(() => t?.cleanup());

const NET = 'a'.repeat(64);
const EP1 = 'b'.repeat(64);
const EP2 = 'c'.repeat(64);

async function setup() {
  t = await makeEngine();
  const b = new EngineDockerBackend(t.engine);
  await b.createNetwork({ id: NET, scope: 'local', driver: 'bridge', options: {}, ipv4: [{ addressSpace: 'LocalDefault', subnet: '10.30.0.0/24', gateway: '10.30.0.1', auxAddresses: {} }], ipv6: [], enableIPv6: false, internal: false });
  return b;
}

const endpoint = (id: string, ip: string, ports = [] as never[]) => ({ networkId: NET, endpointId: id, iface: { ipv4: ip }, driverOpts: {}, ports, exposed: [], dnsServers: [] });

/** EP1 (10.30.0.2) and EP2 (10.30.0.3) made and joined, each in a runtime namespace of its own. */
async function twoJoined() {
  const b = await setup();
  await b.createEndpoint(endpoint(EP1, '10.30.0.2/24'));
  await b.createEndpoint(endpoint(EP2, '10.30.0.3/24'));
  await b.join(NET, EP1, '/run/docker/netns/1');
  await b.join(NET, EP2, '/run/docker/netns/2');
  return b;
}

describe('Docker plugin backend', () => {
  it('a Docker network is a Switchyard network with the same ID, subnet and gateway', async () => {
    await setup();
    const net = t.engine.findNetwork(NET);
    expect(net.name).toBe(dockerNetworkName(NET));
    expect(net.ipam.config).toEqual([{ subnet: '10.30.0.0/24', gateway: '10.30.0.1', auxAddresses: {} }]);
    expect(net.labels['switchyard.runtime']).toBe('docker');
  });

  it('an ipvlan endpoint answers no MAC (the child has its parent\'s; the kernel refuses to set one), a bridge endpoint does', async () => {
    const b = await setup();
    t.engine.linkKinds = new Set([...t.engine.linkKinds, 'ipvlan']);
    await t.kernel.apply([{ op: 'link.add.veth', name: 'lanpeer', peerName: 'lan0', peerMac: '02:00:00:00:00:01' }]); // the LAN parent
    const IPV = 'd'.repeat(64);
    await b.createNetwork({ id: IPV, scope: 'local', driver: 'ipvlan', options: { parent: 'lan0' }, ipv4: [{ addressSpace: 'LocalDefault', subnet: '10.31.0.0/24', gateway: '10.31.0.1', auxAddresses: {} }], ipv6: [], enableIPv6: false, internal: false });
    expect(await b.createEndpoint({ ...endpoint(EP2, '10.31.0.5/24'), networkId: IPV })).toEqual({ ipv4: '10.31.0.5/24' });
    expect((await b.createEndpoint(endpoint(EP1, '10.30.0.2/24'))).mac).toBe('02:42:0a:1e:00:02');
  });

  it('an endpoint is a runtime-owned sandbox whose interface stays in the daemon namespace, unconfigured, for dockerd', async () => {
    const b = await setup();
    const got = await b.createEndpoint(endpoint(EP1, '10.30.0.2/24'));
    expect(got).toEqual({ ipv4: '10.30.0.2/24', mac: '02:42:0a:1e:00:02' });
    const sb = t.engine.findSandbox(EP1);
    expect(sb.netns).toBeNull();
    expect(sb.runtime).toEqual({ kind: 'docker', mode: 'handover' });
    const plan = t.kernel.appliedLines().at(-1)!.join('\n');
    expect(plan).toMatch(/ip link add yvbbbbbbbbbbbb .*master br-aaaaaaaaaaaa type veth peer name ycbbbbbbbbbbbb/);
    expect(plan).toMatch(/ip link set dev yvbbbbbbbbbbbb up/);
    // dockerd sets the address and brings the interface up once it moved it.
    expect(plan).not.toMatch(/addr add .* dev ycbbbbbbbbbbbb|netns|ycbbbbbbbbbbbb up/);
  });

  it('join records the namespace and answers the interface and the gateway; leave forgets the namespace', async () => {
    const b = await setup();
    await b.createEndpoint(endpoint(EP1, '10.30.0.2/24'));
    const j = await b.join(NET, EP1, '/var/run/docker/netns/0123456789ab');
    expect(j).toEqual({ srcName: 'ycbbbbbbbbbbbb', dstPrefix: 'eth', gateway: '10.30.0.1' });
    expect(t.engine.findSandbox(EP1).runtime?.path).toBe('/var/run/docker/netns/0123456789ab');
    await b.leave(NET, EP1);
    expect(t.engine.findSandbox(EP1).runtime?.path).toBeUndefined();
  });

  it('an internal network gives no gateway and tells dockerd not to add one', async () => {
    t = await makeEngine();
    const b = new EngineDockerBackend(t.engine);
    await b.createNetwork({ id: NET, scope: 'local', driver: 'bridge', options: {}, ipv4: [{ addressSpace: 'LocalDefault', subnet: '10.31.0.0/24', gateway: '10.31.0.1', auxAddresses: {} }], ipv6: [], enableIPv6: false, internal: true });
    await b.createEndpoint({ ...endpoint(EP1, '10.31.0.2/24') });
    expect(await b.join(NET, EP1, '/x')).toEqual({ srcName: 'ycbbbbbbbbbbbb', dstPrefix: 'eth', disableGatewayService: true });
  });

  it('a bridge network gives dockerd its gateway, so dockerd adds no gateway bridge of its own', async () => {
    t = await makeEngine();
    const b = new EngineDockerBackend(t.engine);
    await b.createNetwork({ id: NET, scope: 'local', driver: 'bridge', options: {}, ipv4: [{ addressSpace: 'LocalDefault', subnet: '10.31.0.0/24', gateway: '10.31.0.1', auxAddresses: {} }], ipv6: [], enableIPv6: false, internal: false });
    await b.createEndpoint(endpoint(EP1, '10.31.0.2/24'));
    const j = await b.join(NET, EP1, '/x');
    expect(j.gateway).toBe('10.31.0.1');
    expect(j.disableGatewayService).toBeUndefined();
  });

  it('a joined endpoint whose runtime namespace went (its veth with it) is released; an intact one stays', async () => {
    const b = await twoJoined();
    expect((await releaseGoneRuntimeSandboxes(t.engine)).finishedRemovals).toEqual([]);
    await t.kernel.applyBestEffort([{ op: 'link.del', name: 'yvbbbbbbbbbbbb' }]);
    const r = await releaseGoneRuntimeSandboxes(t.engine);
    expect(r.finishedRemovals).toEqual([expect.stringMatching(/docker namespace \/run\/docker\/netns\/1 is gone/)]);
    const left = t.engine.sandboxes().map((x) => x.id);
    expect(left).not.toContain(EP1);
    expect(left).toContain(EP2);
    // The address is free again.
    await expect(b.createEndpoint(endpoint('d'.repeat(64), '10.30.0.2/24'))).resolves.toMatchObject({ ipv4: '10.30.0.2/24' });
  });

  it('an address held by an endpoint whose namespace went (a runtime that crashed) is released when a new endpoint asks for it; one still held is refused', async () => {
    const b = await twoJoined();
    // Control: EP2's namespace is there, so its address stays its own.
    await expect(b.createEndpoint(endpoint('e'.repeat(64), '10.30.0.3/24'))).rejects.toMatchObject({ code: 'ADDRESS_IN_USE' });
    // EP1's namespace went with the runtime, before the periodic check saw it.
    await t.kernel.applyBestEffort([{ op: 'link.del', name: 'yvbbbbbbbbbbbb' }]);
    await expect(b.createEndpoint(endpoint('d'.repeat(64), '10.30.0.2/24'))).resolves.toMatchObject({ ipv4: '10.30.0.2/24' });
    expect(t.engine.sandboxes().map((x) => x.id)).not.toContain(EP1);
    expect(t.engine.sandboxes().map((x) => x.id)).toContain(EP2);
  });

  it('only the runtime removes its sandbox: yard rm is refused, DeleteEndpoint removes it, and twice is fine', async () => {
    const b = await setup();
    await b.createEndpoint(endpoint(EP1, '10.30.0.2/24'));
    const e = await t.engine.removeSandbox(EP1, true).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(YardError);
    expect((e as YardError).code).toBe('RUNTIME_OWNED');
    expect(t.engine.sandboxes().map((s) => s.id)).toContain(EP1);
    await b.deleteEndpoint(NET, EP1);
    await b.deleteEndpoint(NET, EP1);
    expect(t.engine.sandboxes().map((s) => s.id)).not.toContain(EP1);
    expect(t.kernel.lastBestEffort()).toContain('ip link del yvbbbbbbbbbbbb');
    await b.deleteNetwork(NET);
    await b.deleteNetwork(NET);
    expect(t.engine.networks().map((n) => n.id)).not.toContain(NET);
  });

  it('a second endpoint with the same address is refused, naming it; another address works', async () => {
    const b = await setup();
    await b.createEndpoint(endpoint(EP1, '10.30.0.2/24'));
    await expect(b.createEndpoint(endpoint(EP2, '10.30.0.2/24'))).rejects.toThrow(/10\.30\.0\.2/);
    await expect(b.createEndpoint(endpoint(EP2, '10.30.0.3/24'))).resolves.toMatchObject({ ipv4: '10.30.0.3/24' });
  });

  it('published ports are the sandbox\'s and come back in Docker\'s binding form', async () => {
    const b = await setup();
    const ports = [{ proto: 'tcp', containerPort: 80, containerPortEnd: 80, hostIp: '', hostPort: 8080, hostPortEnd: 8080 }] as never[];
    await b.createEndpoint(endpoint(EP1, '10.30.0.2/24', ports));
    // Only ProgramExternalConnectivity publishes (dockerd sends the bindings to every CreateEndpoint).
    expect(b.endpointInfo(NET, EP1)).toEqual({});
    await b.programExternalConnectivity(NET, EP1, { ports, exposed: [] });
    expect(t.engine.findSandbox(EP1).ports).toHaveLength(1);
    expect(b.endpointInfo(NET, EP1)).toEqual({ 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '0.0.0.0', HostPort: 8080, HostPortEnd: 8080 }] });
    await b.revokeExternalConnectivity(NET, EP1);
    expect(t.engine.findSandbox(EP1).ports).toBeUndefined();
    expect(portBindings([{ proto: 'udp', containerPort: 53, containerPortEnd: 54, hostIp: '127.0.0.1', hostPort: 5353, hostPortEnd: 5354 }])).toHaveLength(2);
  });

  it('IPAM: pools never overlap Switchyard networks, addresses never repeat, the gateway is first', async () => {
    const b = await setup();
    const taken = t.engine.networks().flatMap((n) => n.ipam.config.map((c) => c.subnet));
    const p = b.requestPool({ scope: 'local', options: {}, v6: false });
    expect(taken).not.toContain(p.pool);
    const p2 = b.requestPool({ scope: 'local', options: {}, v6: false });
    expect(p2.pool).not.toBe(p.pool);
    expect(() => b.requestPool({ scope: 'local', pool: '10.30.0.0/16', options: {}, v6: false })).toThrow(/overlaps network docker-aaaaaaaaaaaa/);
    const own = b.requestPool({ scope: 'local', pool: '10.40.0.0/24', options: {}, v6: false });
    expect(b.requestAddress({ poolId: own.poolId, gateway: true, options: {} })).toEqual({ address: '10.40.0.1/24' });
    expect(b.requestAddress({ poolId: own.poolId, gateway: false, options: {} })).toEqual({ address: '10.40.0.2/24' });
    expect(() => b.requestAddress({ poolId: own.poolId, address: '10.40.0.2', gateway: false, options: {} })).toThrow(/10\.40\.0\.2/);
    b.releaseAddress(own.poolId, '10.40.0.2');
    expect(b.requestAddress({ poolId: own.poolId, address: '10.40.0.2', gateway: false, options: {} })).toEqual({ address: '10.40.0.2/24' });
  });
});
