import { describe, expect, it } from 'vitest';
import { type ErrorCode } from '../errors.js';
import { planIpam, type SubnetRequest, type UsedSubnet } from './config.js';
import { thrown } from '../../test/unit/thrown.js';

function plan(configs: SubnetRequest[], opts: { ipv6?: boolean; gw?: boolean; v4?: boolean; used?: UsedSubnet[] } = {}) {
  return planIpam(
    {
      networkName: 'app2',
      configs,
      enableIPv6: opts.ipv6 ?? false,
      needsGateway: opts.gw ?? true,
      ...(opts.v4 === undefined ? {} : { allocateDefaultV4: opts.v4 }),
    },
    { used: opts.used ?? [] },
  );
}


/** Asserts code and field, and that message and hint are both there to read. */
function expectError(fn: () => unknown, code: ErrorCode, field: string, message?: RegExp | string, hint?: RegExp | string) {
  const e = thrown(fn);
  expect(e.code).toBe(code);
  expect(e.field).toBe(field);
  expect(e.hint).toBeTruthy();
  if (message !== undefined) expect(e.message).toMatch(message);
  if (hint !== undefined) expect(e.hint).toMatch(hint);
  return e;
}

describe('planIpam: defaults', () => {
  it('allocates a default IPv4 subnet with its first host as gateway', () => {
    expect(plan([])).toEqual([{ subnet: '172.17.0.0/16', gateway: '172.17.0.1', auxAddresses: {} }]);
  });

  it('leaves the gateway out when the driver needs none', () => {
    expect(plan([], { gw: false })).toEqual([{ subnet: '172.17.0.0/16', auxAddresses: {} }]);
  });

  it('skips subnets of other networks and host routes', () => {
    const used = [
      { prefix: '172.17.0.0/16', owner: 'network bridge' },
      { prefix: '172.18.5.0/24', owner: 'a route on the host (dev lan0)' },
    ];
    expect(plan([], { used })[0]!.subnet).toBe('172.19.0.0/16');
  });

  it('accepts a bare address in used as a host route', () => {
    expect(plan([], { used: [{ prefix: '172.17.9.9', owner: 'a route on the host' }] })[0]!.subnet).toBe('172.18.0.0/16');
  });

  it('treats an unparseable used entry as a bug', () => {
    expect(thrown(() => plan([], { used: [{ prefix: 'default', owner: 'x' }] })).code).toBe('INTERNAL');
  });

  it('allocates no IPv4 subnet when asked not to', () => {
    expect(plan([], { v4: false })).toEqual([]);
    expect(plan([], { v4: false, ipv6: true })).toEqual([
      { subnet: 'fdd0:5957:7964::/64', gateway: 'fdd0:5957:7964::1', auxAddresses: {} },
    ]);
  });

  it('allocates an IPv6 /64 when IPv6 is on and none is given', () => {
    expect(plan([], { ipv6: true })).toEqual([
      { subnet: '172.17.0.0/16', gateway: '172.17.0.1', auxAddresses: {} },
      { subnet: 'fdd0:5957:7964::/64', gateway: 'fdd0:5957:7964::1', auxAddresses: {} },
    ]);
  });

  it('fills in only the missing family', () => {
    expect(plan([{ subnet: '10.20.0.0/24' }], { ipv6: true }).map((p) => p.subnet)).toEqual([
      '10.20.0.0/24',
      'fdd0:5957:7964::/64',
    ]);
    expect(plan([{ subnet: 'fd00:1::/64' }], { ipv6: true }).map((p) => p.subnet)).toEqual([
      '172.17.0.0/16',
      'fd00:1::/64',
    ]);
  });

  it('never allocates on top of the request\'s own subnets', () => {
    expect(plan([{ subnet: 'fdd0:5957:7964::/64' }], { ipv6: true, used: [{ prefix: '172.17.0.0/16', owner: 'network bridge' }] }).map((p) => p.subnet)).toEqual([
      '172.18.0.0/16',
      'fdd0:5957:7964::/64',
    ]);
  });

  it('treats an empty config as no config', () => {
    expect(plan([{}, { subnet: '' }])).toEqual(plan([]));
  });

  it('reports exhausted pools', () => {
    expectError(() => plan([], { used: [{ prefix: '128.0.0.0/1', owner: 'a route on the host' }] }), 'POOLS_EXHAUSTED', '--subnet', /IPv4/, /--subnet/);
  });
});

