import { describe, expect, it } from 'vitest';
import { type ErrorCode } from '../errors.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { renderPlan } from '../plan/ops.js';
import { bridgeDriver, bridgeName, hostVethName, OPT } from './bridge.js';
import { checkOptionKeys, type DriverEnv, type NetworkIntent } from './contract.js';
import { getDriver } from './index.js';
import { thrown } from '../../test/unit/thrown.js';

const ID = 'abcdef0123456789'.repeat(4);
const EP_ID = '0123456789ab'.repeat(5) + 'cdef';

function intent(options: Record<string, string> = {}, extra: Partial<NetworkIntent> = {}): NetworkIntent {
  return { name: 'app', driver: 'bridge', options, internal: false, attachable: false, ipv6: false, labels: {}, ipam: [], ...extra };
}

/** `hostLinks` as name -> ifalias, the only fact of a host link the bridge driver looks at. */
function env(networks: NetworkRecord[] = [], hostLinks: [string, string | undefined][] = []): DriverEnv {
  return {
    instance: 'h1',
    networks,
    hostLinks: new Map(hostLinks.map(([name, alias]) => [name, { alias, addrs: [] }])),
    linkKinds: new Set(['bridge', 'veth']),
  };
}

function net(extra: Partial<NetworkRecord> = {}): NetworkRecord {
  return {
    id: ID,
    name: 'app',
    driver: 'bridge',
    scope: 'local',
    created: '2024-01-01T00:00:00.000000000Z',
    internal: false,
    attachable: false,
    ipv6: false,
    ipam: { driver: 'default', options: {}, config: [{ subnet: '10.20.0.0/24', gateway: '10.20.0.1', auxAddresses: {} }] },
    options: {},
    labels: {},
    driverState: { bridge: 'br-abcdef012345', mtu: 1500 },
    ...extra,
  };
}

const dual = (extra: Partial<NetworkRecord> = {}) =>
  net({
    ipv6: true,
    ipam: {
      driver: 'default',
      options: {},
      config: [
        { subnet: '10.20.0.0/24', gateway: '10.20.0.1', auxAddresses: {} },
        { subnet: 'fd00:20::/64', gateway: 'fd00:20::1', auxAddresses: {} },
      ],
    },
    ...extra,
  });

const sb: SandboxRecord = {
  id: 'f'.repeat(64),
  name: 'web',
  created: '2024-01-01T00:00:00.000000000Z',
  netns: 'yard-h1-ffffffffffff',
  hostname: 'web',
  command: [],
  detached: false,
  status: 'created',
  dns: [],
  dnsSearch: [],
  dnsOptions: [],
  extraHosts: [],
  labels: {},
  endpoints: {},
};

function ep(extra: Partial<EndpointRecord> = {}): EndpointRecord {
  return { id: EP_ID, networkId: ID, ifname: 'eth0', mac: '02:42:0a:14:00:02', ipv4: '10.20.0.2/24', aliases: [], order: 0, ...extra };
}


function expectError(fn: () => unknown, code: ErrorCode, field: string | undefined, message: RegExp) {
  const e = thrown(fn);
  expect(e.code).toBe(code);
  expect(e.field).toBe(field);
  expect(e.message).toMatch(message);
  expect(e.hint).toBeTruthy();
  return e;
}

