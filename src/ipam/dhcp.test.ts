import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import {
  checkDhcpIpamOptions,
  clientIdFor,
  decodeMessage,
  dhcpTimeoutMs,
  encodeMessage,
  isAnswerTo,
  leaseFromAck,
  macForDhcpEndpoint,
  maskToPrefixLen,
  messageType,
  MSG,
  nakReason,
  OPT,
  retransmitDelays,
} from './dhcp.js';
import { ip, MAC, reply, u32 } from '../../test/unit/dhcp-fake.js';

const EP = 'ab'.repeat(32);

const ACK_OPTS: [number, number[]][] = [
  [OPT.serverId, ip('10.231.0.1')],
  [OPT.leaseTime, u32(120)],
  [OPT.t1, u32(8)],
  [OPT.subnetMask, ip('255.255.255.0')],
  [OPT.router, ip('10.231.0.1')],
  [OPT.dns, [...ip('10.231.0.1'), ...ip('127.0.0.1'), ...ip('10.231.0.53')]],
];

describe('DHCP messages', () => {
  it('encodes a DISCOVER the way RFC 2131 lays it out, and decodes it back', () => {
    const clientId = clientIdFor({ id: EP, mac: MAC }, false);
    const buf = encodeMessage({ type: MSG.DISCOVER, xid: 0xdeadbeef, mac: MAC, clientId, hostname: 'web', requestedIp: '10.231.0.150', broadcast: true });
    expect(buf.length).toBeGreaterThanOrEqual(300);
    expect(buf[0]).toBe(1);
    expect(buf.readUInt16BE(10)).toBe(0x8000);
    const m = decodeMessage(buf)!;
    expect(m).toMatchObject({ op: 1, xid: 0xdeadbeef, chaddr: MAC, ciaddr: '0.0.0.0' });
    expect(messageType(m)).toBe(MSG.DISCOVER);
    expect(m.options.get(OPT.clientId)).toEqual(clientId);
    expect(m.options.get(OPT.hostname)!.toString()).toBe('web');
    expect([...m.options.get(OPT.requestedIp)!]).toEqual([10, 231, 0, 150]);
    expect([...m.options.get(OPT.paramList)!]).toEqual(expect.arrayContaining([1, 3, 6, 51, 54, 58, 59]));
  });

  it('a RELEASE carries our address in ciaddr and the server, and no parameter list', () => {
    const m = decodeMessage(encodeMessage({ type: MSG.RELEASE, xid: 1, mac: MAC, clientId: Buffer.from([1, 2]), ciaddr: '10.231.0.150', serverId: '10.231.0.1' }))!;
    expect(m.ciaddr).toBe('10.231.0.150');
    expect(m.options.has(OPT.paramList)).toBe(false);
    expect([...m.options.get(OPT.serverId)!]).toEqual([10, 231, 0, 1]);
  });

  it('refuses what is not a DHCP message: short, wrong cookie, truncated option', () => {
    expect(decodeMessage(Buffer.alloc(100))).toBeUndefined();
    const good = reply(7, MSG.ACK, '10.231.0.150', ACK_OPTS);
    const badCookie = Buffer.from(good);
    badCookie.writeUInt32BE(1, 236);
    expect(decodeMessage(badCookie)).toBeUndefined();
    const truncated = Buffer.concat([good.subarray(0, 240), Buffer.from([OPT.router, 8, 10, 0])]);
    expect(decodeMessage(truncated)).toBeUndefined();
    expect(decodeMessage(good)).toBeDefined();
  });

  it('an answer is ours only with our xid and, when echoed, our client identifier', () => {
    const cid = clientIdFor({ id: EP }, true);
    const m = decodeMessage(reply(42, MSG.OFFER, '10.231.0.150', [[OPT.clientId, [...cid]]]))!;
    expect(isAnswerTo(m, 42, cid)).toBe(true);
    expect(isAnswerTo(m, 43, cid)).toBe(false);
    expect(isAnswerTo(m, 42, clientIdFor({ id: 'cd'.repeat(32) }, true))).toBe(false);
  });
});