describe('planIpam: explicit subnets', () => {
  it('canonicalises and orders v4 before v6, each in request order', () => {
    const out = plan(
      [{ subnet: 'FD00:0001::/64' }, { subnet: '10.30.0.0/24' }, { subnet: 'fd00:2:0::/64' }, { subnet: '10.20.0.0/24' }],
      { ipv6: true },
    );
    expect(out.map((p) => p.subnet)).toEqual(['10.30.0.0/24', '10.20.0.0/24', 'fd00:1::/64', 'fd00:2::/64']);
    expect(out.map((p) => p.gateway)).toEqual(['10.30.0.1', '10.20.0.1', 'fd00:1::1', 'fd00:2::1']);
  });

  it('rejects malformed subnets with a CIDR example', () => {
    for (const s of ['10.20.0.0', '10.20.0/24', '10.20.0.0/33', 'banana', 'fd00::/129']) {
      expectError(() => plan([{ subnet: s }], { ipv6: true }), 'INVALID_SUBNET', '--subnet', s, /10\.20\.0\.0\/24/);
    }
  });

  it('rejects host bits and says which subnet was meant', () => {
    const e = expectError(() => plan([{ subnet: '10.20.0.5/24' }]), 'INVALID_SUBNET', '--subnet');
    expect(e.message).toBe('--subnet 10.20.0.5/24 has host bits set');
    expect(e.hint).toBe('use 10.20.0.0/24');
    expectError(() => plan([{ subnet: 'fd00::1/64' }], { ipv6: true }), 'INVALID_SUBNET', '--subnet', /host bits/, 'use fd00::/64');
  });

  it('rejects subnets too small for a gateway and an endpoint', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/31' }]), 'INVALID_SUBNET', '--subnet', /too small/, /\/30/);
    expectError(() => plan([{ subnet: '10.20.0.4/32' }]), 'INVALID_SUBNET', '--subnet', /too small/);
    expectError(() => plan([{ subnet: 'fd00::/127' }], { ipv6: true }), 'INVALID_SUBNET', '--subnet', /too small/, /\/126/);
    expect(plan([{ subnet: '10.20.0.4/30' }])[0]).toEqual({ subnet: '10.20.0.4/30', gateway: '10.20.0.5', gatewayChosen: true, auxAddresses: {} });
    expect(plan([{ subnet: 'fd00::/126' }], { ipv6: true, v4: false })[0]!.gateway).toBe('fd00::1');
  });

  it.each([
    ['224.1.0.0/16', /multicast/],
    ['239.0.0.0/8', /multicast/],
    ['127.0.0.0/8', /loopback/],
    ['127.5.0.0/16', /loopback/],
    ['0.0.0.0/8', /unspecified/],
    ['0.0.0.0/0', /unspecified/],
    ['169.254.0.0/16', /link-local/],
    ['169.254.3.0/24', /link-local/],
    ['255.255.255.252/30', /broadcast/],
    ['fe80::/64', /link-local/],
    ['ff02::/64', /multicast/],
    ['::/64', /unspecified/],
    ['::/0', /unspecified/],
  ])('rejects non-unicast %s', (subnet, what) => {
    expectError(() => plan([{ subnet }], { ipv6: true }), 'INVALID_SUBNET', '--subnet', what);
  });

  it('rejects an IPv6 subnet while IPv6 is off', () => {
    const e = expectError(() => plan([{ subnet: 'fd00::/64' }]), 'INVALID_ARGUMENT', '--subnet');
    expect(e.message).toBe('--subnet fd00::/64 is IPv6 but IPv6 is off');
    expect(e.hint).toBe('add --ipv6 to use it (dual stack), or leave the IPv6 --subnet out');
  });

  it('rejects requested subnets that overlap each other, either way round', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/16' }, { subnet: '10.20.5.0/24' }]), 'SUBNET_OVERLAP', '--subnet', /10\.20\.5\.0\/24 overlaps --subnet 10\.20\.0\.0\/16/);
    expectError(() => plan([{ subnet: '10.20.5.0/24' }, { subnet: '10.20.0.0/16' }]), 'SUBNET_OVERLAP', '--subnet', /10\.20\.0\.0\/16 overlaps --subnet 10\.20\.5\.0\/24/);
    expectError(() => plan([{ subnet: '10.20.0.0/24' }, { subnet: '10.20.0.0/24' }]), 'SUBNET_OVERLAP', '--subnet');
    expectError(() => plan([{ subnet: 'fd00::/48' }, { subnet: 'fd00:0:0:1::/64' }], { ipv6: true }), 'SUBNET_OVERLAP', '--subnet');
  });

  it('rejects overlap with used subnets, naming their owner, either way round', () => {
    const used = [{ prefix: '10.20.0.0/16', owner: 'network app1' }, { prefix: '192.168.7.0/24', owner: 'a route on the host (dev lan0)' }];
    const e = expectError(() => plan([{ subnet: '10.20.0.0/24' }], { used }), 'SUBNET_OVERLAP', '--subnet');
    expect(e.message).toBe('Pool overlaps with other one on this address space: --subnet 10.20.0.0/24 overlaps 10.20.0.0/16 of network app1');
    expectError(() => plan([{ subnet: '192.168.0.0/16' }], { used }), 'SUBNET_OVERLAP', '--subnet', 'Pool overlaps with other one on this address space: --subnet 192.168.0.0/16 overlaps 192.168.7.0/24 of a route on the host (dev lan0)');
    expect(plan([{ subnet: '10.21.0.0/16' }], { used })[0]!.subnet).toBe('10.21.0.0/16');
  });
});

