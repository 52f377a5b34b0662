/**
 * rtnetlink messages, built and read as bytes: the requests the daemon sends the kernel
 * for links, addresses and routes in-process (kernel/netlink.ts), instead of an `ip`
 * process per change. Pure: no sockets here, so every encoding is unit-tested.
 *
 * Each request carries what `ip` itself sends for the same command line (ops.ts renders
 * that command line for `--dry-run` and explain): the same message type, flags, header
 * fields and attributes. Layouts are the kernel's uapi (linux/netlink.h, rtnetlink.h,
 * if_link.h, if_addr.h); integers are host order (little-endian on the machines this
 * runs on) except where the uapi says network order.
 */
import type { KernelOp } from '../plan/ops.js';

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  NEWROUTE: 24,
  DELROUTE: 25,
} as const;

export const NLM_F = { REQUEST: 0x1, ACK: 0x4, REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400 } as const;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
/** Set on an error/ack message that carries extended-ack attributes after the echoed header. */
const NLM_F_ACK_TLVS = 0x200;
/** The error message also echoes the whole request unless NETLINK_CAP_ACK is set: then only its header. */
const NLM_F_CAPPED = 0x100;
const NLMSGERR_ATTR_MSG = 1;

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const IFF_UP = 0x1;

const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, MASTER: 10, LINKINFO: 18, IFALIAS: 20, AF_SPEC: 26, NET_NS_FD: 28, EXT_MASK: 29, NUM_TX_QUEUES: 31, NUM_RX_QUEUES: 32 } as const;
/** In IFLA_AF_SPEC's AF_INET6 nest: how the link makes its link-local address (1: none). */
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;
const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
const VETH_INFO_PEER = 1;
const IFLA_BRPORT_MODE = 4;
/** IFLA_EXT_MASK: leave the statistics out of a link lookup's answer (most of its size). */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const IFA = { ADDRESS: 1, LOCAL: 2, FLAGS: 8 } as const;
const IFA_F_NODAD = 0x02;
const RTA = { DST: 1, OIF: 4, GATEWAY: 5 } as const;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE = { UNIVERSE: 0, LINK: 253, NOWHERE: 255 } as const;
const RTN_UNICAST = 1;

/** One attribute: type and payload; nested attributes are payloads built by `attrs`. */
type Attr = [type: number, payload: Buffer];

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Attributes laid out one after another, each padded to 4 bytes. */
export function attrs(list: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const [type, payload] of list) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(4 + payload.length, 0);
    head.writeUInt16LE(type, 2);
    parts.push(head, payload, Buffer.alloc(align4(payload.length) - payload.length));
  }
  return Buffer.concat(parts);
}

const str = (s: string) => Buffer.from(`${s}\0`, 'utf8');
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function u8(v: number): Buffer {
  return Buffer.from([v]);
}
function mac(m: string): Buffer {
  return Buffer.from(m.split(':').map((h) => parseInt(h, 16)));
}

/** The 4 or 16 bytes of an address (a dotted quad or any IPv6 text form, `::` included). */
export function addrBytes(a: string): Buffer {
  if (!a.includes(':')) return Buffer.from(a.split('.').map(Number));
  let text = a;
  const parts: number[] = [];
  // An embedded dotted quad (::ffff:10.0.0.1) is two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tailV4: number[] = [];
  if (v4) {
    tailV4 = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + '0:0';
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  for (const g of groups) parts.push(parseInt(g || '0', 16));
  const out = Buffer.alloc(16);
  parts.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tailV4.length) Buffer.from(tailV4).copy(out, 12);
  return out;
}

function ifinfomsg(o: { index?: number; flags?: number; change?: number; family?: number } = {}): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(o.family ?? AF_UNSPEC, 0);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt32LE(o.flags ?? 0, 8);
  b.writeUInt32LE(o.change ?? 0, 12);
  return b;
}

/** A whole netlink message: the 16-byte header (length, type, flags, sequence, port 0), then the body. */
export function message(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(16 + body.length, 0);
  head.writeUInt16LE(type, 4);
  head.writeUInt16LE(flags, 6);
  head.writeUInt32LE(seq >>> 0, 8);
  return Buffer.concat([head, body]);
}

