import { describe, expect, it } from 'vitest';
import { type ErrorCode } from '../errors.js';
import { allocateAddress, macFromIPv4, poolStats, reservedAddresses, type AllocationRequest } from './allocator.js';
import type { PoolConfig } from './config.js';
import { thrown } from '../../test/unit/thrown.js';

const v4: PoolConfig = { subnet: '10.20.0.0/24', gateway: '10.20.0.1', auxAddresses: { printer: '10.20.0.3' } };
const v6: PoolConfig = { subnet: 'fd00:1::/64', gateway: 'fd00:1::1', auxAddresses: {} };

function alloc(over: Partial<AllocationRequest> = {}) {
  return allocateAddress({ networkName: 'app2', pools: [v4, v6], family: 4, inUse: new Map(), ...over });
}


function expectError(fn: () => unknown, code: ErrorCode, field: string, message?: RegExp | string, hint?: RegExp | string) {
  const e = thrown(fn);
  expect(e.code).toBe(code);
  expect(e.field).toBe(field);
  expect(e.hint).toBeTruthy();
  if (message !== undefined) expect(e.message).toMatch(message);
  if (hint !== undefined) expect(e.hint).toMatch(hint);
  return e;
}

describe('allocateAddress: dynamic', () => {
  it('hands out the lowest free address, skipping network, gateway and aux', () => {
    expect(alloc()).toEqual({ address: '10.20.0.2', prefixLen: 24, pool: v4 });
    const inUse = new Map([['10.20.0.2', 'sandbox web1']]);
    expect(alloc({ inUse }).address).toBe('10.20.0.4');
  });

  it('skips the IPv6 subnet-router anycast address', () => {
    const pool: PoolConfig = { subnet: 'fd00:1::/64', auxAddresses: {} };
    expect(allocateAddress({ networkName: 'n', pools: [pool], family: 6, inUse: new Map() })).toEqual({
      address: 'fd00:1::1',
      prefixLen: 64,
      pool,
    });
    expect(alloc({ family: 6 }).address).toBe('fd00:1::2');
  });

  it('takes from the --ip-range, including its first address', () => {
    const pool: PoolConfig = { subnet: '10.231.0.0/24', gateway: '10.231.0.1', ipRange: '10.231.0.192/27', auxAddresses: {} };
    expect(allocateAddress({ networkName: 'n', pools: [pool], family: 4, inUse: new Map() }).address).toBe('10.231.0.192');
    // ...but not when the range starts at the network address.
    const whole: PoolConfig = { subnet: '10.231.0.0/24', ipRange: '10.231.0.0/25', auxAddresses: {} };
    expect(allocateAddress({ networkName: 'n', pools: [whole], family: 4, inUse: new Map() }).address).toBe('10.231.0.1');
  });

  it('never hands out the IPv4 broadcast address', () => {
    const pool: PoolConfig = { subnet: '10.20.0.0/30', gateway: '10.20.0.1', auxAddresses: {} };
    const r = { networkName: 'n', pools: [pool], family: 4 as const };
    expect(allocateAddress({ ...r, inUse: new Map() }).address).toBe('10.20.0.2');
    expectError(() => allocateAddress({ ...r, inUse: new Map([['10.20.0.2', 'sandbox a']]) }), 'ADDRESSES_EXHAUSTED', '--ip');
  });

  it('tries pools of the family in order', () => {
    const a: PoolConfig = { subnet: '10.20.0.0/30', gateway: '10.20.0.1', auxAddresses: {} };
    const b: PoolConfig = { subnet: '10.30.0.0/24', gateway: '10.30.0.1', auxAddresses: {} };
    const r = { networkName: 'n', pools: [v6, a, b], family: 4 as const };
    expect(allocateAddress({ ...r, inUse: new Map() }).pool).toBe(a);
    const next = allocateAddress({ ...r, inUse: new Map([['10.20.0.2', 'sandbox x']]) });
    expect(next).toEqual({ address: '10.30.0.2', prefixLen: 24, pool: b });
  });

  it('hands out 1000 distinct addresses in a row, then reuses the lowest released one', () => {
    const pool: PoolConfig = { subnet: '10.20.0.0/16', gateway: '10.20.0.1', auxAddresses: { dns: '10.20.0.100' } };
    const inUse = new Map<string, string>();
    const start = performance.now();
    for (let i = 0; i < 1000; i++) {
      const { address } = allocateAddress({ networkName: 'n', pools: [pool], family: 4, inUse });
      expect(inUse.has(address)).toBe(false);
      inUse.set(address, `sandbox s${i}`);
    }
    expect(performance.now() - start).toBeLessThan(3000);
    expect(inUse.size).toBe(1000);
    expect(inUse.has('10.20.0.100')).toBe(false);
    expect(inUse.has('10.20.0.255')).toBe(true); // only the /16's broadcast is special
    expect(inUse.has('10.20.3.234')).toBe(true);
    inUse.delete('10.20.1.17');
    inUse.delete('10.20.2.5');
    expect(allocateAddress({ networkName: 'n', pools: [pool], family: 4, inUse }).address).toBe('10.20.1.17');
  });

  it('exhausts a /29 range and names it', () => {
    const pool: PoolConfig = { subnet: '10.20.0.0/24', gateway: '10.20.0.1', ipRange: '10.20.0.8/29', auxAddresses: { a: '10.20.0.9' } };
    const inUse = new Map<string, string>();
    for (let i = 0; i < 7; i++) {
      inUse.set(allocateAddress({ networkName: 'app2', pools: [pool], family: 4, inUse }).address, `sandbox s${i}`);
    }
    expect([...inUse.keys()]).toEqual(['10.20.0.8', '10.20.0.10', '10.20.0.11', '10.20.0.12', '10.20.0.13', '10.20.0.14', '10.20.0.15']);
    const e = expectError(
      () => allocateAddress({ networkName: 'app2', pools: [pool], family: 4, inUse }),
      'ADDRESSES_EXHAUSTED',
      '--ip',
      /network app2 .*10\.20\.0\.8\/29/,
      /--ip-range/,
    );
    expect(e.hint).toMatch(/remove sandboxes/);
    // A static address outside the range is still allowed (Docker).
    expect(allocateAddress({ networkName: 'app2', pools: [pool], family: 4, inUse, requested: '10.20.0.50' }).address).toBe('10.20.0.50');
  });

  it('errors when the network has no pool of the family', () => {
    expectError(() => alloc({ pools: [v4], family: 6 }), 'INVALID_IP', '--ip6', /no IPv6 subnet/, /--ipv6/);
    expectError(() => alloc({ pools: [v6], family: 4 }), 'INVALID_IP', '--ip', /no IPv4 subnet/);
  });

  it('treats a corrupt stored pool as a bug', () => {
    expect(thrown(() => alloc({ pools: [{ subnet: 'nope', auxAddresses: {} }] })).code).toBe('INTERNAL');
  });
});