describe('planIpam: gateway', () => {
  it('keeps a valid explicit gateway, canonicalised', () => {
    expect(plan([{ subnet: '10.20.0.0/24', gateway: '10.20.0.254' }])[0]!.gateway).toBe('10.20.0.254');
    expect(plan([{ subnet: 'fd00::/64', gateway: 'FD00:0::FFFF' }], { ipv6: true })[1]!.gateway).toBe('fd00::ffff');
    // Kept even when the driver needs none (e.g. the upstream router of a macvlan).
    expect(plan([{ subnet: '10.20.0.0/24', gateway: '10.20.0.9' }], { gw: false })[0]!.gateway).toBe('10.20.0.9');
  });

  it('rejects a malformed gateway', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', gateway: '10.20.0.300' }]), 'INVALID_GATEWAY', '--gateway', /not a valid IP/, /10\.20\.0\.1/);
    expectError(() => plan([{ subnet: '10.20.0.0/24', gateway: '10.20.0.1/24' }]), 'INVALID_GATEWAY', '--gateway');
  });

  it('rejects a gateway outside its subnet', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', gateway: '10.20.1.1' }]), 'INVALID_GATEWAY', '--gateway', '--gateway 10.20.1.1 is outside its --subnet 10.20.0.0/24');
    expectError(() => plan([{ subnet: '10.20.0.0/24', gateway: 'fd00::1' }]), 'INVALID_GATEWAY', '--gateway', /outside/);
  });

  it('rejects the network and broadcast addresses', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', gateway: '10.20.0.0' }]), 'INVALID_GATEWAY', '--gateway', /network address/);
    expectError(() => plan([{ subnet: '10.20.0.0/24', gateway: '10.20.0.255' }]), 'INVALID_GATEWAY', '--gateway', /broadcast address/);
    expectError(() => plan([{ subnet: 'fd00::/64', gateway: 'fd00::' }], { ipv6: true }), 'INVALID_GATEWAY', '--gateway', /network address/);
    expect(plan([{ subnet: 'fd00::/64', gateway: 'fd00::ffff:ffff:ffff:ffff' }], { ipv6: true })[1]!.gateway).toBe('fd00::ffff:ffff:ffff:ffff');
  });

  it('needs a subnet', () => {
    expectError(() => plan([{ gateway: '10.20.0.1' }]), 'INVALID_ARGUMENT', '--gateway', '--gateway 10.20.0.1 needs --subnet');
  });
});

