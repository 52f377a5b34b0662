/**
 * The engine over a RecordingKernel and an in-memory store (test/unit/fakes.ts). These
 * tests cover the engine's pure logic — validation, allocation, lookup, the order of
 * apply/commit/rollback and what gets stored — not the data plane: the fake kernel records
 * plans and keeps a toy view of namespaces and links; whether the plans work on Linux is
 * checked by the lab tests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { YardError, type ErrorCode } from '../errors.js';
import type { NetworkRecord } from '../model/types.js';
import type { Participant } from './participants.js';
import type { ClusterSeam } from './engine.js';
import { makeEngine, type TestEngine } from '../../test/unit/fakes.js';

let t: TestEngine;
afterEach(() => t?.cleanup());

async function rejected(p: Promise<unknown>): Promise<YardError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof YardError) return e;
    throw e;
  }
  throw new Error('expected a YardError');
}

async function expectCode(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<YardError> {
  const e = await rejected(p);
  expect(e.code).toBe(code);
  if (message) expect(e.message).toMatch(message);
  return e;
}

const names = () => t.engine.networks().map((n) => n.name).sort();
const ipOf = (sbName: string, netName: string) => {
  const sb = t.engine.findSandbox(sbName);
  return sb.endpoints[t.engine.findNetwork(netName).id]?.ipv4;
};

describe('networks', () => {
  it('prune keeps the cluster\'s gateway bridge (the way out of overlay sandboxes to come) and removes other idle networks', async () => {
    t = await makeEngine();
    const { net: gw } = await t.engine.createNetwork({ name: 'yard_gwbridge' });
    await t.engine.createNetwork({ name: 'idle' });
    const seam = { gatewayNetwork: () => t.engine.networks().find((n) => n.id === gw.id) } as unknown as ClusterSeam;
    t.engine.setCluster(seam);
    expect(await t.engine.pruneNetworks()).toEqual(['idle']);
    expect(names()).toContain('yard_gwbridge');
  });

  it('the predefined networks exist after first start', async () => {
    t = await makeEngine();
    expect(names()).toEqual(['bridge', 'host', 'none']);
    expect(t.engine.findNetwork('bridge').driverState.bridge).toBe('yard0');
    expect(t.kernel.link(undefined, 'yard0')?.addrs).toEqual(['172.17.0.1/16']);
  });

  it('create stores the network, applies the bridge plan and marks the bridge as ours', async () => {
    t = await makeEngine();
    const { net } = await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    const br = `br-${net.id.slice(0, 12)}`;
    expect(t.kernel.appliedLines()).toEqual([
      [`ip link add ${br} mtu 1500 address 02:59:${net.id.slice(0, 8).match(/../g)!.join(':')} type bridge`, `ip link set dev ${br} alias switchyard:u1:${net.id}`, `ip addr add 10.50.0.1/24 dev ${br}`, `ip link set dev ${br} up`],
    ]);
    expect(t.store.networks.get(net.id)?.name).toBe('app');
    expect(t.kernel.link(undefined, br)).toMatchObject({ up: true, alias: `switchyard:u1:${net.id}` });
  });

  it('create without --subnet takes a free default pool, skipping used ones and host routes', async () => {
    t = await makeEngine();
    t.kernel.hostRoutes = [{ dst: '172.18.0.0/16', dev: 'lan0' }];
    const { net } = await t.engine.createNetwork({ name: 'a' });
    expect(net.ipam.config[0]?.subnet).toBe('172.19.0.0/16');
    const { net: b } = await t.engine.createNetwork({ name: 'b' });
    expect(b.ipam.config[0]?.subnet).toBe('172.20.0.0/16');
  });

  it('refuses a duplicate name (409), a predefined name (403), an overlapping subnet', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    const dup = await expectCode(t.engine.createNetwork({ name: 'app' }), 'NETWORK_EXISTS', /network with name app already exists/);
    expect(dup.status).toBe(409);
    expect((await expectCode(t.engine.createNetwork({ name: 'bridge' }), 'NETWORK_PREDEFINED')).status).toBe(403);
    await expectCode(t.engine.createNetwork({ name: 'other', ipam: [{ subnet: '10.50.0.128/25' }] }), 'SUBNET_OVERLAP', /network app/);
    await expectCode(t.engine.createNetwork({ name: 'x', driver: 'nosuch' }), 'UNKNOWN_DRIVER');
    await expectCode(t.engine.createNetwork({ name: 'bad name' }), 'INVALID_NAME');
    // None of the refusals reached the kernel.
    expect(t.kernel.calls).toHaveLength(1);
  });

  it('finds networks by full ID, name, and unique ID prefix; an ambiguous prefix is an error', async () => {
    t = await makeEngine();
    const { net } = await t.engine.createNetwork({ name: 'app' });
    expect(t.engine.findNetwork(net.id).name).toBe('app');
    expect(t.engine.findNetwork('app').id).toBe(net.id);
    expect(t.engine.findNetwork(net.id.slice(0, 5)).name).toBe('app');
    // Two records whose IDs share a prefix, planted in the state.
    const twin = (id: string, name: string): NetworkRecord => ({ ...net, id, name, ipam: { ...net.ipam, config: [] } });
    t.engine.state.networks.set('abcd' + '1'.repeat(60), twin('abcd' + '1'.repeat(60), 'one'));
    t.engine.state.networks.set('abcd' + '2'.repeat(60), twin('abcd' + '2'.repeat(60), 'two'));
    const amb = await expectCode(Promise.resolve().then(() => t.engine.findNetwork('abcd')), 'NETWORK_AMBIGUOUS', /network ID prefix "abcd" matches 2 networks/);
    expect(amb.status).toBe(400);
    expect(t.engine.findNetwork('abcd1').name).toBe('one');
    const nf = await expectCode(Promise.resolve().then(() => t.engine.findNetwork('nosuch')), 'NETWORK_NOT_FOUND', /^network nosuch not found$/);
    expect(nf.status).toBe(404);
  });

  it('remove deletes the bridge and the record; the subnet can be used again', async () => {
    t = await makeEngine();
    const { net } = await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.removeNetwork('app');
    expect(t.kernel.lastBestEffort()).toEqual([`ip link del br-${net.id.slice(0, 12)}`]);
    expect(t.kernel.links()).not.toContain(`br-${net.id.slice(0, 12)}`);
    expect(t.store.networks.has(net.id)).toBe(false);
    expect(names()).toEqual(['bridge', 'host', 'none']);
    await t.engine.createNetwork({ name: 'again', ipam: [{ subnet: '10.50.0.0/24' }] });
  });

  it('predefined networks cannot be removed', async () => {
    t = await makeEngine();
    for (const n of ['bridge', 'host', 'none']) {
      const e = await expectCode(t.engine.removeNetwork(n), 'NETWORK_PREDEFINED', new RegExp(`${n} is a pre-defined network and cannot be removed`));
      expect(e.status).toBe(403);
    }
    expect(t.kernel.calls).toEqual([]);
  });

  it('a network with sandboxes is in use and names them', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app' });
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] });
    const e = await expectCode(t.engine.removeNetwork('app'), 'NETWORK_IN_USE', /network app id [0-9a-f]{64} has active endpoints \(web\)/);
    expect(e.status).toBe(403);
    expect(e.hint).toContain('yard network disconnect app');
    expect(names()).toContain('app');
  });

  it('prune removes unused user networks only', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'used' });
    await t.engine.createNetwork({ name: 'idle1' });
    await t.engine.createNetwork({ name: 'idle2', labels: { keep: '1' } });
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'used' }] });
    expect(await t.engine.pruneNetworks((n) => !('keep' in n.labels))).toEqual(['idle1']);
    expect((await t.engine.pruneNetworks()).sort()).toEqual(['idle2']);
    expect(names()).toEqual(['bridge', 'host', 'none', 'used']);
  });
});

describe('sandboxes', () => {
  it('get distinct addresses; rm releases them and the lowest free one is reused', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    for (const n of ['a', 'b', 'c']) await t.engine.createSandbox({ name: n, networks: [{ network: 'app' }] });
    expect(['a', 'b', 'c'].map((n) => ipOf(n, 'app'))).toEqual(['10.50.0.2/24', '10.50.0.3/24', '10.50.0.4/24']);
    await t.engine.removeSandbox('b');
    expect(t.store.sandboxes.size).toBe(2);
    await t.engine.createSandbox({ name: 'd', networks: [{ network: 'app' }] });
    expect(ipOf('d', 'app')).toBe('10.50.0.3/24');
    await t.engine.createSandbox({ name: 'e', networks: [{ network: 'app' }] });
    expect(ipOf('e', 'app')).toBe('10.50.0.5/24');
  });

  it('create applies namespace, veth, address and default route; rm undoes it', async () => {
    t = await makeEngine();
    const { net } = await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    t.kernel.calls.length = 0;
    const { sb } = await t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] });
    const ns = sb.netns!;
    const ep = sb.endpoints[net.id]!;
    expect(ns).toBe(`yard-u1-${sb.id.slice(0, 12)}`);
    expect(t.kernel.appliedLines()).toEqual([
      [
        `ip netns add ${ns}`,
        `ip netns exec ${ns} sysctl -w net.ipv6.conf.default.disable_ipv6=1`,
        `ip link add ${ep.hostIfname} mtu 1500 numtxqueues 1 numrxqueues 1 master br-${net.id.slice(0, 12)} type veth peer name eth0 mtu 1500 numtxqueues 1 numrxqueues 1 address 02:42:0a:32:00:02 netns ${ns}`,
        `ip link set dev ${ep.hostIfname} addrgenmode none type bridge_slave hairpin on`,
        `ip link set dev ${ep.hostIfname} up`,
        `ip -n ${ns} link set dev lo up`,
        `ip -n ${ns} addr add 10.50.0.2/24 dev eth0`,
        `ip -n ${ns} link set dev eth0 up`,
        `ip -n ${ns} route replace default via 10.50.0.1 dev eth0`,
      ],
    ]);
    expect(t.kernel.files.get(ns)?.hosts).toMatch(/^10\.50\.0\.2\t\S+ web$/m);
    await t.engine.removeSandbox('web');
    // Deleting the namespace takes the veth pair with it: no separate `ip link del`.
    expect(t.kernel.lastBestEffort()).toEqual([`ip netns del ${ns}`]);
    expect(t.kernel.namespaces()).toEqual([]);
    expect(t.kernel.links().filter((l) => l.startsWith('yv'))).toEqual([]);
    expect(t.kernel.files.has(ns)).toBe(false);
  });

  it('defaults to the bridge network; refuses a taken name, a network given twice, host with others', async () => {
    t = await makeEngine();
    const { sb } = await t.engine.createSandbox({ name: 'web' });
    expect(Object.keys(sb.endpoints)).toEqual([t.engine.findNetwork('bridge').id]);
    await expectCode(t.engine.createSandbox({ name: 'web' }), 'SANDBOX_EXISTS', /the sandbox name "web" is already in use/);
    await t.engine.createNetwork({ name: 'app' });
    await expectCode(t.engine.createSandbox({ networks: [{ network: 'app' }, { network: 'app' }] }), 'INVALID_ARGUMENT', /network app is given twice/);
    await expectCode(t.engine.createSandbox({ networks: [{ network: 'host' }, { network: 'app' }] }), 'NETWORK_MODE_EXCLUSIVE');
    await expectCode(t.engine.createSandbox({ networks: [{ network: 'bridge', ip: '172.17.0.9' }] }), 'INVALID_IP', /user defined networks only/);
    expect(t.engine.sandboxes().map((s) => s.name)).toEqual(['web']);
  });

  it('a static --ip held by another sandbox is refused', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createSandbox({ name: 'a', networks: [{ network: 'app', ip: '10.50.0.9' }] });
    await expectCode(t.engine.createSandbox({ name: 'b', networks: [{ network: 'app', ip: '10.50.0.9' }] }), 'ADDRESS_IN_USE', /already used by sandbox a/);
  });

  it('connect picks eth1 and keeps the default route; disconnecting the gateway endpoint moves it', async () => {
    t = await makeEngine();
    const { net: a } = await t.engine.createNetwork({ name: 'a', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createNetwork({ name: 'b', ipam: [{ subnet: '10.60.0.0/24' }] });
    const { sb } = await t.engine.createSandbox({ name: 'web', networks: [{ network: 'a' }] });
    const ns = sb.netns!;
    t.kernel.calls.length = 0;
    await t.engine.connect('b', 'web');
    const [connectPlan] = t.kernel.appliedLines();
    expect(connectPlan![0]).toMatch(/ type veth peer name eth1 .* netns /);
    expect(connectPlan!.some((l) => l.includes('route'))).toBe(false);
    expect(t.kernel.routesOf(ns)).toEqual(['default via 10.50.0.1 dev eth0']);
    // Both addresses name the sandbox in its hosts file, the first network's first.
    expect(t.kernel.files.get(ns)?.hosts).toMatch(/^10\.50\.0\.2\t[^\n]*\n10\.60\.0\.2\t/m);
    await expectCode(t.engine.connect('b', 'web'), 'ALREADY_CONNECTED');

    const epA = t.engine.findSandbox('web').endpoints[a.id]!;
    await t.engine.disconnect('a', 'web');
    expect(t.kernel.lastBestEffort()).toEqual([`ip link del ${epA.hostIfname}`, `ip -n ${ns} route replace default via 10.60.0.1 dev eth1`]);
    expect(t.kernel.routesOf(ns)).toEqual(['default via 10.60.0.1 dev eth1']);
    expect(t.kernel.files.get(ns)?.hosts).toMatch(/^10\.60\.0\.2\t/m);
    expect(t.kernel.files.get(ns)?.hosts).not.toMatch(/10\.50\.0\./);
    expect(Object.keys(t.store.sandboxes.get(sb.id)!.endpoints)).toEqual([t.engine.findNetwork('b').id]);
    await expectCode(t.engine.disconnect('a', 'web'), 'NOT_CONNECTED');
    // eth0 is free again: the next connect takes it.
    await t.engine.connect('a', 'web');
    expect(t.engine.findSandbox('web').endpoints[a.id]!.ifname).toBe('eth0');
  });

  it('connect to a routed network gives the default route when the sandbox had none (internal first)', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'inner', internal: true, ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createNetwork({ name: 'out', ipam: [{ subnet: '10.60.0.0/24' }] });
    const { sb } = await t.engine.createSandbox({ name: 'web', networks: [{ network: 'inner' }] });
    expect(t.kernel.routesOf(sb.netns!)).toEqual([]);
    await t.engine.connect('out', 'web');
    expect(t.kernel.routesOf(sb.netns!)).toEqual(['default via 10.60.0.1 dev eth1']);
  });
});

describe('sandbox creates side by side', () => {
  /** An engine with network app and a participant noting the sandboxes each create's after-view holds. */
  async function watchedApp(): Promise<string[][]> {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    const seen: string[][] = [];
    t.engine.addParticipant({
      name: 'rec',
      apply: (change, ctx) => {
        if (change.kind === 'sandbox.create') seen.push([...ctx.after.sandboxes.values()].map((s) => s.name).sort());
      },
    });
    return seen;
  }
  const many = (n: number, extra: Record<string, unknown> = {}) =>
    Promise.allSettled(Array.from({ length: n }, (_, i) => t.engine.createSandbox({ name: `s${i}`, networks: [{ network: 'app' }], ...extra })));

  it('overlap in the kernel and still get distinct names and addresses; creates that publish ports run one at a time', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    t.kernel.applyDelayMs = 5;
    const done = await many(8);
    expect(done.every((d) => d.status === 'fulfilled')).toBe(true);
    expect(t.kernel.mostInFlight).toBeGreaterThan(1);
    const addrs = Array.from({ length: 8 }, (_, i) => ipOf(`s${i}`, 'app'));
    expect(new Set(addrs).size).toBe(8);
    expect(t.store.sandboxes.size).toBe(8);
    // Control: with published ports (checked against every other sandbox) they do not overlap.
    t.kernel.mostInFlight = 0;
    const ported = await Promise.allSettled([0, 1, 2].map((i) => t.engine.createSandbox({ name: `p${i}`, networks: [{ network: 'app' }], publish: [`${8080 + i}:80`] })));
    expect(ported.every((d) => d.status === 'fulfilled')).toBe(true);
    expect(t.kernel.mostInFlight).toBe(1);
  });

  it('one name asked for by four at once: one gets it, three are refused', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    t.kernel.applyDelayMs = 5;
    const done = await Promise.allSettled([0, 1, 2, 3].map(() => t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] })));
    expect(done.filter((d) => d.status === 'fulfilled')).toHaveLength(1);
    for (const d of done.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) expect((d.reason as YardError).code).toBe('SANDBOX_EXISTS');
    expect(t.engine.sandboxes().map((s) => s.name)).toEqual(['web']);
  });

  it('a create that fails beside others gives its address back and leaves the others standing', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    t.kernel.applyDelayMs = 5;
    t.kernel.failOn = (op) => (op.op === 'addr.add' && op.cidr === '10.50.0.3/24' ? 'RTNETLINK answers: File exists' : undefined);
    const done = await many(4);
    expect(done.map((d) => d.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(t.engine.sandboxes().map((s) => s.name).sort()).toEqual(['s0', 's2', 's3']);
    expect([...t.store.sandboxes.values()].map((s) => s.name).sort()).toEqual(['s0', 's2', 's3']);
    t.kernel.failOn = () => undefined;
    await t.engine.createSandbox({ name: 'later', networks: [{ network: 'app' }] });
    expect(ipOf('later', 'app')).toBe('10.50.0.3/24');
  });

  it('participants of a later create see an earlier one whose record is still being written; a removal waits for both', async () => {
    const seen = await watchedApp();
    t.store.asyncPutDelayMs = 20;
    const a = t.engine.createSandbox({ name: 'a', networks: [{ network: 'app' }] });
    const b = t.engine.createSandbox({ name: 'b', networks: [{ network: 'app' }] });
    // Queued behind both creates: by its turn both are records, so the network is in use.
    const rm = t.engine.removeNetwork('app').then(() => 'removed', (e: YardError) => e.code);
    await Promise.all([a, b]);
    // Whichever reaches its participants second (their order is not promised) sees both.
    expect(seen).toHaveLength(2);
    expect([['a'], ['b']]).toContainEqual(seen[0]);
    expect(seen[1]).toEqual(['a', 'b']);
    expect(await rm).toBe('NETWORK_IN_USE');
    // Control: the same removal once the sandboxes are gone.
    await t.engine.removeSandbox('a');
    await t.engine.removeSandbox('b');
    await t.engine.removeNetwork('app');
    expect(names()).toEqual(['bridge', 'host', 'none']);
  });

  it('a record write that fails beside another create undoes its sandbox alone', async () => {
    const seen = await watchedApp();
    t.store.asyncPutDelayMs = 10;
    t.store.failNextPut = new Error('ENOSPC: no space left on device');
    const done = await many(2);
    // The first record written fails (which one comes first is not promised).
    expect(done.map((d) => d.status).sort()).toEqual(['fulfilled', 'rejected']);
    const survivor = done[0]!.status === 'fulfilled' ? 's0' : 's1';
    expect(t.engine.sandboxes().map((s) => s.name)).toEqual([survivor]);
    expect(t.kernel.namespaces()).toEqual([t.engine.findSandbox(survivor).netns]);
    // The next create's participants no longer see the one that failed.
    await t.engine.createSandbox({ name: 'c', networks: [{ network: 'app' }] });
    expect(seen.at(-1)).toEqual(['c', survivor]);
  });
});

