import { describe, expect, it } from 'vitest';
import { addrBytes, addrText, attrs, getLinkRequest, isNetlinkOp, message, parseLink, parseReplies, request, RTM, NLM_F, type Resolve } from './rtnl.js';

const resolve: Resolve = {
  ifindex: (name) => ({ eth0: 7, 'br-a': 3 })[name] ?? (() => { throw new Error(`Cannot find device "${name}"`); })(),
  netnsFd: () => 42,
};

/** Attribute types and payloads at the top level of a buffer. */
function readAttrs(b: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off);
    out.set(b.readUInt16LE(off + 2), b.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}
const cstr = (b?: Buffer) => b?.toString('utf8').replace(/\0$/, '');

describe('rtnetlink requests', () => {
  it('lays out addresses as the kernel reads them', () => {
    expect([...addrBytes('10.1.2.3')]).toEqual([10, 1, 2, 3]);
    expect(addrBytes('fd00::1').toString('hex')).toBe('fd000000000000000000000000000001');
    expect(addrBytes('::').toString('hex')).toBe('0'.repeat(32));
    expect(addrBytes('2001:db8:0:0:1:0:0:2').toString('hex')).toBe('20010db8000000000001000000000002');
    expect(addrBytes('::ffff:10.0.0.1').toString('hex')).toBe('00000000000000000000ffff0a000001');
  });

  it('pads attributes to 4 bytes and frames a message with its length and sequence', () => {
    const a = attrs([[3, Buffer.from('ab\0')]]);
    expect(a.length).toBe(8);
    expect(a.readUInt16LE(0)).toBe(7);
    const m = message(RTM.NEWLINK, NLM_F.REQUEST, 9, a);
    expect(m.readUInt32LE(0)).toBe(24);
    expect(m.readUInt16LE(4)).toBe(RTM.NEWLINK);
    expect(m.readUInt32LE(8)).toBe(9);
  });

  it('creates a veth pair with the peer named, sized and placed in its namespace', () => {
    const r = request({ op: 'link.add.veth', name: 'veth1', peerName: 'eth0', peerNs: 'sb', peerMac: '02:42:0a:00:00:02', mtu: 1400 }, resolve);
    expect(r.type).toBe(RTM.NEWLINK);
    expect(r.flags & (NLM_F.CREATE | NLM_F.EXCL | NLM_F.ACK)).toBe(NLM_F.CREATE | NLM_F.EXCL | NLM_F.ACK);
    const top = readAttrs(r.body.subarray(16));
    expect(cstr(top.get(3))).toBe('veth1');
    expect(top.get(4)!.readUInt32LE(0)).toBe(1400);
    const info = readAttrs(top.get(18)!);
    expect(cstr(info.get(1))).toBe('veth');
    const peerMsg = readAttrs(info.get(2)!).get(1)!;
    const peer = readAttrs(peerMsg.subarray(16));
    expect(cstr(peer.get(3))).toBe('eth0');
    expect(peer.get(1)!.toString('hex')).toBe('02420a000002');
    expect(peer.get(28)!.readUInt32LE(0)).toBe(42);
    // No queue count unless asked: the kernel's default.
    expect(top.has(31) || peer.has(31)).toBe(false);
    const q = readAttrs(request({ op: 'link.add.veth', name: 'veth1', peerName: 'eth0', queues: 1 }, resolve).body.subarray(16));
    const qPeer = readAttrs(readAttrs(readAttrs(q.get(18)!).get(2)!).get(1)!.subarray(16));
    for (const a of [q, qPeer]) expect([a.get(31)!.readUInt32LE(0), a.get(32)!.readUInt32LE(0)]).toEqual([1, 1]);
  });

  it('sets a link up and enslaves it by name, hairpin as bridge-port data', () => {
    const up = request({ op: 'link.set', name: 'veth1', master: 'br-a', up: true }, resolve);
    expect(up.body.readUInt32LE(8)).toBe(1); // IFF_UP
    expect(up.body.readUInt32LE(12)).toBe(1); // change mask
    const a = readAttrs(up.body.subarray(16));
    expect(a.get(10)!.readUInt32LE(0)).toBe(3);
    expect(cstr(a.get(3))).toBe('veth1');
    const nomaster = readAttrs(request({ op: 'link.set', name: 'veth1', master: 'nomaster' }, resolve).body.subarray(16));
    expect(nomaster.get(10)!.readUInt32LE(0)).toBe(0);
    const hp = readAttrs(request({ op: 'link.set', name: 'veth1', hairpin: true }, resolve).body.subarray(16));
    const slave = readAttrs(hp.get(18)!);
    expect(cstr(slave.get(4))).toBe('bridge');
    expect(readAttrs(slave.get(5)!).get(4)![0]).toBe(1);
  });

  it('adds an IPv6 address without duplicate detection, an IPv4 one plainly', () => {
    const v6 = request({ op: 'addr.add', dev: 'eth0', cidr: 'fd00::2/64' }, resolve);
    expect(v6.type).toBe(RTM.NEWADDR);
    expect([v6.body[0], v6.body[1], v6.body[2]]).toEqual([10, 64, 0x02]);
    expect(v6.body.readUInt32LE(4)).toBe(7);
    const v4 = request({ op: 'addr.add', dev: 'eth0', cidr: '10.0.0.2/24' }, resolve);
    expect([v4.body[0], v4.body[1], v4.body[2]]).toEqual([2, 24, 0]);
    expect([...readAttrs(v4.body.subarray(8)).get(2)!]).toEqual([10, 0, 0, 2]);
  });

  it('replaces routes in the main table; a route without a gateway has link scope', () => {
    const def = request({ op: 'route.add', dst: 'default', via: 'fd00::1' }, resolve);
    expect(def.flags & NLM_F.REPLACE).toBe(NLM_F.REPLACE);
    expect([def.body[0], def.body[1], def.body[4], def.body[5], def.body[6], def.body[7]]).toEqual([10, 0, 254, 3, 0, 1]);
    const a = readAttrs(def.body.subarray(12));
    expect(a.has(1)).toBe(false);
    expect(a.get(5)!.toString('hex')).toBe('fd000000000000000000000000000001');
    const onLink = request({ op: 'route.add', dst: '10.5.0.0/16', dev: 'eth0' }, resolve);
    expect([onLink.body[1], onLink.body[6]]).toEqual([16, 253]);
    expect(readAttrs(onLink.body.subarray(12)).get(4)!.readUInt32LE(0)).toBe(7);
    const del = request({ op: 'route.del', dst: '10.5.0.0/16', dev: 'eth0' }, resolve);
    expect([del.type, del.body[6]]).toEqual([RTM.DELROUTE, 255]);
  });

  it('names a missing device before anything is sent', () => {
    expect(() => request({ op: 'addr.add', dev: 'nope', cidr: '10.0.0.1/24' }, resolve)).toThrow('Cannot find device "nope"');
  });

  it('leaves neighbours, forwarding entries and the other link kinds to ip', () => {
    expect(isNetlinkOp({ op: 'link.add.bridge', name: 'b' })).toBe(true);
    expect(isNetlinkOp({ op: 'neigh.replace', dev: 'v', ip: '10.0.0.1', mac: '02:00:00:00:00:01' })).toBe(false);
    expect(isNetlinkOp({ op: 'link.add.vxlan', name: 'v', vni: 1, dstport: 4789 })).toBe(false);
    expect(isNetlinkOp({ op: 'netns.add', name: 'n' })).toBe(false);
  });
});

