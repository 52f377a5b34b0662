import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { PLUGIN_NAMES } from './plugin-location.js';
import {
  bareAddress, createEndpointResponse, driversOf, endpointCreateFrom, errText, interfaceCidr, joinResponse, networkOptionsFrom, poolAndSubPool, poolsFrom,
} from './translate.js';
import { thrown } from '../../test/unit/thrown.js';

const G = 'com.docker.network.generic';

describe('errText', () => {
  it('is "<message> (<hint>)", or the message alone', () => {
    expect(errText(new YardError('INVALID_ARGUMENT', 'bad', { hint: 'fix it' }))).toBe('bad (fix it)');
    expect(errText(new YardError('INVALID_ARGUMENT', 'bad'))).toBe('bad');
  });
});

describe('networkOptionsFrom', () => {
  it('takes the -o map, removes the driver selector, reads --ipv6 and --internal', () => {
    const o = { [G]: { driver: 'ipvlan', parent: 'lan0', ipvlan_mode: 'l3' }, 'com.docker.network.enable_ipv6': true, 'com.docker.network.internal': true };
    expect(networkOptionsFrom(o, 'local', PLUGIN_NAMES)).toEqual({ driver: 'ipvlan', options: { parent: 'lan0', ipvlan_mode: 'l3' }, enableIPv6: true, internal: true });
  });

  it('defaults: bridge for the local plugin, overlay for the global one, no options', () => {
    expect(networkOptionsFrom(undefined, 'local', PLUGIN_NAMES)).toEqual({ driver: 'bridge', options: {}, enableIPv6: false, internal: false });
    expect(networkOptionsFrom({ [G]: {} }, 'global', PLUGIN_NAMES).driver).toBe('overlay');
    expect(driversOf('local').drivers).toEqual(['bridge', 'macvlan', 'ipvlan']);
  });

  it('accepts Go\'s boolean spellings in strings, refuses other values', () => {
    expect(networkOptionsFrom({ 'com.docker.network.internal': 'True' }, 'local', PLUGIN_NAMES).internal).toBe(true);
    expect(thrown(() => networkOptionsFrom({ 'com.docker.network.internal': 'yes' }, 'local', PLUGIN_NAMES)).message).toMatch(/is not a boolean/);
    expect(thrown(() => networkOptionsFrom({ 'com.docker.network.enable_ipv6': 1 }, 'local', PLUGIN_NAMES)).message).toMatch(/enable_ipv6 is 1, not a boolean/);
  });

  it('an unknown driver names the plugin and the choices; a driver of the other scope names the other plugin', () => {
    const e = thrown(() => networkOptionsFrom({ [G]: { driver: 'host' } }, 'local', PLUGIN_NAMES));
    expect(e.code).toBe('UNKNOWN_DRIVER');
    expect(e.field).toBe('-o driver');
    expect(errText(e)).toBe('-o driver=host is not a Switchyard driver of the switchyard plugin (use -o driver=bridge|macvlan|ipvlan (default bridge) with -d switchyard)');
    expect(errText(thrown(() => networkOptionsFrom({ [G]: { driver: 'macvlan' } }, 'global', { local: 'sy', global: 'sy-global' })))).toBe(
      '-o driver=macvlan is not a Switchyard driver of the sy-global plugin (macvlan networks are local: create them with docker network create -d sy)',
    );
  });
});

describe('addresses', () => {
  it('bareAddress takes an address with or without a length, canonical', () => {
    expect(bareAddress('172.18.0.1/16', 'g')).toBe('172.18.0.1');
    expect(bareAddress('FD00:0::1', 'g')).toBe('fd00::1');
    expect(thrown(() => bareAddress('fd00::1', 'g', 4)).message).toBe('g fd00::1 is not an IPv4 address');
    expect(thrown(() => bareAddress('172.18.0.1/40', 'g')).message).toMatch(/is not an IP address/);
  });

  it('interfaceCidr keeps the host part and the length', () => {
    expect(interfaceCidr('172.18.0.2/16', 'a', 4)).toBe('172.18.0.2/16');
    expect(interfaceCidr('fd00:0:0::2/64', 'a', 6)).toBe('fd00::2/64');
    expect(thrown(() => interfaceCidr('172.18.0.2', 'a', 4)).message).toMatch(/not an IPv4 address with its prefix length/);
  });

  it('poolsFrom: canonical subnet, bare gateway and aux addresses inside it', () => {
    expect(poolsFrom([{ AddressSpace: 'LocalDefault', Pool: '10.1.2.3/24', Gateway: '10.1.2.1/24', AuxAddresses: { a: '10.1.2.9/24' } }], 4, 'IPv4Data')).toEqual([
      { addressSpace: 'LocalDefault', subnet: '10.1.2.0/24', gateway: '10.1.2.1', auxAddresses: { a: '10.1.2.9' } },
    ]);
    expect(poolsFrom(undefined, 6, 'IPv6Data')).toEqual([]);
    const e = thrown(() => poolsFrom([{ Pool: '10.1.2.0/24', AuxAddresses: { a: '10.9.9.9/24' } }], 4, 'IPv4Data'));
    expect(e.field).toBe('IPv4Data[0].AuxAddresses.a');
    expect(e.message).toBe('IPv4Data[0].AuxAddresses.a 10.9.9.9 is outside the subnet 10.1.2.0/24');
  });

  it('poolAndSubPool', () => {
    expect(poolAndSubPool(undefined, undefined)).toEqual({});
    expect(poolAndSubPool('10.0.0.1/24', '10.0.0.128/25')).toEqual({ pool: '10.0.0.0/24', subPool: '10.0.0.128/25' });
    expect(thrown(() => poolAndSubPool('10.0.0.0/24', 'fd00::/120')).message).toMatch(/is not inside --subnet/);
  });
});