describe('planIpam: ip-range', () => {
  it('marks only a gateway it chose inside a given subnet (Docker\'s inspect leaves that one out)', () => {
    expect(plan([{ subnet: '10.20.0.0/24', gateway: '10.20.0.9' }])[0]).toEqual({ subnet: '10.20.0.0/24', gateway: '10.20.0.9', auxAddresses: {} });
    expect(plan([{ subnet: '10.20.0.0/24' }])[0]).toEqual({ subnet: '10.20.0.0/24', gateway: '10.20.0.1', gatewayChosen: true, auxAddresses: {} });
    expect(plan([])[0]).toEqual({ subnet: '172.17.0.0/16', gateway: '172.17.0.1', auxAddresses: {} });
    expect(plan([{ subnet: '10.20.0.0/24' }], { gw: false })[0]).toEqual({ subnet: '10.20.0.0/24', auxAddresses: {} });
  });

  it('keeps a range inside the subnet', () => {
    expect(plan([{ subnet: '10.231.0.0/24', ipRange: '10.231.0.192/27' }])[0]).toEqual({
      subnet: '10.231.0.0/24',
      gateway: '10.231.0.1',
      gatewayChosen: true,
      ipRange: '10.231.0.192/27',
      auxAddresses: {},
    });
    expect(plan([{ subnet: '10.20.0.0/24', ipRange: '10.20.0.0/24' }])[0]!.ipRange).toBe('10.20.0.0/24');
  });

  it('rejects malformed ranges, host bits and ranges outside the subnet', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', ipRange: '10.20.0.128' }]), 'INVALID_IP_RANGE', '--ip-range', /not a valid CIDR/);
    expectError(() => plan([{ subnet: '10.20.0.0/24', ipRange: '10.20.0.130/25' }]), 'INVALID_IP_RANGE', '--ip-range', /host bits/, 'use 10.20.0.128/25');
    expectError(() => plan([{ subnet: '10.20.0.0/24', ipRange: '10.20.0.0/23' }]), 'INVALID_IP_RANGE', '--ip-range', '--ip-range 10.20.0.0/23 is not inside its --subnet 10.20.0.0/24');
    expectError(() => plan([{ subnet: '10.20.0.0/24', ipRange: '10.21.0.0/25' }]), 'INVALID_IP_RANGE', '--ip-range', /not inside/);
    expectError(() => plan([{ subnet: '10.20.0.0/24', ipRange: 'fd00::/120' }]), 'INVALID_IP_RANGE', '--ip-range', /not inside/);
  });

  it('needs a subnet', () => {
    expectError(() => plan([{ ipRange: '10.20.0.0/25' }]), 'INVALID_ARGUMENT', '--ip-range', /needs --subnet/);
  });
});