describe('allocateAddress: static', () => {
  it('returns the canonical address and its pool', () => {
    expect(alloc({ requested: '10.20.0.50' })).toEqual({ address: '10.20.0.50', prefixLen: 24, pool: v4 });
    expect(alloc({ family: 6, requested: 'FD00:1:0::50' })).toEqual({ address: 'fd00:1::50', prefixLen: 64, pool: v6 });
  });

  it('rejects malformed addresses', () => {
    expectError(() => alloc({ requested: '10.20.0.256' }), 'INVALID_IP', '--ip', '--ip 10.20.0.256 is not a valid IP address');
    expectError(() => alloc({ requested: '10.20.0.5/24' }), 'INVALID_IP', '--ip', /not a valid IP/);
    expectError(() => alloc({ family: 6, requested: 'fd00:1::5%eth0' }), 'INVALID_IP', '--ip6', /not a valid IP/);
  });

  it('rejects the wrong family, pointing at the other flag', () => {
    expectError(() => alloc({ requested: 'fd00:1::5' }), 'INVALID_IP', '--ip', /is an IPv6 address/, 'use --ip6 for IPv6 addresses');
    expectError(() => alloc({ family: 6, requested: '10.20.0.5' }), 'INVALID_IP', '--ip6', /is an IPv4 address/, 'use --ip for IPv4 addresses');
  });

  it('rejects addresses outside the subnets, listing them', () => {
    const e = expectError(() => alloc({ requested: '10.99.0.5' }), 'INVALID_IP', '--ip');
    expect(e.message).toBe("--ip 10.99.0.5 is outside network app2's subnets (10.20.0.0/24)");
    expect(e.hint).toBe('pick an address inside one of them or omit --ip');
    const two = [v4, { subnet: '10.30.0.0/24', auxAddresses: {} }];
    expectError(() => alloc({ pools: two, requested: '10.99.0.5' }), 'INVALID_IP', '--ip', /\(10\.20\.0\.0\/24, 10\.30\.0\.0\/24\)/);
  });

  it('rejects network, broadcast and subnet-router addresses', () => {
    expectError(() => alloc({ requested: '10.20.0.0' }), 'INVALID_IP', '--ip', /network address of 10\.20\.0\.0\/24/);
    expectError(() => alloc({ requested: '10.20.0.255' }), 'INVALID_IP', '--ip', /broadcast address/);
    expectError(() => alloc({ family: 6, requested: 'fd00:1::' }), 'INVALID_IP', '--ip6', /subnet-router anycast/);
  });

  it('rejects the gateway and aux addresses as in use', () => {
    const gw = expectError(() => alloc({ requested: '10.20.0.1' }), 'ADDRESS_IN_USE', '--ip');
    expect(gw.message).toBe("--ip 10.20.0.1 is network app2's gateway");
    expectError(() => alloc({ requested: '10.20.0.3' }), 'ADDRESS_IN_USE', '--ip', /is reserved as aux address printer/);
    expectError(() => alloc({ family: 6, requested: 'fd00:1:0:0::1' }), 'ADDRESS_IN_USE', '--ip6', /gateway/);
  });

  it('rejects an address another sandbox holds, naming it', () => {
    const inUse = new Map([['10.20.0.5', 'sandbox web1']]);
    expectError(() => alloc({ inUse, requested: '10.20.0.5' }), 'ADDRESS_IN_USE', '--ip', /already used by sandbox web1/, /omit --ip/);
    const inUse6 = new Map([['fd00:1::5', 'sandbox web1']]);
    expectError(() => alloc({ family: 6, inUse: inUse6, requested: 'fd00:1:0::05' }), 'ADDRESS_IN_USE', '--ip6', /sandbox web1/);
  });

  it('explains --ip6 on a network without IPv6', () => {
    expectError(() => alloc({ pools: [v4], family: 6, requested: 'fd00:1::5' }), 'INVALID_IP', '--ip6', /^user specified IP address is supported only when connecting to networks with user configured subnets; --ip6 fd00:1::5 cannot be used: network app2 has no IPv6 subnet$/, /--ipv6/);
  });

  it('uses the field it is given', () => {
    expectError(() => alloc({ requested: 'x', field: 'IPAMConfig.IPv4Address' }), 'INVALID_IP', 'IPAMConfig.IPv4Address', /^IPAMConfig\.IPv4Address x/);
  });
});

