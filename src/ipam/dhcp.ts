/**
 * DHCP IPAM (`--ipam-driver dhcp`, macvlan and ipvlan l2): the DHCPv4 wire format (RFC 2131
 * and 2132) and the client's decisions, all pure. The engine's lease room
 * (engine/leases.ts) runs the exchanges through a socket the kernel room opens inside the
 * sandbox's namespace (kernel/dhcp-socket.ts).
 *
 * Everything a server sends is checked before it reaches a record, an address or a
 * route: the offered address must be a unicast address inside the subnet the mask gives,
 * the router must be on that subnet, DNS servers must be unicast IPv4 addresses, and the
 * times are clamped so that no server can make the daemon renew in a busy loop.
 */
import { YardError } from '../errors.js';

const MAGIC = 0x63825363;
const HEADER = 236;
/** BOOTP's minimum message (some servers drop shorter ones). */
const MIN_SIZE = 300;

export const MSG = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;
export type MsgType = (typeof MSG)[keyof typeof MSG];

export const OPT = {
  pad: 0,
  subnetMask: 1,
  router: 3,
  dns: 6,
  hostname: 12,
  requestedIp: 50,
  leaseTime: 51,
  msgType: 53,
  serverId: 54,
  paramList: 55,
  message: 56,
  maxSize: 57,
  t1: 58,
  t2: 59,
  clientId: 61,
  end: 255,
} as const;

/** The flag that asks the server to broadcast its answer (we cannot take unicast before we have an address). */
const BROADCAST_FLAG = 0x8000;

export interface DhcpMessage {
  op: 1 | 2;
  xid: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  /** Client hardware address, "aa:bb:cc:dd:ee:ff". */
  chaddr: string;
  /** Options by code, raw bytes (the first occurrence; RFC 3396 concatenation is not used here). */
  options: Map<number, Buffer>;
}

// ---------------------------------------------------------------- addresses

