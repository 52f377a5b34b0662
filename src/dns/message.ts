/**
 * DNS messages for the embedded resolver (pure): reading a query, building the local
 * answer, truncating for UDP, and the error replies. The wire format is dns-packet's.
 *
 * Sizes: over UDP an answer fits the client's EDNS0 payload size (clamped to 512..4096),
 * or 512 bytes without EDNS0; a larger one goes out with TC set and no records, so the
 * client retries over TCP. Over TCP the limit is 65535.
 */
import dnsPacket from 'dns-packet';
import type { LocalAnswer } from './records.js';
import { LOCAL_TTL } from './records.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
export const rcodeName = (n: number) => RCODE_NAMES[n] ?? `RCODE${n}`;

const QR = 0x8000;
const TC = 0x0200;
const MAX_NAME = 253;
const OUR_UDP_SIZE = 4096;
export const MAX_TCP_MESSAGE = 65535;

export interface Query {
  id: number;
  /** RD bit of the query, echoed in the answer. */
  rd: boolean;
  question: dnsPacket.Question;
  /** EDNS0 OPT record present. */
  edns: boolean;
  ednsVersion: number;
  /** Largest UDP answer the client takes. */
  udpSize: number;
}

export type Parsed =
  | { ok: true; query: Query }
  /** Not answerable; `reply` is the error answer to send, or null to stay silent. */
  | { ok: false; reply: Buffer | null; why: string };

/** Read a query; never throws. */
export function parseQuery(buf: Buffer): Parsed {
  if (buf.length < 12) return { ok: false, reply: null, why: `${buf.length}-byte packet is shorter than a DNS header` };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  // Answering a response could make two resolvers ping-pong for ever.
  if (flags & QR) return { ok: false, reply: null, why: 'packet is a response, not a query' };
  const rd = !!(flags & 0x0100);
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { ok: false, reply: headerOnly(id, rd, RCODE.NOTIMP), why: `opcode ${opcode} is not QUERY` };
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(buf);
  } catch (e) {
    return { ok: false, reply: headerOnly(id, rd, RCODE.FORMERR), why: `malformed: ${(e as Error).message}` };
  }
  const questions = packet.questions ?? [];
  if (questions.length !== 1) return { ok: false, reply: headerOnly(id, rd, RCODE.FORMERR), why: `${questions.length} questions (1 expected)` };
  const question = questions[0]!;
  if (question.name.length > MAX_NAME || typeof question.type !== 'string') {
    return { ok: false, reply: headerOnly(id, rd, RCODE.FORMERR), why: 'question name too long or type unreadable' };
  }
  const opt = (packet.additionals ?? []).find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
  const udpSize = opt ? Math.min(OUR_UDP_SIZE, Math.max(512, opt.udpPayloadSize || 512)) : 512;
  return {
    ok: true,
    query: { id, rd, question, edns: !!opt, ednsVersion: opt ? ((opt as unknown as { ednsVersion?: number }).ednsVersion ?? 0) : 0, udpSize },
  };
}

function headerOnly(id: number, rd: boolean, rcode: number): Buffer {
  return dnsPacket.encode({ type: 'response', id, flags: (rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE | rcode });
}

function optRecord(extendedRcode = 0): dnsPacket.Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: OUR_UDP_SIZE, extendedRcode, ednsVersion: 0, flags: 0, options: [] } as unknown as dnsPacket.Answer;
}

/** An answer with the query's question, our OPT when the client sent one, and `rcode`. */
export function reply(q: Query, rcode: number, answers: dnsPacket.Answer[] = [], authoritative = false): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: (q.rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE | (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rcode,
    questions: [q.question],
    answers,
    additionals: q.edns ? [optRecord()] : [],
  });
}

/** EDNS versions other than 0: BADVERS (extended rcode 16 = OPT's upper bits 1, header 0). */
export function badVersion(q: Query): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: (q.rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE,
    questions: [q.question],
    additionals: [optRecord(1)],
  });
}

/** The wire answer for a local hit (addresses, PTR or NODATA). */
export function localReply(q: Query, hit: Exclude<LocalAnswer, { kind: 'none' }>): Buffer {
  const name = q.question.name;
  if (hit.kind === 'ptr') return reply(q, RCODE.NOERROR, [{ type: 'PTR', name, ttl: LOCAL_TTL, data: hit.target }], true);
  if (hit.kind === 'nodata') return reply(q, RCODE.NOERROR, [], true);
  const type = q.question.type === 'AAAA' ? 'AAAA' : 'A';
  return reply(q, RCODE.NOERROR, hit.addresses.map((data) => ({ type, name, ttl: LOCAL_TTL, data })), true);
}

/**
 * Fit an answer into the transport: over UDP, a message larger than the client takes is
 * replaced by the same header with TC set, the question, no records (plus OPT).
 */
export function fitUdp(q: Query, answer: Buffer): { buf: Buffer; truncated: boolean } {
  if (answer.length <= q.udpSize) return { buf: answer, truncated: false };
  const flags = answer.length >= 4 ? answer.readUInt16BE(2) : 0;
  const buf = dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: (flags & 0x7fff) | TC,
    questions: [q.question],
    additionals: q.edns ? [optRecord()] : [],
  });
  return { buf, truncated: true };
}

/** Header facts of a message from upstream, without decoding the rest. */
export function headerOf(buf: Buffer): { id: number; response: boolean; rcode: number; truncated: boolean } | null {
  if (buf.length < 12) return null;
  const flags = buf.readUInt16BE(2);
  return { id: buf.readUInt16BE(0), response: !!(flags & QR), rcode: flags & 0xf, truncated: !!(flags & TC) };
}

/** A copy of `buf` with the message ID replaced. */
export function withId(buf: Buffer, id: number): Buffer {
  const out = Buffer.from(buf);
  out.writeUInt16BE(id, 0);
  return out;
}

/** Summary of an answer for explain and logs: rcode and records as text. */
export function describeAnswer(buf: Buffer): { rcode: string; truncated: boolean; answers: string[] } {
  try {
    const p = dnsPacket.decode(buf);
    const h = headerOf(buf)!;
    return {
      rcode: rcodeName(h.rcode),
      truncated: h.truncated,
      answers: (p.answers ?? []).map((a) => {
        const data = (a as { data?: unknown }).data;
        return `${a.name} ${'ttl' in a ? a.ttl : ''} ${a.type} ${typeof data === 'string' ? data : JSON.stringify(data)}`;
      }),
    };
  } catch {
    return { rcode: 'unreadable', truncated: false, answers: [] };
  }
}