describe('planIpam: aux addresses', () => {
  it('places each aux address in the config whose subnet contains it', () => {
    const out = plan(
      [
        { subnet: '10.20.0.0/24', auxAddresses: { printer: '10.30.0.9', 'fd-host': 'FD00::9' } },
        { subnet: '10.30.0.0/24', auxAddresses: { router: '10.20.0.2' } },
        { subnet: 'fd00::/64' },
      ],
      { ipv6: true },
    );
    expect(out).toEqual([
      { subnet: '10.20.0.0/24', gateway: '10.20.0.1', gatewayChosen: true, auxAddresses: { router: '10.20.0.2' } },
      { subnet: '10.30.0.0/24', gateway: '10.30.0.1', gatewayChosen: true, auxAddresses: { printer: '10.30.0.9' } },
      { subnet: 'fd00::/64', gateway: 'fd00::1', gatewayChosen: true, auxAddresses: { 'fd-host': 'fd00::9' } },
    ]);
  });

  it('rejects malformed and unnamed aux addresses', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', auxAddresses: { printer: 'ten' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /printer=ten is not a valid IP/);
    expectError(() => plan([{ subnet: '10.20.0.0/24', auxAddresses: { '': '10.20.0.9' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /no name/);
  });

  it('rejects aux addresses outside every subnet', () => {
    const e = expectError(
      () => plan([{ subnet: '10.20.0.0/24', auxAddresses: { printer: '10.99.0.5' } }]),
      'INVALID_AUX_ADDRESS',
      '--aux-address',
    );
    expect(e.message).toBe('--aux-address printer=10.99.0.5 is outside every --subnet (10.20.0.0/24)');
    expectError(() => plan([{ subnet: '10.20.0.0/24', auxAddresses: { v6: 'fd00::5' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /outside every --subnet/);
  });

  it('rejects an aux address on a gateway, explicit or implied', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', gateway: '10.20.0.254', auxAddresses: { printer: '10.20.0.254' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /gateway/);
    expectError(() => plan([{ subnet: '10.20.0.0/24', auxAddresses: { printer: '10.20.0.1' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /gateway/, /--gateway/);
    // No gateway, no collision.
    expect(plan([{ subnet: '10.20.0.0/24', auxAddresses: { printer: '10.20.0.1' } }], { gw: false })[0]!.auxAddresses).toEqual({ printer: '10.20.0.1' });
  });

  it('rejects network/broadcast addresses and repeated addresses or names', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', auxAddresses: { a: '10.20.0.0' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /network address/);
    expectError(() => plan([{ subnet: '10.20.0.0/24', auxAddresses: { a: '10.20.0.255' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /broadcast/);
    expectError(() => plan([{ subnet: '10.20.0.0/24', auxAddresses: { a: '10.20.0.9', b: '10.20.0.9' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /repeats the address of a/);
    expectError(
      () => plan([{ subnet: '10.20.0.0/24', auxAddresses: { a: '10.20.0.9' } }, { subnet: '10.30.0.0/24', auxAddresses: { a: '10.30.0.9' } }]),
      'INVALID_AUX_ADDRESS',
      '--aux-address',
      /reuses the name a/,
    );
    // The same name=ip twice is harmless.
    expect(plan([{ subnet: '10.20.0.0/24', auxAddresses: { a: '10.20.0.9' } }, { subnet: '10.30.0.0/24', auxAddresses: { a: '10.20.0.9' } }])[0]!.auxAddresses).toEqual({ a: '10.20.0.9' });
  });

  it('needs a subnet', () => {
    expectError(() => plan([{ auxAddresses: { printer: '10.20.0.9' } }]), 'INVALID_ARGUMENT', '--aux-address', '--aux-address printer=10.20.0.9 needs --subnet');
  });
});

describe('planIpam: ranges that can never be a network', () => {
  it.each([
    ['::ffff:10.0.0.0/120', /IPv4-mapped/],
    ['::ffff:0:0/96', /IPv4-mapped/],
    ['::a00:0/120', /IPv4-compatible/],
    ['64:ff9b::/120', /NAT64/],
    ['64:ff9b:1::/64', /local-use NAT64/],
    ['2002:a00::/24', /6to4/],
    ['2002::/16', /6to4/],
  ])('refuses the IPv6 subnet %s', (subnet, what) => {
    expectError(() => plan([{ subnet }], { ipv6: true }), 'INVALID_SUBNET', '--subnet', what);
  });

  it.each([
    ['192.0.0.0/3', /larger than a \/8/],
    ['0.0.0.0/1', /larger than a \/8|unspecified/],
    ['128.0.0.0/1', /larger than a \/8/],
    ['10.0.0.0/7', /larger than a \/8/],
    ['2000::/3', /larger than a \/16/],
    ['fd00::/8', /larger than a \/16/],
  ])('refuses the huge subnet %s (IPv4 shorter than /8, IPv6 shorter than /16)', (subnet, what) => {
    expectError(() => plan([{ subnet }], { ipv6: true }), 'INVALID_SUBNET', '--subnet', what);
  });

  it('positive control: /8 and /16 are the largest taken; ordinary IPv6 subnets too', () => {
    expect(plan([{ subnet: '10.0.0.0/8' }])[0]!.subnet).toBe('10.0.0.0/8');
    expect(plan([{ subnet: 'fd00::/16' }], { ipv6: true }).find((p) => p.subnet.includes(':'))!.subnet).toBe('fd00::/16');
    expect(plan([{ subnet: '2001:db8::/64' }], { ipv6: true }).find((p) => p.subnet.includes(':'))!.subnet).toBe('2001:db8::/64');
    expect(plan([{ subnet: '64:ff9a::/96' }], { ipv6: true }).find((p) => p.subnet.includes(':'))!.subnet).toBe('64:ff9a::/96');
  });
});

describe('planIpam: a range must leave an address for a sandbox', () => {
  it.each([
    ['10.20.0.0/32', 'only the network address'],
    ['10.20.0.255/32', 'only the broadcast address'],
    ['10.20.0.1/32', 'only the gateway'],
    ['10.20.0.0/31', 'the network address and the gateway'],
  ])('refuses --ip-range %s (%s)', (ipRange) => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', ipRange }]), 'INVALID_IP_RANGE', '--ip-range', /has no address left for sandboxes/, /widen --ip-range/);
  });

  it('refuses a range filled by aux addresses, and a subnet filled by them', () => {
    expectError(() => plan([{ subnet: '10.20.0.0/24', ipRange: '10.20.0.8/31', auxAddresses: { a: '10.20.0.8', b: '10.20.0.9' } }]), 'INVALID_IP_RANGE', '--ip-range', /no address left/);
    expectError(() => plan([{ subnet: '10.20.0.0/30', auxAddresses: { a: '10.20.0.2' } }]), 'INVALID_AUX_ADDRESS', '--aux-address', /leaves no address/);
  });

  it('positive control: a /32 range on a host address, and a /31 beside the gateway, are taken', () => {
    expect(plan([{ subnet: '10.20.0.0/24', ipRange: '10.20.0.5/32' }])[0]!.ipRange).toBe('10.20.0.5/32');
    expect(plan([{ subnet: '10.20.0.0/24', ipRange: '10.20.0.2/31' }])[0]!.ipRange).toBe('10.20.0.2/31');
    expect(plan([{ subnet: '10.20.0.0/30' }])[0]!.subnet).toBe('10.20.0.0/30');
  });
});
