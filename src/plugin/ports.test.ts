import { describe, expect, it } from 'vitest';
import { exposedPortsFrom, mergeRanges, portMappingsFrom, protoName } from './ports.js';
import { parsePortSpec, type PortMapping } from '../model/ports.js';
import { thrown } from '../../test/unit/thrown.js';

const F = 'Options.com.docker.network.portmap';
const pb = (Port: number, HostPort = 0, extra: Record<string, unknown> = {}) => ({ Proto: 6, IP: '', Port, HostIP: '', HostPort, HostPortEnd: HostPort, ...extra });

describe('portMappingsFrom: Docker PortBindings -> publish records', () => {
  it('-p 8080:80 is the same record yard run -p 8080:80 makes', () => {
    expect(portMappingsFrom([pb(80, 8080)], F)).toEqual([parsePortSpec('8080:80')]);
  });

  it('-p 127.0.0.1:9090:90/udp, -p [::1]:53:53/sctp and -p 80 (any free port)', () => {
    const got = portMappingsFrom([
      { Proto: 17, IP: '', Port: 90, HostIP: '127.0.0.1', HostPort: 9090, HostPortEnd: 9090 },
      { Proto: 132, Port: 53, HostIP: '0:0::1', HostPort: 53, HostPortEnd: 53 },
      pb(80),
    ], F);
    // Sorted by protocol, host address and port.
    expect(got).toEqual([parsePortSpec('[::1]:53:53/sctp'), parsePortSpec('80'), parsePortSpec('127.0.0.1:9090:90/udp')]);
  });

  it('-p 8000-8010:80 (any one port of a host range) keeps the range as a choice', () => {
    expect(portMappingsFrom([pb(80, 8000, { HostPortEnd: 8010 })], F)).toEqual([parsePortSpec('8000-8010:80')]);
  });

  it('a container range arrives split and is merged back: -p 20000-20999:20000-20999 is one record', () => {
    const list = Array.from({ length: 1000 }, (_, i) => pb(20000 + i, 20000 + i));
    expect(portMappingsFrom(list, F)).toEqual([parsePortSpec('20000-20999:20000-20999')]);
  });

  it('dockerd sends the ports highest first: -p 127.0.0.1:9000-9001:90-91/udp -p 8080:80 as it arrives', () => {
    const got = portMappingsFrom([
      { Proto: 17, IP: '', Port: 91, HostIP: '127.0.0.1', HostPort: 9001, HostPortEnd: 9001 },
      { Proto: 17, IP: '', Port: 90, HostIP: '127.0.0.1', HostPort: 9000, HostPortEnd: 9000 },
      pb(80, 8080),
    ], F);
    expect(got).toEqual([parsePortSpec('8080:80'), parsePortSpec('127.0.0.1:9000-9001:90-91/udp')]);
  });

  it('does not merge across protocols, host addresses, gaps, free ports or host-range choices', () => {
    const got = portMappingsFrom([
      pb(80, 8080),
      { ...pb(81, 8081), Proto: 17 },
      { ...pb(82, 8082), HostIP: '127.0.0.1' },
      pb(84, 8084),
      pb(85),
      pb(86),
      pb(87, 9000, { HostPortEnd: 9010 }),
      pb(88, 9011),
    ], F);
    expect(got.map((m) => `${m.proto} ${m.hostIp || '*'} ${m.containerPort}-${m.containerPortEnd}`)).toEqual([
      'tcp * 80-80', 'tcp * 84-84', 'tcp * 85-85', 'tcp * 86-86', 'tcp * 87-87', 'tcp * 88-88', 'tcp 127.0.0.1 82-82', 'udp * 81-81',
    ]);
    // Positive control: the same ports in a row on one protocol and address merge.
    expect(portMappingsFrom([pb(80, 8080), pb(81, 8081)], F)).toHaveLength(1);
  });

  it('null or absent is no ports (Go encodes an empty slice as null)', () => {
    expect(portMappingsFrom(null, F)).toEqual([]);
    expect(portMappingsFrom(undefined, F)).toEqual([]);
  });

  it.each([
    ['not a list', { a: 1 }, /is not a list/],
    ['ICMP', [{ Proto: 1, Port: 80 }], /\[0\]\.Proto: protocol number 1 is not tcp \(6\), udp \(17\) or sctp \(132\)/],
    ['port 0', [pb(0, 80)], /\[0\]: container port 0 is out of range/],
    ['port 70000', [pb(80, 70000)], /\[0\]: host port 70000 is out of range/],
    ['end before start', [pb(80, 9000, { HostPortEnd: 8000 })], /host port range 9000-8000 ends before it starts/],
    ['end without start', [pb(80, 0, { HostPortEnd: 8000 })], /HostPortEnd 8000 is given without HostPort/],
    ['a bad host address', [pb(80, 8080, { HostIP: 'localhost' })], /HostIP "localhost" is not an IP address/],
    ['a string port', [{ Proto: 6, Port: '80' }], /\[0\]: Port must be a number/],
  ])('refuses %s, naming the entry', (_what, value, err) => {
    const e = thrown(() => portMappingsFrom(value, F));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(err);
    expect(e.field).toMatch(/^Options\.com\.docker\.network\.portmap/);
  });
});

describe('mergeRanges', () => {
  it('leaves the input alone', () => {
    const a: PortMapping[] = [parsePortSpec('8080:80'), parsePortSpec('8081:81')];
    const copy = structuredClone(a);
    expect(mergeRanges(a)).toHaveLength(1);
    expect(a).toEqual(copy);
  });
});

describe('exposedPortsFrom', () => {
  it('reads TransportPorts', () => {
    expect(exposedPortsFrom([{ Proto: 6, Port: 80 }, { Proto: 17, Port: 53 }], 'x')).toEqual([{ proto: 'tcp', port: 80 }, { proto: 'udp', port: 53 }]);
  });
  it('refuses a bad protocol or port', () => {
    expect(thrown(() => exposedPortsFrom([{ Proto: 2, Port: 80 }], 'x')).message).toMatch(/x\[0\]\.Proto: protocol number 2/);
    expect(thrown(() => exposedPortsFrom([{ Proto: 6, Port: 0 }], 'x')).message).toMatch(/x\[0\]: port 0 is out of range/);
  });
  it('protoName maps the numbers', () => {
    expect([6, 17, 132].map((n) => protoName(n, 'p'))).toEqual(['tcp', 'udp', 'sctp']);
  });
});
