/**
 * macvlan/ipvlan parents and the host-access shim address: what is refused before a
 * network exists (so no network is created that every join would then fail on).
 */
import { describe, expect, it } from 'vitest';
import type { NetworkRecord } from '../model/types.js';
import type { DriverEnv, HostLink, NetworkIntent } from './contract.js';
import { macvlanDriver } from './macvlan.js';
import { finishLan } from './parent-link.js';
import { thrown } from '../../test/unit/thrown.js';

const ID = 'abcdef0123456789'.repeat(4);

function intent(options: Record<string, string>): NetworkIntent {
  return { name: 'mv', driver: 'macvlan', options, internal: false, attachable: false, ipv6: false, labels: {}, ipam: [{ subnet: '10.231.0.0/24' }] };
}

/** The links of a lab host: an Ethernet uplink, loopback, Switchyard's own, a bridge and a tunnel. */
const LINKS: [string, HostLink][] = [
  ['lo', { mac: '00:00:00:00:00:00', addrs: ['127.0.0.1/8', '::1/128'] }],
  ['lan0', { kind: 'veth', mac: '02:11:22:33:44:55', addrs: ['10.231.0.2/24'] }],
  ['eth1', { mac: '52:54:00:12:34:56', addrs: [] }],
  ['yard0', { kind: 'bridge', mac: '02:59:aa:bb:cc:dd', alias: 'switchyard:h1:' + '1'.repeat(64), addrs: ['172.17.0.1/16'] }],
  ['br-0123456789ab', { kind: 'bridge', mac: '02:59:01:23:45:67', alias: 'switchyard:h1:' + '2'.repeat(64), addrs: ['172.18.0.1/16'] }],
  ['yv0123456789ab', { kind: 'veth', mac: '0a:00:00:00:00:01', addrs: [] }],
  ['br0', { kind: 'bridge', mac: '0a:00:00:00:00:02', addrs: [] }],
  ['tun0', { kind: 'tun', addrs: [] }],
  ['ipip0', { kind: 'ipip', mac: '0.0.0.0', addrs: [] }],
];

function env(): DriverEnv {
  return { instance: 'h1', networks: [], hostLinks: new Map(LINKS), linkKinds: new Set(['bridge', 'veth', 'macvlan', 'vlan']) };
}

const refusal = (options: Record<string, string>) => thrown(() => macvlanDriver.prepareNetwork(intent(options), env()));

describe('macvlan parent', () => {
  it.each([
    ['lo', /lo is the loopback interface/],
    ['lo.100', /lo is the loopback interface/],
    ['yard0', /yard0 is a link Switchyard manages/],
    ['yard0.7', /yard0 is a link Switchyard manages/],
    ['br-0123456789ab', /is a link Switchyard manages/],
    ['yv0123456789ab', /is a link Switchyard manages/],
    ['br0', /br0 is a bridge/],
    ['tun0', /tun0 is not an Ethernet interface/],
    ['ipip0', /ipip0 is not an Ethernet interface/],
  ])('refuses parent=%s', (parent, why) => {
    const e = refusal({ parent });
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.field).toBe('-o parent');
    expect(e.message).toMatch(why);
    expect(e.hint).toMatch(/lan0/);
  });

  it('refuses parent=all (a name the kernel reserves)', () => {
    expect(refusal({ parent: 'all' }).message).toMatch(/the kernel reserves/);
  });

  it('positive control: an Ethernet uplink (veth or NIC) and a VLAN on it are taken', () => {
    expect(macvlanDriver.prepareNetwork(intent({ parent: 'lan0' }), env()).driverState.parent).toBe('lan0');
    expect(macvlanDriver.prepareNetwork(intent({ parent: 'eth1' }), env()).driverState.parent).toBe('eth1');
    expect(macvlanDriver.prepareNetwork(intent({ parent: 'lan0.100' }), env()).driverState).toMatchObject({ parent: 'lan0.100', createParent: 'vlan' });
  });

  it('refuses a parent another network created (its VLAN would go with it)', () => {
    const other = { name: 'v100', driver: 'macvlan', driverState: { parent: 'lan0.100', createParent: 'vlan' } } as unknown as NetworkRecord;
    const e2 = { ...env(), networks: [other], hostLinks: new Map([...LINKS, ['lan0.100', { mac: '02:11:22:33:44:55', alias: 'switchyard:h1:x', addrs: [] }] as [string, HostLink]]) };
    expect(thrown(() => macvlanDriver.prepareNetwork(intent({ parent: 'lan0.100' }), e2)).message).toMatch(/lan0\.100 is a link Switchyard manages \(network v100\)/);
  });

  it.each(['', 'yes', 'on'])('refuses host_access=%j (booleans are strconv.ParseBool\'s)', (v) => {
    expect(refusal({ parent: 'lan0', host_access: v }).message).toMatch(/is not a boolean/);
  });
});

describe('host access shim address', () => {
  function network(options: Record<string, string>): NetworkRecord {
    return {
      id: ID,
      name: 'mv',
      driver: 'macvlan',
      scope: 'local',
      created: '',
      internal: false,
      attachable: false,
      ipv6: false,
      ipam: { driver: 'default', options: {}, config: [{ subnet: '10.231.0.0/24', gateway: '10.231.0.1', ipRange: '10.231.0.192/27', auxAddresses: {} }] },
      options,
      labels: {},
      driverState: { parent: 'lan0', createParent: '', hostAccess: true },
    };
  }

  it("refuses the host's own address (it would be taken away from lan0)", () => {
    const e = thrown(() => finishLan(network({ parent: 'lan0', host_access: 'true', host_access_address: '10.231.0.2' }), env()));
    expect(e.field).toBe('-o host_access_address');
    expect(e.message).toMatch(/10\.231\.0\.2 is this host's own address \(on lan0\)/);
  });

  it('refuses an empty host_access_address', () => {
    expect(thrown(() => finishLan(network({ parent: 'lan0', host_access: 'true', host_access_address: '' }), env())).field).toBe('-o host_access_address');
  });

  it('positive control: a free address is taken; without one, the highest free address that is not the host\'s', () => {
    const n = network({ parent: 'lan0', host_access: 'true', host_access_address: '10.231.0.100' });
    finishLan(n, env());
    expect(n.driverState.shimAddress).toBe('10.231.0.100');
    const auto = network({ parent: 'lan0', host_access: 'true' });
    const hostOnTop: DriverEnv = { ...env(), hostLinks: new Map([...LINKS, ['eth2', { mac: '02:00:00:00:00:09', addrs: ['10.231.0.254/24'] }] as [string, HostLink]]) };
    finishLan(auto, hostOnTop);
    expect(auto.driverState.shimAddress).toBe('10.231.0.253');
  });
});