/** What a request needs resolved before it can be built: interface indexes and namespace fds. */
export interface Resolve {
  /** The ifindex of `name` in the request's namespace; throws a clear error when there is none. */
  ifindex(name: string): number;
  /** An open fd of the named namespace under /run/netns (the caller closes it). */
  netnsFd(name: string): number;
}

/** The ops this module can send; the rest go to `ip`/`bridge` processes. */
export type NetlinkOp = Extract<
  KernelOp,
  { op: 'link.add.bridge' | 'link.add.veth' | 'link.del' | 'link.set' | 'addr.add' | 'addr.del' | 'route.add' | 'route.del' }
>;

export function isNetlinkOp(op: KernelOp): op is NetlinkOp {
  switch (op.op) {
    case 'link.add.bridge':
    case 'link.add.veth':
    case 'link.del':
    case 'link.set':
    case 'addr.add':
    case 'addr.del':
    case 'route.add':
    case 'route.del':
      return true;
    default:
      return false;
  }
}

function prefix(cidr: string): { addr: string; len: number; v6: boolean } {
  const [addr, len] = cidr.split('/');
  const v6 = addr!.includes(':');
  return { addr: addr!, len: len === undefined ? (v6 ? 128 : 32) : Number(len), v6 };
}

/** A new link's header and attributes: name, MTU, MAC, the namespace it is made in, its kind's data. */
function newLink(o: { name: string; mtu?: number; mac?: string; nsFd?: number; master?: number; queues?: number; info?: Buffer }): Buffer {
  const list: Attr[] = [[IFLA.IFNAME, str(o.name)]];
  if (o.mtu) list.push([IFLA.MTU, u32(o.mtu)]);
  if (o.queues) list.push([IFLA.NUM_TX_QUEUES, u32(o.queues)], [IFLA.NUM_RX_QUEUES, u32(o.queues)]);
  if (o.mac) list.push([IFLA.ADDRESS, mac(o.mac)]);
  if (o.nsFd !== undefined) list.push([IFLA.NET_NS_FD, u32(o.nsFd)]);
  if (o.master !== undefined) list.push([IFLA.MASTER, u32(o.master)]);
  if (o.info) list.push([IFLA.LINKINFO, o.info]);
  return Buffer.concat([ifinfomsg(), attrs(list)]);
}

