/**
 * The resolver's fast path, as bytes (pure): recognise the hot query (one question, A or
 * AAAA, class IN, a plain name, no records but an optional EDNS0 OPT of version 0) straight
 * from the packet, and write its answer from a precomputed entry, with the query's ID, RD
 * bit and question (case as asked) copied in. The bytes are exactly what the JavaScript
 * path (message.ts through dns-packet) sends for the same query; fast-answer.test.ts
 * compares them. Anything else (other types, compression, odd labels, EDNS versions
 * other than 0, answers that would need truncation) is not "fast": the JavaScript path
 * answers it.
 */
/** Docker's TTL for container records. */
export const LOCAL_TTL = 600;
export const TYPE_A = 1;
export const TYPE_AAAA = 28;
const TYPE_OPT = 41;
const OUR_UDP_SIZE = 4096;
const MAX_NAME = 253;

export interface FastQuery {
  /** Lower-cased question name in wire form (length-prefixed labels, latin1), plus the type: the cache key within one socket. */
  key: string;
  qtype: number;
  /** Offset just past the question's name (its terminating zero byte included). */
  nameEnd: number;
  edns: boolean;
  /** Largest UDP answer the client takes. */
  udpSize: number;
}

/** A cached answer: the records' data (none: NODATA), for one (socket, name, type). */
export interface FastEntry {
  rdata: Uint8Array[];
}

/** A label byte the fast path copies as is ([A-Za-z0-9_-]): dns-packet round-trips those unchanged. */
function plain(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f;
}

/** The fast query at `p[off .. off+len)`, or null when the JavaScript path must answer it. */
export function readFastQuery(p: Uint8Array, off: number, len: number): FastQuery | null {
  if (len < 17) return null;
  const end = off + len;
  // QR 0, opcode QUERY; other flag bits do not change the answer.
  if ((p[off + 2]! & 0xf8) !== 0) return null;
  // One question, no answers or authority, at most one additional (the OPT).
  if (p[off + 4] !== 0 || p[off + 5] !== 1 || p[off + 6] !== 0 || p[off + 7] !== 0 || p[off + 8] !== 0 || p[off + 9] !== 0 || p[off + 10] !== 0) return null;
  const ar = p[off + 11]!;
  if (ar > 1) return null;
  let i = off + 12;
  let chars = -1;
  let key = '';
  while (i < end) {
    const l = p[i]!;
    if (l === 0) break;
    if (l > 63 || i + 1 + l >= end) return null;
    key += String.fromCharCode(l);
    for (let j = i + 1; j <= i + l; j++) {
      const b = p[j]!;
      if (!plain(b)) return null;
      key += String.fromCharCode(b >= 0x41 && b <= 0x5a ? b + 32 : b);
    }
    chars += l + 1;
    i += l + 1;
  }
  if (i >= end || chars < 1 || chars > MAX_NAME) return null;
  const nameEnd = i + 1;
  if (nameEnd + 4 > end) return null;
  const qtype = (p[nameEnd]! << 8) | p[nameEnd + 1]!;
  if (qtype !== TYPE_A && qtype !== TYPE_AAAA) return null;
  if (p[nameEnd + 2] !== 0 || p[nameEnd + 3] !== 1) return null;
  let at = nameEnd + 4;
  let edns = false;
  let udpSize = 512;
  if (ar === 1) {
    // OPT: root name, type 41, class = payload size, TTL = ext-rcode, version, flags; rdata.
    if (at + 11 > end || p[at] !== 0 || ((p[at + 1]! << 8) | p[at + 2]!) !== TYPE_OPT) return null;
    if (p[at + 6] !== 0) return null; // EDNS version: others get BADVERS from the JavaScript path
    const size = (p[at + 3]! << 8) | p[at + 4]!;
    udpSize = Math.min(OUR_UDP_SIZE, Math.max(512, size || 512));
    const rdlen = (p[at + 9]! << 8) | p[at + 10]!;
    at += 11;
    const optEnd = at + rdlen;
    if (optEnd > end) return null;
    // Options must tile the data exactly; those dns-packet reads into fields (ECS, keepalive,
    // key tags) may fail to decode there, so they are left to the JavaScript path.
    while (at < optEnd) {
      if (at + 4 > optEnd) return null;
      const code = (p[at]! << 8) | p[at + 1]!;
      if (code === 8 || code === 11 || code === 14) return null;
      at += 4 + ((p[at + 2]! << 8) | p[at + 3]!);
    }
    if (at !== optEnd) return null;
    edns = true;
  }
  if (at !== end) return null;
  return { key: `${qtype}:${key}`, qtype, nameEnd: nameEnd - off, edns, udpSize };
}