export function ipToBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts);
}
export const bytesToIp = (b: Buffer, off = 0): string => `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
const ipToInt = (ip: string): number => ipToBytes(ip).readUInt32BE(0);

function macBytes(mac: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new Error(`not a MAC address: ${mac}`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/** A contiguous netmask's prefix length, or undefined. */
export function maskToPrefixLen(mask: string): number | undefined {
  const n = ipToInt(mask);
  for (let len = 1; len <= 32; len++) if (maskOf(len) === n) return len;
  return undefined;
}
const maskOf = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

/** A unicast IPv4 address a host may hold (not 0/8, loopback, multicast, reserved or limited broadcast). */
export function isUnicastV4(ip: string): boolean {
  const first = ipToBytes(ip)[0]!;
  return first !== 0 && first !== 127 && first < 224;
}

// ---------------------------------------------------------------- encode / decode

export interface EncodeInput {
  type: MsgType;
  xid: number;
  mac: string;
  clientId: Buffer;
  /** Our address, when renewing or releasing (RFC 2131 table 5). */
  ciaddr?: string;
  requestedIp?: string;
  serverId?: string;
  hostname?: string;
  /** Ask for a broadcast answer: true while we have no address. */
  broadcast?: boolean;
  secs?: number;
}

const PARAMS = [OPT.subnetMask, OPT.router, OPT.dns, OPT.leaseTime, OPT.serverId, OPT.t1, OPT.t2];

export function encodeMessage(m: EncodeInput): Buffer {
  const head = Buffer.alloc(HEADER);
  head[0] = 1; // BOOTREQUEST
  head[1] = 1; // Ethernet
  head[2] = 6;
  head.writeUInt32BE(m.xid >>> 0, 4);
  head.writeUInt16BE(Math.min(65535, m.secs ?? 0), 8);
  head.writeUInt16BE(m.broadcast ? BROADCAST_FLAG : 0, 10);
  if (m.ciaddr) ipToBytes(m.ciaddr).copy(head, 12);
  macBytes(m.mac).copy(head, 28);
  const opts: Buffer[] = [];
  const add = (code: number, value: Buffer) => {
    if (value.length > 255) throw new Error(`DHCP option ${code} longer than 255 bytes`);
    opts.push(Buffer.from([code, value.length]), value);
  };
  add(OPT.msgType, Buffer.from([m.type]));
  add(OPT.clientId, m.clientId);
  if (m.requestedIp) add(OPT.requestedIp, ipToBytes(m.requestedIp));
  if (m.serverId) add(OPT.serverId, ipToBytes(m.serverId));
  if (m.type !== MSG.RELEASE && m.type !== MSG.DECLINE) {
    add(OPT.paramList, Buffer.from(PARAMS));
    const max = Buffer.alloc(2);
    max.writeUInt16BE(1500);
    add(OPT.maxSize, max);
    if (m.hostname) add(OPT.hostname, Buffer.from(m.hostname.slice(0, 63), 'ascii'));
  }
  const cookie = Buffer.alloc(4);
  cookie.writeUInt32BE(MAGIC);
  const msg = Buffer.concat([head, cookie, ...opts, Buffer.from([OPT.end])]);
  return msg.length >= MIN_SIZE ? msg : Buffer.concat([msg, Buffer.alloc(MIN_SIZE - msg.length)]);
}

/** A message from the wire, or undefined when it is not a well-formed DHCP message. */
export function decodeMessage(buf: Buffer): DhcpMessage | undefined {
  if (buf.length < HEADER + 4 || buf.readUInt32BE(HEADER) !== MAGIC) return undefined;
  const op = buf[0];
  if ((op !== 1 && op !== 2) || buf[1] !== 1 || buf[2] !== 6) return undefined;
  const options = new Map<number, Buffer>();
  let i = HEADER + 4;
  while (i < buf.length) {
    const code = buf[i]!;
    if (code === OPT.end) break;
    if (code === OPT.pad) {
      i++;
      continue;
    }
    if (i + 1 >= buf.length) return undefined;
    const len = buf[i + 1]!;
    if (i + 2 + len > buf.length) return undefined;
    if (!options.has(code)) options.set(code, Buffer.from(buf.subarray(i + 2, i + 2 + len)));
    i += 2 + len;
  }
  return {
    op,
    xid: buf.readUInt32BE(4),
    flags: buf.readUInt16BE(10),
    ciaddr: bytesToIp(buf, 12),
    yiaddr: bytesToIp(buf, 16),
    siaddr: bytesToIp(buf, 20),
    chaddr: [...buf.subarray(28, 34)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    options,
  };
}

export function messageType(m: DhcpMessage): number | undefined {
  const t = m.options.get(OPT.msgType);
  return t?.length === 1 ? t[0] : undefined;
}

function ipOption(m: DhcpMessage, code: number): string | undefined {
  const v = m.options.get(code);
  return v && v.length >= 4 ? bytesToIp(v) : undefined;
}
function ipListOption(m: DhcpMessage, code: number): string[] {
  const v = m.options.get(code);
  const out: string[] = [];
  for (let i = 0; v && i + 4 <= v.length; i += 4) out.push(bytesToIp(v, i));
  return out;
}
function u32Option(m: DhcpMessage, code: number): number | undefined {
  const v = m.options.get(code);
  return v?.length === 4 ? v.readUInt32BE(0) : undefined;
}

/** An answer to our request: a server reply with our transaction ID and our client identifier (when it echoes one). */
export function isAnswerTo(m: DhcpMessage, xid: number, clientId: Buffer): boolean {
  const echoed = m.options.get(OPT.clientId);
  return m.op === 2 && m.xid === xid >>> 0 && (!echoed || echoed.equals(clientId));
}

// ---------------------------------------------------------------- the lease

/** A lease as the endpoint's record keeps it. */
export interface DhcpLease {
  /** "a.b.c.d/len": the address and the subnet's length from the mask. */
  address: string;
  /** The server that granted it (option 54). */
  server: string;
  router?: string;
  dns: string[];
  /** Lease time in seconds, as granted. */
  leaseSeconds: number;
  /** RFC 3339 times: when it was granted, when to renew (T1), rebind (T2), when it runs out. */
  obtained: string;
  renewAt: string;
  rebindAt: string;
  expires: string;
  /** Option 61 as sent, hex: 01+MAC for macvlan, 00+endpoint-derived bytes for ipvlan. */
  clientId: string;
}

/** The shortest renewal interval the daemon accepts from a server, so none can make it spin. */
export const MIN_RENEW_SECONDS = 5;
/** Leases longer than this are treated as this long (and "infinite", 0xffffffff, too): the daemon still renews. */
export const MAX_LEASE_SECONDS = 7 * 24 * 3600;

/**
 * The lease an ACK grants, checked: undefined with a reason when the answer cannot be used.
 */
export function leaseFromAck(m: DhcpMessage, clientId: Buffer, now: Date): { lease?: DhcpLease; reason?: string } {
  if (messageType(m) !== MSG.ACK) return { reason: 'not an ACK' };
  const addr = m.yiaddr;
  if (addr === '0.0.0.0' || !isUnicastV4(addr)) return { reason: `the offered address ${addr} is not a unicast address` };
  const server = ipOption(m, OPT.serverId) ?? (m.siaddr !== '0.0.0.0' ? m.siaddr : undefined);
  if (!server || !isUnicastV4(server)) return { reason: 'the answer names no server (option 54)' };
  const maskOpt = ipOption(m, OPT.subnetMask);
  const len = maskOpt ? maskToPrefixLen(maskOpt) : classfulLen(addr);
  if (len === undefined || len > 30) return { reason: `the subnet mask ${maskOpt} is not usable` };
  const netOf = (ip: string) => (ipToInt(ip) & maskOf(len)) >>> 0;
  const bcast = (netOf(addr) | ~maskOf(len)) >>> 0;
  if (ipToInt(addr) === netOf(addr) || ipToInt(addr) === bcast) return { reason: `the offered address ${addr} is the subnet's network or broadcast address` };
  const routerRaw = ipListOption(m, OPT.router)[0];
  const router = routerRaw && isUnicastV4(routerRaw) && netOf(routerRaw) === netOf(addr) && routerRaw !== addr ? routerRaw : undefined;
  const dns = ipListOption(m, OPT.dns).filter(isUnicastV4).slice(0, 3);
  let leaseSeconds = u32Option(m, OPT.leaseTime) ?? MAX_LEASE_SECONDS;
  leaseSeconds = Math.max(2 * MIN_RENEW_SECONDS, Math.min(leaseSeconds, MAX_LEASE_SECONDS));
  const t1 = clamp(u32Option(m, OPT.t1) ?? Math.floor(leaseSeconds / 2), MIN_RENEW_SECONDS, leaseSeconds);
  const t2 = clamp(u32Option(m, OPT.t2) ?? Math.floor((leaseSeconds * 7) / 8), t1, leaseSeconds);
  const at = (s: number) => new Date(now.getTime() + s * 1000).toISOString();
  return {
    lease: {
      address: `${addr}/${len}`,
      server,
      ...(router ? { router } : {}),
      dns,
      leaseSeconds,
      obtained: now.toISOString(),
      renewAt: at(t1),
      rebindAt: at(t2),
      expires: at(leaseSeconds),
      clientId: clientId.toString('hex'),
    },
  };
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(v, hi));
function classfulLen(ip: string): number {
  const first = ipToBytes(ip)[0]!;
  return first < 128 ? 8 : first < 192 ? 16 : 24;
}