/** The request (type, flags, body) for one op, as `ip` sends it. */
export function request(op: NetlinkOp, r: Resolve): { type: number; flags: number; body: Buffer } {
  const create = NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL;
  switch (op.op) {
    case 'link.add.bridge':
      return { type: RTM.NEWLINK, flags: create, body: newLink({ name: op.name, mtu: op.mtu, mac: op.mac, info: attrs([[IFLA_INFO.KIND, str('bridge')]]) }) };
    case 'link.add.veth': {
      const peer = newLink({ name: op.peerName, mtu: op.mtu, mac: op.peerMac, queues: op.queues, ...(op.peerNs ? { nsFd: r.netnsFd(op.peerNs) } : {}) });
      const info = attrs([[IFLA_INFO.KIND, str('veth')], [IFLA_INFO.DATA, attrs([[VETH_INFO_PEER, peer]])]]);
      const master = op.master !== undefined ? { master: r.ifindex(op.master) } : {};
      return { type: RTM.NEWLINK, flags: create, body: newLink({ name: op.name, mtu: op.mtu, queues: op.queues, info, ...master }) };
    }
    case 'link.del':
      // By name, as the kernel allows: no lookup round trip first.
      return { type: RTM.DELLINK, flags: NLM_F.REQUEST | NLM_F.ACK, body: Buffer.concat([ifinfomsg(), attrs([[IFLA.IFNAME, str(op.name)]])]) };
    case 'link.set': {
      // A rename names the link by index and carries the new name; otherwise the name identifies it.
      const list: Attr[] = [[IFLA.IFNAME, str(op.newName ?? op.name)]];
      if (op.master !== undefined) list.push([IFLA.MASTER, u32(op.master === 'nomaster' ? 0 : r.ifindex(op.master))]);
      if (op.mtu !== undefined) list.push([IFLA.MTU, u32(op.mtu)]);
      if (op.alias !== undefined) list.push([IFLA.IFALIAS, Buffer.from(op.alias, 'utf8')]);
      if (op.addrGenMode === 'none') list.push([IFLA.AF_SPEC, attrs([[AF_INET6, attrs([[IFLA_INET6_ADDR_GEN_MODE, u8(IN6_ADDR_GEN_MODE_NONE)]])]])]);
      if (op.hairpin !== undefined) {
        list.push([IFLA.LINKINFO, attrs([[IFLA_INFO.SLAVE_KIND, str('bridge')], [IFLA_INFO.SLAVE_DATA, attrs([[IFLA_BRPORT_MODE, u8(op.hairpin ? 1 : 0)]])]])]);
      }
      const flags = op.up === undefined ? {} : { flags: op.up ? IFF_UP : 0, change: IFF_UP };
      const index = op.newName !== undefined ? { index: r.ifindex(op.name) } : {};
      return { type: RTM.NEWLINK, flags: NLM_F.REQUEST | NLM_F.ACK, body: Buffer.concat([ifinfomsg({ ...flags, ...index }), attrs(list)]) };
    }
    case 'addr.add':
    case 'addr.del': {
      const p = prefix(op.cidr);
      const head = Buffer.alloc(8);
      head.writeUInt8(p.v6 ? AF_INET6 : AF_INET, 0);
      head.writeUInt8(p.len, 1);
      const nodad = op.op === 'addr.add' && p.v6;
      head.writeUInt8(nodad ? IFA_F_NODAD : 0, 2);
      head.writeUInt32LE(r.ifindex(op.dev), 4);
      const a = addrBytes(p.addr);
      const list: Attr[] = [
        [IFA.LOCAL, a],
        [IFA.ADDRESS, a],
      ];
      if (nodad) list.push([IFA.FLAGS, u32(IFA_F_NODAD)]);
      return op.op === 'addr.add'
        ? { type: RTM.NEWADDR, flags: create, body: Buffer.concat([head, attrs(list)]) }
        : { type: RTM.DELADDR, flags: NLM_F.REQUEST | NLM_F.ACK, body: Buffer.concat([head, attrs(list)]) };
    }
    case 'route.add':
    case 'route.del': {
      const v6 = op.via?.includes(':') || op.dst.includes(':');
      const dst = op.dst === 'default' ? { addr: '', len: 0, v6: !!v6 } : prefix(op.dst);
      const add = op.op === 'route.add';
      const head = Buffer.alloc(12);
      head.writeUInt8(v6 ? AF_INET6 : AF_INET, 0);
      head.writeUInt8(dst.len, 1);
      head.writeUInt8(RT_TABLE_MAIN, 4);
      if (add) {
        head.writeUInt8(RTPROT_BOOT, 5);
        // A route without a gateway reaches its destination on the link itself.
        head.writeUInt8(op.via ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK, 6);
        head.writeUInt8(RTN_UNICAST, 7);
      } else {
        head.writeUInt8(RT_SCOPE.NOWHERE, 6);
      }
      const list: Attr[] = [];
      if (dst.len > 0 || dst.addr) list.push([RTA.DST, addrBytes(dst.addr)]);
      if (op.via) list.push([RTA.GATEWAY, addrBytes(op.via)]);
      if (op.dev) list.push([RTA.OIF, u32(r.ifindex(op.dev))]);
      return {
        type: add ? RTM.NEWROUTE : RTM.DELROUTE,
        flags: add ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE : NLM_F.REQUEST | NLM_F.ACK,
        body: Buffer.concat([head, attrs(list)]),
      };
    }
  }
}

/** A link lookup by name, or by index (RTM_GETLINK); the answer is a link message or an error. */
export function getLinkRequest(link: string | number): { type: number; flags: number; body: Buffer } {
  const byName = typeof link === 'string';
  return {
    type: RTM.GETLINK,
    flags: NLM_F.REQUEST,
    body: Buffer.concat([ifinfomsg(byName ? {} : { index: link }), attrs([...(byName ? [[IFLA.IFNAME, str(link)] as Attr] : []), [IFLA.EXT_MASK, u32(RTEXT_FILTER_SKIP_STATS)]])]),
  };
}