describe('rtnetlink answers', () => {
  function errorMsg(seq: number, errno: number, text?: string): Buffer {
    const body = Buffer.alloc(4 + 16);
    body.writeInt32LE(-errno, 0);
    body.writeUInt32LE(16, 4); // echoed header (capped)
    const tlv = text ? attrs([[1, Buffer.from(`${text}\0`)]]) : Buffer.alloc(0);
    return message(2, text ? 0x300 : 0x100, seq, Buffer.concat([body, tlv]));
  }

  it('reads acks, refusals with the kernel reason, and a link lookup answer', () => {
    const link = message(RTM.NEWLINK, 0, 5, Buffer.concat([Buffer.from([0, 0, 1, 0, 9, 0, 0, 0]), Buffer.alloc(8)]));
    const replies = parseReplies(Buffer.concat([errorMsg(3, 0), errorMsg(4, 17, 'Nexthop has invalid gateway'), link]));
    expect(replies).toEqual([
      { kind: 'ack', seq: 3 },
      { kind: 'error', seq: 4, errno: 17, message: 'Nexthop has invalid gateway' },
      { kind: 'link', seq: 5, ifindex: 9 },
    ]);
    expect(parseReplies(errorMsg(6, 19))).toEqual([{ kind: 'error', seq: 6, errno: 19 }]);
  });

  it('asks for a link by name without its statistics', () => {
    const r = getLinkRequest('eth0');
    expect(r.type).toBe(RTM.GETLINK);
    const a = readAttrs(r.body.subarray(16));
    expect(cstr(a.get(3))).toBe('eth0');
    expect(a.get(29)!.readUInt32LE(0)).toBe(8);
  });
});

describe('rtnetlink dumps', () => {
  it('prints addresses as ip does: the longest run of two or more zero groups as ::', () => {
    for (const a of ['fd00::1', '::', '::1', 'fe80::42:aff:fe09:2', '2001:db8:0:1:0:0:0:2', '1:0:2:0:3:0:4:0', '10.9.0.1']) {
      const text = addrText(addrBytes(a));
      expect(text).toBe({ '2001:db8:0:1:0:0:0:2': '2001:db8:0:1::2' }[a] ?? a);
    }
  });
  it('reads a link: name, state, master, alias, kind and a bridge port hairpin', () => {
    const info = attrs([[1, Buffer.from('veth\0')], [4, Buffer.from('bridge\0')], [5, attrs([[4, Buffer.from([1])]])]]);
    const head = Buffer.alloc(16);
    head.writeInt32LE(12, 4);
    head.writeUInt32LE(1, 8);
    const mtu = Buffer.alloc(4);
    mtu.writeUInt32LE(1500);
    const master = Buffer.alloc(4);
    master.writeUInt32LE(3);
    const body = Buffer.concat([head, attrs([[3, Buffer.from('yv1\0')], [4, mtu], [1, Buffer.from([2, 0x42, 0, 0, 0, 1])], [10, master], [20, Buffer.from('switchyard:x:y')], [18, info]])]);
    expect(parseLink(body)).toEqual({ index: 12, name: 'yv1', up: true, mtu: 1500, mac: '02:42:00:00:00:01', masterIndex: 3, alias: 'switchyard:x:y', kind: 'veth', hairpin: true });
  });
});