describe('reservedAddresses / poolStats', () => {
  it('lists network, broadcast, gateway and aux addresses', () => {
    expect(reservedAddresses(v4)).toEqual(new Set(['10.20.0.0', '10.20.0.255', '10.20.0.1', '10.20.0.3']));
    expect(reservedAddresses({ subnet: 'fd00:1::/64', gateway: 'fd00:1::1', auxAddresses: { x: 'FD00:1::9' } })).toEqual(
      new Set(['fd00:1::', 'fd00:1::1', 'fd00:1::9']),
    );
  });

  it('counts what the dynamic allocator can still hand out', () => {
    expect(poolStats(v4, 0)).toEqual({ size: 256n, dynamicAvailable: 252n });
    expect(poolStats(v4, 10)).toEqual({ size: 256n, dynamicAvailable: 242n });
    expect(poolStats(v4, 1000)).toEqual({ size: 256n, dynamicAvailable: 0n });
    const ranged: PoolConfig = { subnet: '10.231.0.0/24', gateway: '10.231.0.1', ipRange: '10.231.0.192/27', auxAddresses: {} };
    expect(poolStats(ranged, 2)).toEqual({ size: 256n, dynamicAvailable: 30n }); // 32 less the broadcast and 2 in use
    expect(poolStats(v6, 0)).toEqual({ size: 1n << 64n, dynamicAvailable: (1n << 64n) - 2n });
  });
});

describe('macFromIPv4', () => {
  it('is 02:42 followed by the address bytes', () => {
    expect(macFromIPv4('172.17.0.2')).toBe('02:42:ac:11:00:02');
    expect(macFromIPv4('10.255.0.16')).toBe('02:42:0a:ff:00:10');
  });

  it('rejects anything but IPv4', () => {
    expect(thrown(() => macFromIPv4('fd00::1')).code).toBe('INVALID_IP');
    expect(thrown(() => macFromIPv4('nope')).code).toBe('INVALID_IP');
  });
});