/** One message read back from the kernel. */
export type Reply =
  | { kind: 'ack'; seq: number }
  | { kind: 'error'; seq: number; errno: number; message?: string }
  | { kind: 'link'; seq: number; ifindex: number }
  | { kind: 'other'; seq: number; type: number };

/** Every message in one datagram the kernel sent. */
export function parseReplies(buf: Buffer): Reply[] {
  const out: Reply[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    const flags = buf.readUInt16LE(off + 6);
    const seq = buf.readUInt32LE(off + 8);
    if (type === NLMSG_ERROR) {
      const errno = -buf.readInt32LE(off + 16);
      if (errno === 0) out.push({ kind: 'ack', seq });
      else {
        let message: string | undefined;
        if (flags & NLM_F_ACK_TLVS) {
          // After the error code: the echoed request's header (only the header when capped) and then the TLVs.
          const echoedLen = flags & NLM_F_CAPPED ? 16 : buf.readUInt32LE(off + 20);
          let a = off + 20 + align4(echoedLen);
          while (a + 4 <= off + len) {
            const alen = buf.readUInt16LE(a);
            const atype = buf.readUInt16LE(a + 2) & 0x3fff;
            if (alen < 4) break;
            if (atype === NLMSGERR_ATTR_MSG) message = buf.toString('utf8', a + 4, a + alen).replace(/\0+$/, '');
            a += align4(alen);
          }
        }
        out.push({ kind: 'error', seq, errno, ...(message ? { message } : {}) });
      }
    } else if (type === RTM.NEWLINK) {
      out.push({ kind: 'link', seq, ifindex: buf.readInt32LE(off + 16 + 4) });
    } else {
      out.push({ kind: 'other', seq, type });
    }
    off += align4(len);
  }
  return out;
}

// ------------------------------------------------------------------ reading back (dumps)

const NLM_F_DUMP = 0x300;
export const RTM_GETADDR = 22;
export const RTM_GETROUTE = 26;
const IFLA_INFO_SLAVE = { KIND: 4, DATA: 5 } as const;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;

/** A dump of every object of one kind (links, addresses or routes of a family). */
export function dumpRequest(type: number, family = AF_UNSPEC): { type: number; flags: number; body: Buffer } {
  if (type === RTM.GETLINK) {
    return { type, flags: NLM_F.REQUEST | NLM_F_DUMP, body: Buffer.concat([ifinfomsg({ family }), attrs([[IFLA.EXT_MASK, u32(RTEXT_FILTER_SKIP_STATS)]])]) };
  }
  const head = Buffer.alloc(type === RTM_GETROUTE ? 12 : 8);
  head.writeUInt8(family, 0);
  return { type, flags: NLM_F.REQUEST | NLM_F_DUMP, body: head };
}