/** Answer size for `q` from `e` (the JavaScript path sends the same length). */
export function fastAnswerLength(q: FastQuery, e: FastEntry): number {
  const nameLen = q.nameEnd - 12;
  let n = q.nameEnd + 4;
  for (const r of e.rdata) n += nameLen + 10 + r.length;
  return n + (q.edns ? 11 : 0);
}

/**
 * Write the answer to query `p[off..)` at `out[at..)`; returns its length. The caller has
 * checked that `fastAnswerLength` fits `q.udpSize` and the room at `at`.
 */
export function writeFastAnswer(p: Uint8Array, off: number, q: FastQuery, e: FastEntry, out: Uint8Array, at: number): number {
  out[at] = p[off]!;
  out[at + 1] = p[off + 1]!;
  // QR, RD as asked, AA; RA; rcode NOERROR.
  out[at + 2] = 0x84 | (p[off + 2]! & 0x01);
  out[at + 3] = 0x80;
  out[at + 4] = 0;
  out[at + 5] = 1;
  out[at + 6] = 0;
  out[at + 7] = e.rdata.length;
  out[at + 8] = 0;
  out[at + 9] = 0;
  out[at + 10] = 0;
  out[at + 11] = q.edns ? 1 : 0;
  const qEnd = q.nameEnd + 4;
  out.set(p.subarray(off + 12, off + qEnd), at + 12);
  let w = at + qEnd;
  for (const r of e.rdata) {
    // dns-packet writes every name in full (no compression): the question's name again.
    out.set(p.subarray(off + 12, off + q.nameEnd), w);
    w += q.nameEnd - 12;
    out[w] = 0;
    out[w + 1] = q.qtype;
    out[w + 2] = 0;
    out[w + 3] = 1;
    out[w + 4] = (LOCAL_TTL >>> 24) & 0xff;
    out[w + 5] = (LOCAL_TTL >>> 16) & 0xff;
    out[w + 6] = (LOCAL_TTL >>> 8) & 0xff;
    out[w + 7] = LOCAL_TTL & 0xff;
    out[w + 8] = 0;
    out[w + 9] = r.length;
    out.set(r, w + 10);
    w += 10 + r.length;
  }
  if (q.edns) {
    // Our OPT: root, type 41, payload 4096, ext-rcode 0, version 0, flags 0, no options.
    out[w] = 0;
    out[w + 1] = 0;
    out[w + 2] = TYPE_OPT;
    out[w + 3] = OUR_UDP_SIZE >> 8;
    out[w + 4] = OUR_UDP_SIZE & 0xff;
    out.fill(0, w + 5, w + 11);
    w += 11;
  }
  return w - at;
}

/** The record data of an address ("10.0.0.2", "fd00::2") for a cache entry; null if unreadable. */
export function addressBytes(address: string, qtype: number): Uint8Array | null {
  if (qtype === TYPE_A) {
    const parts = address.split('.').map(Number);
    if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return null;
    return Uint8Array.from(parts);
  }
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  if (h.some((g) => g.includes('.')) || t.some((g) => g.includes('.'))) return null;
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return null;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const v = parseInt(groups[i] || '0', 16);
    if (!(v >= 0 && v <= 0xffff)) return null;
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  }
  return out;
}