describe('failures roll back', () => {
  it('a failing kernel apply stores nothing and leaves state and kernel unchanged', async () => {
    t = await makeEngine();
    const before = { nets: names(), links: t.kernel.links() };
    t.kernel.failOn = (op) => (op.op === 'addr.add' ? 'RTNETLINK answers: Permission denied' : undefined);
    const e = await expectCode(t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] }), 'KERNEL_FAILED');
    expect(e.message).toMatch(/creating network app failed in the kernel: `ip addr add 10\.50\.0\.1\/24 dev br-[0-9a-f]{12}` said "RTNETLINK answers: Permission denied"/);
    expect(e.status).toBe(500);
    expect(names()).toEqual(before.nets);
    expect([...t.store.networks.values()].map((n) => n.name).sort()).toEqual(before.nets);
    expect(t.kernel.links()).toEqual(before.links);
  });

  it('a sandbox whose route fails is not stored and its address stays free', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    t.kernel.failOn = (op) => (op.op === 'route.add' ? 'RTNETLINK answers: Network is unreachable' : undefined);
    await expectCode(t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] }), 'KERNEL_FAILED', /creating sandbox web failed in the kernel: `ip -n yard-u1-\S+ route replace default/);
    expect(t.store.sandboxes.size).toBe(0);
    expect(t.engine.sandboxes()).toEqual([]);
    expect(t.kernel.namespaces()).toEqual([]);
    t.kernel.failOn = () => undefined;
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] });
    expect(ipOf('web', 'app')).toBe('10.50.0.2/24');
  });

  it('a failing store write after apply applies the undo plan (network)', async () => {
    t = await makeEngine();
    t.store.failNextPut = new Error('ENOSPC: no space left on device');
    await expect(t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] })).rejects.toThrow(/ENOSPC/);
    const br = t.kernel.calls[0]!.plan[0]!;
    expect(t.kernel.lastBestEffort()).toEqual([`ip addr del 10.50.0.1/24 dev ${(br as { name: string }).name}`, `ip link del ${(br as { name: string }).name}`]);
    expect(t.kernel.links()).toEqual(['yard0']);
    expect(names()).toEqual(['bridge', 'host', 'none']);
  });

  it('a failing store write after apply applies the undo plan (sandbox, connect)', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'a', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createNetwork({ name: 'b', ipam: [{ subnet: '10.60.0.0/24' }] });
    t.store.failNextPut = new Error('EIO');
    await expect(t.engine.createSandbox({ name: 'web', networks: [{ network: 'a' }] })).rejects.toThrow('EIO');
    expect(t.kernel.lastBestEffort()).toEqual([expect.stringMatching(/^ip link del yv[0-9a-f]{12}$/), expect.stringMatching(/^ip netns del yard-u1-/)]);
    expect(t.kernel.namespaces()).toEqual([]);
    expect(t.engine.sandboxes()).toEqual([]);

    const { sb } = await t.engine.createSandbox({ name: 'web', networks: [{ network: 'a' }] });
    t.store.failNextPut = new Error('EIO');
    await expect(t.engine.connect('b', 'web')).rejects.toThrow('EIO');
    expect(t.kernel.links(sb.netns!).sort()).toEqual(['eth0', 'lo']);
    expect(Object.keys(t.engine.findSandbox('web').endpoints)).toHaveLength(1);
    expect(Object.keys(t.store.sandboxes.get(sb.id)!.endpoints)).toHaveLength(1);
  });
});

describe('a record written beside the kernel change', () => {
  it('is put back when the kernel refuses the change (connect, network create), and memory never had it', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'a', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createNetwork({ name: 'b', ipam: [{ subnet: '10.60.0.0/24' }] });
    const { sb } = await t.engine.createSandbox({ name: 'web', networks: [{ network: 'a' }] });
    t.kernel.failOn = (op) => (op.op === 'addr.add' && 'cidr' in op && op.cidr.startsWith('10.60.') ? 'RTNETLINK answers: File exists' : undefined);
    await expect(t.engine.connect('b', 'web')).rejects.toThrow(/File exists/);
    expect(Object.keys(t.store.sandboxes.get(sb.id)!.endpoints)).toHaveLength(1);
    expect(Object.keys(t.engine.findSandbox('web').endpoints)).toHaveLength(1);
    expect(t.kernel.links(sb.netns!).sort()).toEqual(['eth0', 'lo']);
    // The hosts file, written beside the kernel change, is put back too.
    expect(t.kernel.files.get(sb.netns!)?.hosts).toMatch(/^10\.50\.0\.2\t/m);
    expect(t.kernel.files.get(sb.netns!)?.hosts).not.toMatch(/10\.60\.0\./);
    t.kernel.failOn = (op) => (op.op === 'link.add.bridge' ? 'RTNETLINK answers: File exists' : undefined);
    await expect(t.engine.createNetwork({ name: 'c', ipam: [{ subnet: '10.70.0.0/24' }] })).rejects.toThrow(/File exists/);
    expect([...t.store.networks.values()].map((n) => n.name).sort()).toEqual(['a', 'b', 'bridge', 'host', 'none']);
    expect(names()).not.toContain('c');
    // Positive control: the same changes go through once the kernel takes them, on disk and in memory.
    t.kernel.failOn = () => undefined;
    await t.engine.connect('b', 'web');
    await t.engine.createNetwork({ name: 'c', ipam: [{ subnet: '10.70.0.0/24' }] });
    expect(t.kernel.files.get(sb.netns!)?.hosts).toMatch(/^10\.60\.0\.2\t/m);
    expect(Object.keys(t.store.sandboxes.get(sb.id)!.endpoints)).toHaveLength(2);
    expect(Object.keys(t.engine.findSandbox('web').endpoints)).toHaveLength(2);
    expect([...t.store.networks.values()].map((n) => n.name)).toContain('c');
    expect(names()).toContain('c');
  });
});

describe('memory never runs ahead of the disk', () => {
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });

  it('rm -f and network rm whose tombstone cannot be written change nothing and can be retried', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    const { sb } = await t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] });
    const calls = t.kernel.calls.length;
    t.store.failNextPut = enospc();
    await expect(t.engine.removeSandbox('web', true)).rejects.toThrow(/ENOSPC/);
    // Still there, in memory, on disk and in the kernel: nothing was torn down.
    expect(t.engine.findSandbox('web').deleting).toBeUndefined();
    expect(t.store.sandboxes.get(sb.id)?.deleting).toBeUndefined();
    expect(t.kernel.calls.length).toBe(calls);
    expect(t.kernel.namespaces()).toEqual([sb.netns]);
    // Positive control: the retry removes it.
    await t.engine.removeSandbox('web', true);
    expect(t.engine.sandboxes()).toEqual([]);
    expect(t.kernel.namespaces()).toEqual([]);

    t.store.failNextPut = enospc();
    await expect(t.engine.removeNetwork('app')).rejects.toThrow(/ENOSPC/);
    expect(names()).toContain('app');
    expect(t.kernel.links()).toContain(t.engine.findNetwork('app').driverState.bridge);
    await t.engine.removeNetwork('app');
    expect(names()).toEqual(['bridge', 'host', 'none']);
  });

  it('a disconnect whose record cannot be written leaves the sandbox connected', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'a', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createNetwork({ name: 'b', ipam: [{ subnet: '10.60.0.0/24' }] });
    const { sb } = await t.engine.createSandbox({ name: 'web', networks: [{ network: 'a' }, { network: 'b' }] });
    t.store.failNextPut = enospc();
    await expect(t.engine.disconnect('b', 'web')).rejects.toThrow(/ENOSPC/);
    expect(Object.keys(t.engine.findSandbox('web').endpoints)).toHaveLength(2);
    expect(t.kernel.links(sb.netns!).sort()).toEqual(['eth0', 'eth1', 'lo']);
    await t.engine.disconnect('b', 'web');
    expect(t.kernel.links(sb.netns!).sort()).toEqual(['eth0', 'lo']);
  });
});

describe('a foreground process reported by the CLI', () => {
  it('is accepted only when it carries the sandbox ID and runs in its namespace (waiting out an exec in progress); its start time is kept', async () => {
    t = await makeEngine();
    const { sb } = await t.engine.createSandbox({ name: 'fg', start: false });
    const inNs = `net:[${sb.netns}]`;
    t.kernel.processes.set(100, { start: '111', netns: inNs, environ: new Map([['YARD_SANDBOX', sb.id]]) });
    t.kernel.processes.set(200, { start: '222', netns: 'net:[1]', environ: new Map([['YARD_SANDBOX', sb.id]]) });
    t.kernel.processes.set(300, { start: '333', netns: inNs, environ: new Map() });
    await expectCode(t.engine.markStarted('fg', 999), 'PROCESS_NOT_IN_SANDBOX', /not a running process/);
    await expectCode(t.engine.markStarted('fg', 300), 'PROCESS_NOT_IN_SANDBOX', /was not started for sandbox fg/);
    await expectCode(t.engine.markStarted('fg', 200), 'PROCESS_NOT_IN_SANDBOX', /namespace/);
    expect(t.engine.findSandbox('fg').pid).toBeUndefined();
    // Another process's environment (not empty) without the ID is refused at once.
    t.kernel.processes.set(400, { start: '444', netns: inNs, environ: new Map([['HOME', '/root']]) });
    const t0 = Date.now();
    await expectCode(t.engine.markStarted('fg', 400), 'PROCESS_NOT_IN_SANDBOX', /was not started for sandbox fg/);
    expect(Date.now() - t0).toBeLessThan(1_000);
    // Right after its exec began, a process's environment reads empty: it is waited for.
    t.kernel.processes.set(500, { start: '555', netns: inNs, environ: new Map() });
    setTimeout(() => t.kernel.processes.set(500, { start: '555', netns: inNs, environ: new Map([['YARD_SANDBOX', sb.id]]) }), 100);
    expect(await t.engine.markStarted('fg', 500)).toMatchObject({ pid: 500, pidStart: '555', status: 'running' });
    const ok = await t.engine.markStarted('fg', 100);
    expect(ok).toMatchObject({ pid: 100, pidStart: '111', status: 'running' });
    expect(t.store.sandboxes.get(sb.id)).toMatchObject({ pid: 100, pidStart: '111' });
  }, 15_000);
});

describe('participants', () => {
  const recorder = (name: string, opts: { refuse?: boolean; fail?: boolean } = {}): Participant => ({
    name,
    validate(change) {
      t.kernel.events.push(`${name}.validate ${change.kind}`);
      if (opts.refuse) throw new YardError('SUBNET_OVERLAP', `${name} refuses`, { hint: 'test' });
    },
    apply(change) {
      t.kernel.events.push(`${name}.apply ${change.kind}`);
      if (opts.fail) throw new Error(`${name} broke`);
      return () => {
        t.kernel.events.push(`${name}.undo`);
      };
    },
  });

  it('validate refusing aborts before any kernel call', async () => {
    t = await makeEngine();
    t.engine.addParticipant(recorder('fw'));
    t.engine.addParticipant(recorder('dns', { refuse: true }));
    await expectCode(t.engine.createNetwork({ name: 'app' }), 'SUBNET_OVERLAP', /dns refuses/);
    expect(t.kernel.calls).toEqual([]);
    expect(t.kernel.events).toEqual(['fw.validate network.create', 'dns.validate network.create']);
    expect(names()).not.toContain('app');
  });

  it('an apply that throws undoes earlier participants in reverse, then the kernel plan', async () => {
    t = await makeEngine();
    for (const p of [recorder('fw'), recorder('dns'), recorder('metrics', { fail: true })]) t.engine.addParticipant(p);
    await expect(t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] })).rejects.toThrow('metrics broke');
    const ev = t.kernel.events.filter((e) => !e.includes('validate'));
    expect(ev.slice(0, 6)).toEqual([
      'kernel.apply 4 ops',
      'fw.apply network.create',
      'dns.apply network.create',
      'metrics.apply network.create',
      'dns.undo',
      'fw.undo',
    ]);
    expect(ev[6]).toMatch(/^kernel\.bestEffort ip addr del 10\.50\.0\.1\/24 dev br-\w+; ip link del br-\w+$/);
    expect(t.kernel.links()).toEqual(['yard0']);
    expect(t.store.networks.size).toBe(3);
  });

  it('removals reach every participant even when one fails', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'app' });
    const logs: string[] = [];
    (t.engine as { log: (m: string) => void }).log = (m) => logs.push(m);
    t.engine.addParticipant(recorder('fw', { fail: true }));
    t.engine.addParticipant(recorder('dns'));
    await t.engine.removeNetwork('app');
    expect(t.kernel.events.filter((e) => /^(fw|dns)\.apply/.test(e))).toEqual(['fw.apply network.remove', 'dns.apply network.remove']);
    expect(logs).toContain('fw: network.remove: fw broke');
    expect(names()).not.toContain('app');
  });
});

describe('dry run', () => {
  it('returns the plan and applies nothing', async () => {
    t = await makeEngine();
    const r = await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }], dryRun: true });
    expect(r.plan[0]).toMatch(/^ip link add br-[0-9a-f]{12} mtu 1500 address 02:59(:[0-9a-f]{2}){4} type bridge$/);
    expect(r.plan).toContain(`ip addr add 10.50.0.1/24 dev br-${r.net.id.slice(0, 12)}`);
    expect(names()).toEqual(['bridge', 'host', 'none']);

    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createNetwork({ name: 'b', ipam: [{ subnet: '10.60.0.0/24' }] });
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] });
    t.kernel.calls.length = 0;
    const s = await t.engine.createSandbox({ name: 'dry', networks: [{ network: 'app' }], dryRun: true });
    expect(s.plan).toContain(`ip -n ${s.sb.netns} addr add 10.50.0.3/24 dev eth0`);
    const c = await t.engine.connect('b', 'web', {}, true);
    expect(c.plan[0]).toMatch(/peer name eth1/);
    expect(t.kernel.calls).toEqual([]);
    expect(t.engine.sandboxes().map((x) => x.name)).toEqual(['web']);
    expect(Object.keys(t.engine.findSandbox('web').endpoints)).toHaveLength(1);
  });
});