describe('bridge prepareNetwork', () => {
  it('defaults: mtu 1500, icc and masquerade on, bridge name left to the engine', () => {
    const p = bridgeDriver.prepareNetwork(intent(), env());
    expect(p.driverState).toEqual({ mtu: 1500, icc: true, masquerade: true, defaultBridge: false });
    expect(p).toMatchObject({ needsGateway: true, hasIpam: true, warnings: [] });
  });

  it('reads from the host only the bridge name it is given (none for a name of its own ID), and refuses a bad one first', () => {
    expect(bridgeDriver.hostLinksRead!(intent())).toEqual([]);
    expect(bridgeDriver.hostLinksRead!(intent({ [OPT.name]: '' }))).toEqual([]);
    expect(bridgeDriver.hostLinksRead!(intent({ [OPT.name]: 'br-mine' }))).toEqual(['br-mine']);
    expect(bridgeDriver.hostLinksRead!(intent({}, { isDefaultBridge: true }))).toEqual(['yard0']);
    expect(thrown(() => bridgeDriver.hostLinksRead!(intent({ [OPT.name]: 'br-abcdefghijklm' }))).message).toMatch(/br-abcdefghijklm is 16 characters long/);
    for (const d of ['overlay', 'host', 'null']) expect(getDriver(d).hostLinksRead!(intent())).toEqual([]);
    // macvlan and ipvlan look at every host link (their parent, its VLANs, its addresses).
    for (const d of ['macvlan', 'ipvlan']) expect(getDriver(d).hostLinksRead).toBeUndefined();
  });

  it('the default bridge is named yard0', () => {
    expect(bridgeDriver.prepareNetwork(intent({}, { isDefaultBridge: true }), env()).driverState).toMatchObject({ bridge: 'yard0', defaultBridge: true });
  });

  it('takes a bridge name, an mtu and booleans', () => {
    const p = bridgeDriver.prepareNetwork(intent({ [OPT.name]: 'br-app', [OPT.mtu]: '9000', [OPT.icc]: 'false', [OPT.masquerade]: 'F' }), env());
    expect(p.driverState).toEqual({ bridge: 'br-app', mtu: 9000, icc: false, masquerade: false, defaultBridge: false });
  });

  it('refuses a bridge name longer than 15 characters', () => {
    const e = expectError(
      () => bridgeDriver.prepareNetwork(intent({ [OPT.name]: 'br-sixteen-chars' }), env()),
      'NAME_TOO_LONG',
      `-o ${OPT.name}`,
      /br-sixteen-chars is 16 characters long; the kernel allows 15/,
    );
    expect(e.status).toBe(400);
  });

  it('refuses an invalid interface name', () => {
    expectError(() => bridgeDriver.prepareNetwork(intent({ [OPT.name]: 'br/x' }), env()), 'INVALID_ARGUMENT', `-o ${OPT.name}`, /br\/x is not a valid interface name/);
  });

  it('refuses a bridge name another network uses', () => {
    const other = net({ name: 'other', driverState: { bridge: 'br-app' } });
    expectError(
      () => bridgeDriver.prepareNetwork(intent({ [OPT.name]: 'br-app' }), env([other])),
      'BRIDGE_NAME_IN_USE',
      `-o ${OPT.name}`,
      /bridge name br-app is already used by network other/,
    );
  });

  it('refuses the name of a foreign link on the host, accepts a leftover of ours', () => {
    expectError(
      () => bridgeDriver.prepareNetwork(intent({ [OPT.name]: 'lan0' }), env([], [['lan0', undefined]])),
      'BRIDGE_NAME_IN_USE',
      `-o ${OPT.name}`,
      /a link named lan0 already exists on this host and is not Switchyard's/,
    );
    expectError(
      () => bridgeDriver.prepareNetwork(intent({ [OPT.name]: 'br0' }), env([], [['br0', 'someone-else']])),
      'BRIDGE_NAME_IN_USE',
      `-o ${OPT.name}`,
      /br0/,
    );
    expect(bridgeDriver.prepareNetwork(intent({ [OPT.name]: 'br0' }), env([], [['br0', 'switchyard:h1:old']])).driverState.bridge).toBe('br0');
  });

  it.each(['abc', '67', '65536', '1500.5', '-1', '', ' 1500', '1500\n'])('refuses mtu %j naming -o key', (v) => {
    // An empty value is refused, as Docker does (strconv.Atoi("") fails): only an absent key means the default.
    expectError(() => bridgeDriver.prepareNetwork(intent({ [OPT.mtu]: v }), env()), 'INVALID_ARGUMENT', `-o ${OPT.mtu}`, new RegExp(`-o ${OPT.mtu}=${v.replace('.', '\\.')} is not a valid MTU`));
  });

  it('accepts the MTU bounds 68 and 65535', () => {
    expect(bridgeDriver.prepareNetwork(intent({ [OPT.mtu]: '68' }), env()).driverState.mtu).toBe(68);
    expect(bridgeDriver.prepareNetwork(intent({ [OPT.mtu]: '65535' }), env()).driverState.mtu).toBe(65535);
  });

  it('refuses a non-boolean, naming -o key and value', () => {
    expectError(() => bridgeDriver.prepareNetwork(intent({ [OPT.icc]: 'maybe' }), env()), 'INVALID_ARGUMENT', `-o ${OPT.icc}`, new RegExp(`-o ${OPT.icc}=maybe is not a boolean`));
    expectError(() => bridgeDriver.prepareNetwork(intent({ [OPT.masquerade]: '2' }), env()), 'INVALID_ARGUMENT', `-o ${OPT.masquerade}`, /is not a boolean/);
  });

  // Docker's booleans are Go's strconv.ParseBool: exactly 1 t T TRUE true True / 0 f F FALSE false False.
  it.each(['', 'yes', 'no', 'on', 'off', 'tRUE', ' true', 'true\n', '2'])('refuses enable_icc=%j (not one of strconv.ParseBool\'s spellings)', (v) => {
    expectError(() => bridgeDriver.prepareNetwork(intent({ [OPT.icc]: v }), env()), 'INVALID_ARGUMENT', `-o ${OPT.icc}`, /is not a boolean/);
  });

  it.each([['1', true], ['t', true], ['T', true], ['TRUE', true], ['true', true], ['True', true], ['0', false], ['f', false], ['F', false], ['FALSE', false], ['false', false], ['False', false]] as const)(
    'takes enable_icc=%s as %s',
    (v, want) => {
      expect(bridgeDriver.prepareNetwork(intent({ [OPT.icc]: v }), env()).driverState.icc).toBe(want);
    },
  );

  it.each(['all', 'default', '.', '..', 'a/b', 'a b', 'a:b', 'br\n0'])('refuses the bridge name %j (reserved by the kernel or not an interface name)', (v) => {
    const e = expectError(() => bridgeDriver.prepareNetwork(intent({ [OPT.name]: v }), env()), 'INVALID_ARGUMENT', `-o ${OPT.name}`, /reserves|not a valid interface name/);
    expect(e.status).toBe(400);
  });

  it('takes br-all as a bridge name (only the exact names all and default are reserved)', () => {
    expect(bridgeDriver.prepareNetwork(intent({ [OPT.name]: 'br-all' }), env()).driverState.bridge).toBe('br-all');
  });

  it.each(['x', '', '300.1.1.1', '10.0.0.1 ', '10.0.0.1/24'])('refuses host_binding_ipv4=%j (not an IP address)', (v) => {
    expectError(() => bridgeDriver.prepareNetwork(intent({ [OPT.hostBinding]: v }), env()), 'INVALID_ARGUMENT', `-o ${OPT.hostBinding}`, /is not an IP address/);
  });

  it('takes host_binding_ipv4=127.0.0.1', () => {
    expect(() => bridgeDriver.prepareNetwork(intent({ [OPT.hostBinding]: '127.0.0.1' }), env())).not.toThrow();
  });
});

