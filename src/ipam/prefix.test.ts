import { describe, expect, it } from 'vitest';
import {
  addrAdd,
  addrEquals,
  canonicalPrefix,
  formatAddr,
  formatPrefix,
  hasHostBits,
  lastAddr,
  parseAddr,
  parsePrefix,
  prefixContains,
  prefixContainsPrefix,
  prefixesOverlap,
  prefixSize,
  type Addr,
  type Prefix,
} from './prefix.js';

const A = (t: string): Addr => parseAddr(t)!;
const P = (t: string): Prefix => parsePrefix(t)!;
const roundTrip = (t: string) => formatAddr(A(t));

describe('parseAddr', () => {
  it('parses IPv4 dotted quads', () => {
    expect(parseAddr('10.20.0.5')).toEqual({ family: 4, value: 0x0a140005n });
    expect(parseAddr('0.0.0.0')).toEqual({ family: 4, value: 0n });
    expect(parseAddr('255.255.255.255')).toEqual({ family: 4, value: 0xffffffffn });
  });

  it.each([
    '',
    '10.0.0',
    '10.0.0.0.1',
    '256.0.0.1',
    '10.0.0.-1',
    '010.0.0.1', // leading zero: octal to some parsers
    '10.0.0.1 ',
    ' 10.0.0.1',
    '10..0.1',
    '1e1.0.0.1',
    '0x0a.0.0.1',
    '10.0.0.1/24',
  ])('rejects IPv4 %j', (t) => {
    expect(parseAddr(t)).toBeNull();
  });

  it('parses IPv6 in full, compressed and mixed forms', () => {
    expect(parseAddr('::')).toEqual({ family: 6, value: 0n });
    expect(parseAddr('::1')).toEqual({ family: 6, value: 1n });
    expect(parseAddr('1::')).toEqual({ family: 6, value: 1n << 112n });
    expect(parseAddr('fd00:0:0:0:0:0:0:1')!.value).toBe(parseAddr('fd00::1')!.value);
    expect(parseAddr('FD00::ABCD')!.value).toBe(parseAddr('fd00::abcd')!.value);
    expect(parseAddr('::ffff:10.0.0.1')).toEqual({ family: 6, value: 0xffff0a000001n });
    expect(parseAddr('1:2:3:4:5:6:10.0.0.1')!.value & 0xffffffffn).toBe(0x0a000001n);
    expect(parseAddr('0001:0002::0003')!.value).toBe(parseAddr('1:2::3')!.value);
  });

  it.each([
    ':',
    ':::',
    '1:::2',
    '1::2::3',
    ':1::2',
    '1::2:',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8', // :: must stand for at least one group
    '1::2:3:4:5:6:7:8',
    '12345::1',
    'g::1',
    'fe80::1%eth0',
    '[fd00::1]',
    '::10.0.0.1:1', // dotted part only at the end
    '10.0.0.1::',
    '::256.0.0.1',
    'fd00::1 ',
  ])('rejects IPv6 %j', (t) => {
    expect(parseAddr(t)).toBeNull();
  });
});