/** The reason a NAK gives (option 56), for the error message. */
export function nakReason(m: DhcpMessage): string {
  const t = m.options.get(OPT.message);
  return t ? t.toString('latin1').replace(/[^\x20-\x7e]/g, '?').slice(0, 120) : 'no reason given';
}

// ---------------------------------------------------------------- identities

/**
 * Option 61. macvlan: the endpoint has its own MAC, so the identifier is the usual
 * 01 + MAC. ipvlan shares the parent's MAC with the host and every other child, so the
 * identifier must tell endpoints apart: type 0 followed by "yard-" and the endpoint ID's
 * first 24 hex digits (stable for the endpoint's life, different for every endpoint).
 */
export function clientIdFor(ep: { id: string; mac?: string }, sharesParentMac: boolean): Buffer {
  if (!sharesParentMac && ep.mac) return Buffer.concat([Buffer.from([1]), macBytes(ep.mac)]);
  return Buffer.concat([Buffer.from([0]), Buffer.from(`yard-${ep.id.slice(0, 24)}`, 'ascii')]);
}

/**
 * A macvlan endpoint's MAC before it has an address (the default IPAM derives it from the
 * IPv4 address): locally administered, from the endpoint ID, so it is stable for the
 * endpoint's life and the server gives the same lease back after a restart.
 */