describe('checkOptionKeys', () => {
  it.each([['a newline', 'a\nb'], ['a NUL byte', 'a\u0000b'], ['5000 characters', 'x'.repeat(5000)]])('refuses an option value with %s', (_what, v) => {
    expectError(() => checkOptionKeys(bridgeDriver, { [OPT.mtu]: v }), 'INVALID_ARGUMENT', `-o ${OPT.mtu}`, /control characters|longer than/);
    expect(() => checkOptionKeys(bridgeDriver, { [OPT.mtu]: '1500' })).not.toThrow();
  });

  it('refuses an unknown option and lists the known ones', () => {
    const e = expectError(() => checkOptionKeys(bridgeDriver, { 'com.docker.network.bridge.nope': '1' }), 'UNKNOWN_OPTION', '-o com.docker.network.bridge.nope', /driver bridge has no option com\.docker\.network\.bridge\.nope/);
    for (const k of Object.values(OPT)) expect(e.hint).toContain(k);
  });

  it('accepts every known option', () => {
    expect(() => checkOptionKeys(bridgeDriver, Object.fromEntries(Object.values(OPT).map((k) => [k, 'x'])))).not.toThrow();
  });

  it('says a driver without options takes none', () => {
    expect(thrown(() => checkOptionKeys(getDriver('host'), { a: 'b' })).hint).toBe('the host driver takes no options');
  });
});