describe('leases from an ACK', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  it('takes address, mask, router, DNS (unicast only, at most 3) and the times', () => {
    const { lease } = leaseFromAck(decodeMessage(reply(1, MSG.ACK, '10.231.0.150', ACK_OPTS))!, Buffer.from([1, 2, 3]), now);
    expect(lease).toEqual({
      address: '10.231.0.150/24',
      server: '10.231.0.1',
      router: '10.231.0.1',
      dns: ['10.231.0.1', '10.231.0.53'],
      leaseSeconds: 120,
      obtained: '2026-01-01T00:00:00.000Z',
      renewAt: '2026-01-01T00:00:08.000Z',
      rebindAt: '2026-01-01T00:01:45.000Z',
      expires: '2026-01-01T00:02:00.000Z',
      clientId: '010203',
    });
  });

  it('refuses unusable answers: broadcast or multicast address, no server, a bad mask', () => {
    const ack = (y: string, opts = ACK_OPTS) => leaseFromAck(decodeMessage(reply(1, MSG.ACK, y, opts))!, Buffer.from([1]), now);
    expect(ack('10.231.0.255').reason).toMatch(/broadcast/);
    expect(ack('224.0.0.1').reason).toMatch(/not a unicast/);
    expect(ack('10.231.0.150', ACK_OPTS.filter(([c]) => c !== OPT.serverId)).reason).toMatch(/no server/);
    expect(ack('10.231.0.150', [...ACK_OPTS.filter(([c]) => c !== OPT.subnetMask), [OPT.subnetMask, ip('255.0.255.0')]]).reason).toMatch(/mask/);
  });

  it('ignores a router off the subnet, and clamps times so no server makes the daemon spin', () => {
    const opts: [number, number[]][] = [[OPT.serverId, ip('10.231.0.1')], [OPT.subnetMask, ip('255.255.255.0')], [OPT.router, ip('192.168.1.1')], [OPT.leaseTime, u32(1)], [OPT.t1, u32(0)]];
    const { lease } = leaseFromAck(decodeMessage(reply(1, MSG.ACK, '10.231.0.150', opts))!, Buffer.from([1]), now);
    expect(lease!.router).toBeUndefined();
    expect(lease!.leaseSeconds).toBe(10);
    expect(Date.parse(lease!.renewAt) - now.getTime()).toBe(5_000);
  });

  it('a NAK says why, printable only', () => {
    const m = decodeMessage(reply(1, MSG.NAK, '0.0.0.0', [[OPT.message, [...Buffer.from('address in use\x07')]]]))!;
    expect(nakReason(m)).toBe('address in use?');
  });
});

describe('identities and options', () => {
  it('macvlan: 01 + its own MAC; ipvlan (shared parent MAC): type 0 + an endpoint-derived ID, distinct per endpoint', () => {
    expect(clientIdFor({ id: EP, mac: MAC }, false).toString('hex')).toBe('01025aabababab');
    const a = clientIdFor({ id: EP, mac: MAC }, true);
    const b = clientIdFor({ id: 'cd'.repeat(32), mac: MAC }, true);
    expect(a[0]).toBe(0);
    expect(a.subarray(1).toString()).toBe(`yard-${EP.slice(0, 24)}`);
    expect(a.equals(b)).toBe(false);
    expect(macForDhcpEndpoint(EP)).toBe(MAC);
  });

  it('masks, timeouts and retransmissions', () => {
    expect(maskToPrefixLen('255.255.255.0')).toBe(24);
    expect(maskToPrefixLen('255.255.255.255')).toBe(32);
    expect(maskToPrefixLen('255.0.255.0')).toBeUndefined();
    expect(dhcpTimeoutMs(null)).toBe(10_000);
    expect(dhcpTimeoutMs({ timeout: '3' })).toBe(3_000);
    expect(dhcpTimeoutMs({ timeout: '30s' })).toBe(30_000);
    for (const bad of ['0', '121', '-1', '1.5', 'ten']) expect(() => dhcpTimeoutMs({ timeout: bad }), bad).toThrow(YardError);
    expect(() => checkDhcpIpamOptions({ renew: '5' })).toThrow(/no option renew/);
    expect(retransmitDelays(10_000)).toEqual([1000, 2000, 4000]);
    expect(retransmitDelays(3_000)).toEqual([1000]);
  });
});