describe('endpointCreateFrom', () => {
  it('reads the interface and options', () => {
    const got = endpointCreateFrom({
      NetworkID: 'n',
      EndpointID: 'e',
      Interface: { Address: '10.0.0.2/24', AddressIPv6: 'fd00::2/64', MacAddress: '02:42:0A:00:00:02' },
      Options: { 'com.docker.network.endpoint.dnsservers': null, opt: 'v', notString: 5 },
    });
    expect(got).toEqual({ networkId: 'n', endpointId: 'e', iface: { ipv4: '10.0.0.2/24', ipv6: 'fd00::2/64', mac: '02:42:0a:00:00:02' }, driverOpts: { opt: 'v' }, ports: [], exposed: [], dnsServers: [] });
  });

  it('refuses a bad MAC or DNS list', () => {
    expect(thrown(() => endpointCreateFrom({ NetworkID: 'n', EndpointID: 'e', Interface: { MacAddress: '02:42' } })).message).toMatch(/Interface\.MacAddress "02:42" is not a MAC address/);
    expect(thrown(() => endpointCreateFrom({ NetworkID: 'n', EndpointID: 'e', Options: { 'com.docker.network.endpoint.dnsservers': 'x' } })).message).toMatch(/dnsservers is not a list/);
  });
});

describe('createEndpointResponse', () => {
  it('answers only fields dockerd left empty; an equal echo is fine', () => {
    expect(createEndpointResponse({ ipv4: '10.0.0.2/24' }, { ipv4: '10.0.0.2/24', mac: '02:42:0a:00:00:02' })).toEqual({ Interface: { MacAddress: '02:42:0a:00:00:02' } });
    expect(createEndpointResponse({}, { ipv4: '10.0.0.2/24' })).toEqual({ Interface: { Address: '10.0.0.2/24' } });
    expect(createEndpointResponse({ mac: '02:42:0a:00:00:02' }, {})).toEqual({});
  });
  it('a change is a bug, reported', () => {
    expect(thrown(() => createEndpointResponse({ mac: '02:42:0a:00:00:02' }, { mac: '02:42:0a:00:00:03' })).code).toBe('INTERNAL');
  });
});

describe('joinResponse', () => {
  it('renders gateways canonical and routes with their type', () => {
    expect(joinResponse({ srcName: 'yv1', dstPrefix: 'eth', gateway: '10.0.0.1', gatewayIPv6: 'FD00::1', staticRoutes: [{ destination: '::/0' }] })).toEqual({
      InterfaceName: { SrcName: 'yv1', DstPrefix: 'eth' },
      Gateway: '10.0.0.1',
      GatewayIPv6: 'fd00::1',
      StaticRoutes: [{ Destination: '::/0', RouteType: 1 }],
    });
  });
  it('catches a bad prefix, gateway family or next hop family', () => {
    expect(thrown(() => joinResponse({ srcName: 'yv1', dstPrefix: 'eth0/' })).message).toMatch(/invalid interface prefix/);
    expect(thrown(() => joinResponse({ srcName: 'yv1', dstPrefix: 'eth', gateway: 'fd00::1' })).message).toMatch(/invalid IPv4 address "fd00::1"/);
    expect(thrown(() => joinResponse({ srcName: 'yv1', dstPrefix: 'eth', staticRoutes: [{ destination: '10.0.0.0/8', nextHop: 'fd00::1' }] })).message).toMatch(/invalid IPv4 address/);
  });
});