describe('bridge plans', () => {
  it('planCreate: bridge, ownership mark, gateway address, up', () => {
    expect(renderPlan(bridgeDriver.planCreate(net(), { instance: 'h1' }))).toEqual([
      'ip link add br-abcdef012345 mtu 1500 address 02:59:ab:cd:ef:01 type bridge',
      `ip link set dev br-abcdef012345 alias switchyard:h1:${ID}`,
      'ip addr add 10.20.0.1/24 dev br-abcdef012345',
      'ip link set dev br-abcdef012345 up',
    ]);
  });

  it('planCreate dual stack: both gateways, the v6 one without DAD, and the bridge\'s link-local without DAD', () => {
    const lines = renderPlan(bridgeDriver.planCreate(dual(), { instance: 'h1' }));
    expect(lines.filter((l) => l.includes(' addr add '))).toEqual([
      'ip addr add 10.20.0.1/24 dev br-abcdef012345',
      'ip addr add fd00:20::1/64 dev br-abcdef012345 nodad',
    ]);
    // Set before the bridge comes up (its link-local is made when the first port does).
    const dad = lines.findIndex((l) => l.includes('accept_dad'));
    expect(lines[dad]).toBe('sysctl -w net/ipv6/conf/br-abcdef012345/accept_dad=0');
    expect(dad).toBeLessThan(lines.indexOf('ip link set dev br-abcdef012345 up'));
    // An IPv4-only network leaves the kernel's default.
    expect(renderPlan(bridgeDriver.planCreate(net(), { instance: 'h1' })).some((l) => l.includes('accept_dad'))).toBe(false);
  });

  it('planDelete and hostLinksOf name the bridge; without a stored name it is br-<id12>', () => {
    expect(renderPlan(bridgeDriver.planDelete(net()))).toEqual(['ip link del br-abcdef012345']);
    expect(bridgeName(net({ driverState: {} }))).toBe('br-abcdef012345');
    expect(bridgeDriver.hostLinksOf(net({ driverState: { bridge: 'yard0' } }))).toEqual(['yard0']);
  });

  it('planJoin v4: veth into the sandbox with MAC, one queue each way, no IPv6 on either end, enslaved, hairpin mode, address, up', () => {
    expect(renderPlan(bridgeDriver.planJoin(net(), sb, ep()))).toEqual([
      `ip link add ${hostVethName(EP_ID)} mtu 1500 numtxqueues 1 numrxqueues 1 master br-abcdef012345 type veth peer name eth0 mtu 1500 numtxqueues 1 numrxqueues 1 address 02:42:0a:14:00:02 netns yard-h1-ffffffffffff`,
      'ip link set dev yv0123456789ab addrgenmode none type bridge_slave hairpin on',
      'ip link set dev yv0123456789ab up',
      'ip -n yard-h1-ffffffffffff addr add 10.20.0.2/24 dev eth0',
      'ip -n yard-h1-ffffffffffff link set dev eth0 up',
    ]);
  });

  it('planJoin dual stack adds the v6 address with nodad', () => {
    const lines = renderPlan(bridgeDriver.planJoin(dual(), sb, ep({ ipv6: 'fd00:20::2/64' })));
    expect(lines).toContain('ip -n yard-h1-ffffffffffff addr add fd00:20::2/64 dev eth0 nodad');
    // The sandbox's namespace starts with IPv6 off for new interfaces: this one turns it on.
    expect(lines.filter((l) => l.includes('disable_ipv6'))).toEqual(['ip netns exec yard-h1-ffffffffffff sysctl -w net/ipv6/conf/eth0/disable_ipv6=0']);
    expect(lines.indexOf('ip netns exec yard-h1-ffffffffffff sysctl -w net/ipv6/conf/eth0/disable_ipv6=0')).toBeLessThan(lines.indexOf('ip -n yard-h1-ffffffffffff link set dev eth0 up'));
  });

  it('planJoin into a runtime\'s namespace turns IPv6 off on an IPv4-only interface itself (the namespace keeps its own default)', () => {
    const rsb = { ...sb, runtime: { kind: 'cni', mode: 'configure', path: '/run/netns/cni-1' } } as typeof sb;
    const lines = renderPlan(bridgeDriver.planJoin(net(), rsb, ep()));
    expect(lines.filter((l) => l.includes('disable_ipv6'))).toEqual(['ip netns exec yard-h1-ffffffffffff sysctl -w net/ipv6/conf/eth0/disable_ipv6=1']);
    expect(renderPlan(bridgeDriver.planJoin(dual(), rsb, ep({ ipv6: 'fd00:20::2/64' }))).filter((l) => l.includes('disable_ipv6'))).toEqual([]);
  });

  it('planLeave deletes the host end (the peer goes with it)', () => {
    expect(renderPlan(bridgeDriver.planLeave(net(), sb, ep({ hostIfname: 'yvcustom' })))).toEqual(['ip link del yvcustom']);
  });

  it('planGatewayRoutes: v4 default route; dual stack both; internal none', () => {
    expect(renderPlan(bridgeDriver.planGatewayRoutes(net(), sb, ep()))).toEqual([
      'ip -n yard-h1-ffffffffffff route replace default via 10.20.0.1 dev eth0',
    ]);
    expect(renderPlan(bridgeDriver.planGatewayRoutes(dual(), sb, ep({ ipv6: 'fd00:20::2/64' })))).toEqual([
      'ip -n yard-h1-ffffffffffff route replace default via 10.20.0.1 dev eth0',
      'ip -n yard-h1-ffffffffffff route replace ::/0 via fd00:20::1 dev eth0',
    ]);
    expect(bridgeDriver.planGatewayRoutes(dual({ internal: true }), sb, ep({ ipv6: 'fd00:20::2/64' }))).toEqual([]);
  });

  it('planGatewayRoutes skips a family the endpoint has no address in', () => {
    expect(renderPlan(bridgeDriver.planGatewayRoutes(dual(), sb, ep()))).toEqual(['ip -n yard-h1-ffffffffffff route replace default via 10.20.0.1 dev eth0']);
  });

  it('checkJoin refuses the 1025th port', () => {
    expect(() => bridgeDriver.checkJoin!(net(), 1023)).not.toThrow();
    expect(thrown(() => bridgeDriver.checkJoin!(net(), 1024)).code).toBe('BRIDGE_FULL');
  });
});