describe('formatAddr', () => {
  it('formats IPv4 dotted', () => {
    expect(formatAddr({ family: 4, value: 0xac110002n })).toBe('172.17.0.2');
  });

  it('formats IPv6 per RFC 5952', () => {
    expect(roundTrip('FD00:0000:0000:0000:0000:0000:0000:0001')).toBe('fd00::1');
    expect(roundTrip('0:0:0:0:0:0:0:0')).toBe('::');
    expect(roundTrip('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(roundTrip('2001:db8:0:0:0:0:0:0')).toBe('2001:db8::');
    // A single zero group is not compressed.
    expect(roundTrip('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    // The longest run wins...
    expect(roundTrip('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1');
    // ...and the first one on a tie.
    expect(roundTrip('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(roundTrip('fdd0:5957:7964:00a0::')).toBe('fdd0:5957:7964:a0::');
    expect(roundTrip('1:2:3:4:5:6:7:8')).toBe('1:2:3:4:5:6:7:8');
  });

  it('keeps the dotted tail of IPv4-mapped addresses', () => {
    expect(roundTrip('::ffff:a00:1')).toBe('::ffff:10.0.0.1');
  });
});

describe('parsePrefix / formatPrefix', () => {
  it('requires a length within the family', () => {
    expect(parsePrefix('10.0.0.0/8')).toEqual({ family: 4, base: 0x0a000000n, len: 8 });
    expect(parsePrefix('fd00::/64')).toEqual({ family: 6, base: 0xfd00n << 112n, len: 64 });
    expect(parsePrefix('0.0.0.0/0')).toEqual({ family: 4, base: 0n, len: 0 });
    expect(parsePrefix('::/128')).toEqual({ family: 6, base: 0n, len: 128 });
    for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/08', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/ 8', '/8', 'x/8']) {
      expect(parsePrefix(bad), bad).toBeNull();
    }
  });

  it('keeps host bits as typed, and hasHostBits/canonicalPrefix deal with them', () => {
    const p = P('10.20.0.5/24');
    expect(formatPrefix(p)).toBe('10.20.0.5/24');
    expect(hasHostBits(p)).toBe(true);
    expect(formatPrefix(canonicalPrefix(p))).toBe('10.20.0.0/24');
    expect(hasHostBits(P('10.20.0.0/24'))).toBe(false);
    expect(hasHostBits(P('10.20.0.5/32'))).toBe(false);
    expect(formatPrefix(canonicalPrefix(P('fd00::1:2/112')))).toBe('fd00::1:0/112');
    expect(formatPrefix(P('FD00:0:0::/64'))).toBe('fd00::/64');
  });
});

describe('containment and overlap', () => {
  it('prefixContains checks family and range', () => {
    const p = P('10.20.0.0/24');
    expect(prefixContains(p, A('10.20.0.0'))).toBe(true);
    expect(prefixContains(p, A('10.20.0.255'))).toBe(true);
    expect(prefixContains(p, A('10.20.1.0'))).toBe(false);
    expect(prefixContains(P('::/0'), A('10.20.0.1'))).toBe(false);
    expect(prefixContains(P('0.0.0.0/0'), A('10.20.0.1'))).toBe(true);
    // Host bits in the prefix do not move its range.
    expect(prefixContains(P('10.20.0.77/24'), A('10.20.0.3'))).toBe(true);
  });

  it('prefixContainsPrefix is directional', () => {
    expect(prefixContainsPrefix(P('10.0.0.0/8'), P('10.20.0.0/24'))).toBe(true);
    expect(prefixContainsPrefix(P('10.20.0.0/24'), P('10.0.0.0/8'))).toBe(false);
    expect(prefixContainsPrefix(P('10.20.0.0/24'), P('10.20.0.0/24'))).toBe(true);
    expect(prefixContainsPrefix(P('fd00::/48'), P('fd00:0:0:5::/64'))).toBe(true);
    expect(prefixContainsPrefix(P('fd00::/48'), P('fd01::/64'))).toBe(false);
  });

  it('prefixesOverlap is symmetric: bigger contains smaller and vice versa', () => {
    const big = P('172.18.0.0/16');
    const small = P('172.18.5.0/24');
    expect(prefixesOverlap(big, small)).toBe(true);
    expect(prefixesOverlap(small, big)).toBe(true);
    expect(prefixesOverlap(P('172.18.0.0/16'), P('172.19.0.0/16'))).toBe(false);
    expect(prefixesOverlap(P('10.0.0.0/8'), P('fd00::/8'))).toBe(false);
    expect(prefixesOverlap(P('fd00::/64'), P('fd00::8/125'))).toBe(true);
  });
});

describe('sizes and arithmetic', () => {
  it('prefixSize and lastAddr', () => {
    expect(prefixSize(P('10.0.0.0/24'))).toBe(256n);
    expect(prefixSize(P('10.0.0.0/32'))).toBe(1n);
    expect(prefixSize(P('fd00::/64'))).toBe(1n << 64n);
    expect(prefixSize(P('::/0'))).toBe(1n << 128n);
    expect(formatAddr(lastAddr(P('10.20.0.0/24')))).toBe('10.20.0.255');
    expect(formatAddr(lastAddr(P('10.20.0.9/24')))).toBe('10.20.0.255');
    expect(formatAddr(lastAddr(P('fd00::/64')))).toBe('fd00::ffff:ffff:ffff:ffff');
  });

  it('addrAdd carries across octets and refuses to leave the address space', () => {
    expect(formatAddr(addrAdd(A('10.0.0.255'), 1n))).toBe('10.0.1.0');
    expect(formatAddr(addrAdd(A('10.0.1.0'), -1n))).toBe('10.0.0.255');
    expect(formatAddr(addrAdd(A('fd00::ffff'), 1n))).toBe('fd00::1:0');
    expect(() => addrAdd(A('255.255.255.255'), 1n)).toThrow(RangeError);
    expect(() => addrAdd(A('0.0.0.0'), -1n)).toThrow(RangeError);
    expect(() => addrAdd(A('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 1n)).toThrow(RangeError);
  });

  it('addrEquals compares family and value', () => {
    expect(addrEquals(A('fd00::1'), A('FD00:0::1'))).toBe(true);
    expect(addrEquals(A('0.0.0.1'), A('::1'))).toBe(false);
    expect(addrEquals(A('10.0.0.1'), A('10.0.0.2'))).toBe(false);
  });
});