/** Top-level attributes of a payload: type (without flag bits) to payload; the first of each type wins. */
export function readAttrs(b: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > b.length) break;
    const type = b.readUInt16LE(off + 2) & 0x3fff;
    if (!out.has(type)) out.set(type, b.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

const cstring = (b: Buffer | undefined) => (b ? b.toString('utf8').replace(/\0[\s\S]*$/, '') : undefined);

/** An address as `ip` prints it: a dotted quad, or IPv6 with the longest run of two or more zero groups as `::`. */
export function addrText(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export interface DumpedLink {
  index: number;
  name: string;
  up: boolean;
  mtu: number;
  mac?: string;
  masterIndex?: number;
  alias?: string;
  kind?: string;
  /** Set for bridge ports only. */
  hairpin?: boolean;
}

export interface DumpedAddr {
  index: number;
  family: 4 | 6;
  local: string;
  prefixlen: number;
  /** The kernel's scope number (253: link). */
  scope: number;
}

export interface DumpedRoute {
  family: 4 | 6;
  dst: string;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  oif?: number;
  gateway?: string;
  prefsrc?: string;
  priority?: number;
}

/** The messages of a dump chunk, as (type, body) pairs, and whether the dump is done. */
export function dumpMessages(buf: Buffer): { msgs: Array<{ type: number; seq: number; body: Buffer }>; done: boolean; errno?: number } {
  const msgs: Array<{ type: number; seq: number; body: Buffer }> = [];
  let off = 0;
  let done = false;
  let errno: number | undefined;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    const seq = buf.readUInt32LE(off + 8);
    if (type === NLMSG_DONE) done = true;
    else if (type === NLMSG_ERROR) {
      done = true;
      const e = -buf.readInt32LE(off + 16);
      if (e) errno = e;
    } else msgs.push({ type, seq, body: buf.subarray(off + 16, off + len) });
    off += align4(len);
  }
  return { msgs, done, ...(errno ? { errno } : {}) };
}

export function parseLink(body: Buffer): DumpedLink {
  const a = readAttrs(body.subarray(16));
  const info = a.get(IFLA.LINKINFO) ? readAttrs(a.get(IFLA.LINKINFO)!) : undefined;
  const macBuf = a.get(IFLA.ADDRESS);
  const slaveKind = cstring(info?.get(IFLA_INFO_SLAVE.KIND));
  const slaveData = info?.get(IFLA_INFO_SLAVE.DATA);
  const mode = slaveKind === 'bridge' && slaveData ? readAttrs(slaveData).get(IFLA_BRPORT_MODE) : undefined;
  return {
    index: body.readInt32LE(4),
    name: cstring(a.get(IFLA.IFNAME)) ?? '',
    up: (body.readUInt32LE(8) & IFF_UP) !== 0,
    mtu: a.get(IFLA.MTU)?.readUInt32LE(0) ?? 0,
    ...(macBuf && macBuf.length === 6 ? { mac: [...macBuf].map((x) => x.toString(16).padStart(2, '0')).join(':') } : {}),
    ...(a.get(IFLA.MASTER) ? { masterIndex: a.get(IFLA.MASTER)!.readUInt32LE(0) } : {}),
    ...(a.get(IFLA.IFALIAS) ? { alias: cstring(a.get(IFLA.IFALIAS)) } : {}),
    ...(info?.get(IFLA_INFO.KIND) ? { kind: cstring(info.get(IFLA_INFO.KIND)) } : {}),
    ...(slaveKind === 'bridge' ? { hairpin: !!mode && mode[0] === 1 } : {}),
  };
}

export function parseAddr(body: Buffer): DumpedAddr | undefined {
  const family = body[0] === AF_INET6 ? 6 : body[0] === AF_INET ? 4 : undefined;
  if (!family) return undefined;
  const a = readAttrs(body.subarray(8));
  const local = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS);
  if (!local) return undefined;
  return { index: body.readUInt32LE(4), family, local: addrText(local), prefixlen: body[1]!, scope: body[3]! };
}

export function parseRoute(body: Buffer): DumpedRoute | undefined {
  const family = body[0] === AF_INET6 ? 6 : body[0] === AF_INET ? 4 : undefined;
  if (!family) return undefined;
  const a = readAttrs(body.subarray(12));
  const dst = a.get(RTA.DST);
  return {
    family,
    dst: dst ? addrText(dst) : '',
    dstLen: body[1]!,
    table: a.get(RTA_TABLE)?.readUInt32LE(0) ?? body[4]!,
    protocol: body[5]!,
    scope: body[6]!,
    type: body[7]!,
    ...(a.get(RTA.OIF) ? { oif: a.get(RTA.OIF)!.readUInt32LE(0) } : {}),
    ...(a.get(RTA.GATEWAY) ? { gateway: addrText(a.get(RTA.GATEWAY)!) } : {}),
    ...(a.get(RTA_PREFSRC) ? { prefsrc: addrText(a.get(RTA_PREFSRC)!) } : {}),
    ...(a.get(RTA_PRIORITY) ? { priority: a.get(RTA_PRIORITY)!.readUInt32LE(0) } : {}),
  };
}

/** iproute2's names of route protocols (/etc/iproute2/rt_protos). */
export const ROUTE_PROTOCOLS: Record<number, string> = { 0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 18: 'keepalived', 42: 'babel', 186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp' };
/** iproute2's names of route scopes. */
export const ROUTE_SCOPES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };
export const RT_TABLE_MAIN_ID = RT_TABLE_MAIN;
export const RTN_UNICAST_TYPE = RTN_UNICAST;