export function macForDhcpEndpoint(endpointId: string): string {
  return ['02', '5a', ...(endpointId.slice(0, 8).match(/../g) ?? [])].join(':');
}

/** A transaction ID (random, non-zero). */
export function newXid(rand: () => number = Math.random): number {
  return (Math.floor(rand() * 0xfffffffe) + 1) >>> 0;
}

// ---------------------------------------------------------------- options of the network

export const DHCP_IPAM = 'dhcp';
/** IPAM options of a dhcp network (`--ipam-opt key=value`). */
export const DHCP_IPAM_OPT = { timeout: 'timeout' } as const;
export const DEFAULT_DHCP_TIMEOUT_S = 10;
const MAX_DHCP_TIMEOUT_S = 120;

/** How long an acquisition waits for the server, in ms: `--ipam-opt timeout=SECONDS` (1-120, default 10). */
export function dhcpTimeoutMs(options: Record<string, string> | null | undefined): number {
  const raw = options?.[DHCP_IPAM_OPT.timeout];
  if (raw === undefined) return DEFAULT_DHCP_TIMEOUT_S * 1000;
  const m = /^([0-9]{1,3})s?$/.exec(raw);
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 1 && n <= MAX_DHCP_TIMEOUT_S)) {
    throw new YardError('INVALID_ARGUMENT', `--ipam-opt ${DHCP_IPAM_OPT.timeout}=${raw} is not a number of seconds from 1 to ${MAX_DHCP_TIMEOUT_S}`, {
      field: `--ipam-opt ${DHCP_IPAM_OPT.timeout}`,
      hint: `give e.g. ${DHCP_IPAM_OPT.timeout}=${DEFAULT_DHCP_TIMEOUT_S} (seconds)`,
    });
  }
  return n * 1000;
}

/** Refuse IPAM options a dhcp network does not know. */
export function checkDhcpIpamOptions(options: Record<string, string> | null | undefined): void {
  for (const k of Object.keys(options ?? {})) {
    if (!Object.values(DHCP_IPAM_OPT).includes(k as never)) {
      throw new YardError('INVALID_ARGUMENT', `--ipam-opt ${k}: the dhcp IPAM driver has no option ${k}`, {
        field: '--ipam-opt',
        hint: `known options: ${Object.values(DHCP_IPAM_OPT).join(', ')}`,
      });
    }
  }
  dhcpTimeoutMs(options);
}

/** Retransmission delays within a deadline: 1 s, 2 s, 4 s, 4 s, ... (RFC 2131 4.1 backs off from 4 s; a LAN answers in milliseconds). */
export function retransmitDelays(totalMs: number): number[] {
  const out: number[] = [];
  let t = 0;
  for (let d = 1000; t + d < totalMs; d = Math.min(d * 2, 4000)) {
    out.push(d);
    t += d;
  }
  return out;
}
