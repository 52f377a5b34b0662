import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { addressBytes, fastAnswerLength, readFastQuery, writeFastAnswer, TYPE_A, type FastEntry } from './fast-answer.js';
import { fitUdp, localReply, parseQuery } from './message.js';
import type { NetworkRecord } from '../model/types.js';

const net = { name: 'n1' } as NetworkRecord;

function query(name: string, type: 'A' | 'AAAA' | 'MX' | 'PTR', opts: { rd?: boolean; edns?: boolean; ednsVersion?: number; options?: { code: number; data: Buffer }[]; id?: number } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 0x1234,
    flags: opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.edns
      ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, ednsVersion: opts.ednsVersion ?? 0, flags: 0, options: opts.options ?? [] } as unknown as dnsPacket.Answer]
      : [],
  });
}

/** What the JavaScript path sends for `raw` when the name has `addresses` (none: NODATA). */
function jsAnswer(raw: Buffer, addresses: string[]): Buffer {
  const p = parseQuery(raw);
  if (!p.ok) throw new Error(p.why);
  const hit = addresses.length ? { kind: 'addresses' as const, network: net, holders: [], addresses } : { kind: 'nodata' as const, network: net, holders: [] };
  return fitUdp(p.query, localReply(p.query, hit)).buf;
}

function fastAnswer(raw: Buffer, addresses: string[]): Buffer | null {
  const q = readFastQuery(raw, 0, raw.length);
  if (!q) return null;
  const e: FastEntry = { rdata: addresses.map((a) => addressBytes(a, q.qtype)!) };
  if (fastAnswerLength(q, e) > q.udpSize) return null;
  const out = new Uint8Array(4096);
  // Written at an offset, from a query at an offset: the batch buffers hold many packets.
  const src = new Uint8Array(raw.length + 7);
  src.set(raw, 7);
  const len = writeFastAnswer(src, 7, readFastQuery(src, 7, raw.length)!, e, out, 100);
  expect(len).toBe(fastAnswerLength(q, e));
  return Buffer.from(out.subarray(100, 100 + len));
}

describe('fast path answers', () => {
  const cases: [string, Buffer, string[]][] = [
    ['A, one address', query('web', 'A'), ['10.0.0.2']],
    ['A, mixed case kept as asked', query('WeB.My-Net', 'A'), ['172.18.0.5']],
    ['A without RD', query('web', 'A', { rd: false, id: 7 }), ['10.0.0.2']],
    ['AAAA', query('db_1', 'AAAA'), ['fd00:1::2']],
    ['AAAA compressed zeros', query('db', 'AAAA'), ['::1']],
    ['NODATA (no address of that family)', query('web', 'AAAA'), []],
    ['EDNS0 with a cookie', query('web', 'A', { edns: true, options: [{ code: 10, data: Buffer.alloc(8, 0xab) }] }), ['10.0.0.2']],
    ['EDNS0 empty', query('web.n1', 'A', { edns: true }), ['10.0.0.2']],
  ];
  for (const [what, raw, addrs] of cases) {
    it(`are the JavaScript path's bytes: ${what}`, () => {
      const fast = fastAnswer(raw, addrs);
      expect(fast).not.toBeNull();
      expect(fast!.toString('hex')).toBe(jsAnswer(raw, addrs).toString('hex'));
    });
  }

  it('keys names case-insensitively and by type', () => {
    const a = readFastQuery(query('WEB', 'A'), 0, 100)!;
    expect(a).toBeNull(); // a wrong length is never fast
    const r1 = query('WEB.n1', 'A');
    const r2 = query('web.N1', 'A');
    const r3 = query('web.n1', 'AAAA');
    const k1 = readFastQuery(r1, 0, r1.length)!.key;
    expect(readFastQuery(r2, 0, r2.length)!.key).toBe(k1);
    expect(readFastQuery(r3, 0, r3.length)!.key).not.toBe(k1);
    expect(readFastQuery(r1, 0, r1.length)!.qtype).toBe(TYPE_A);
  });

  it('leaves everything else to the JavaScript path', () => {
    const fast = (b: Buffer) => readFastQuery(b, 0, b.length);
    expect(fast(query('web', 'A'))).not.toBeNull(); // positive control
    expect(fast(query('web', 'MX'))).toBeNull();
    expect(fast(query('2.0.0.10.in-addr.arpa', 'PTR'))).toBeNull();
    expect(fast(query('web', 'A', { edns: true, ednsVersion: 1 }))).toBeNull();
    expect(fast(query('web', 'A', { edns: true, options: [{ code: 8, data: Buffer.from([0, 1, 24, 0, 10, 0, 0]) }] }))).toBeNull();
    expect(fast(query('we b', 'A'))).toBeNull();
    expect(fast(Buffer.concat([query('web', 'A'), Buffer.from([0])]))).toBeNull(); // trailing byte
    const response = query('web', 'A');
    response[2]! |= 0x80;
    expect(fast(response)).toBeNull();
    const notify = query('web', 'A');
    notify[2]! |= 4 << 3;
    expect(fast(notify)).toBeNull();
    const twoQuestions = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'a', type: 'A' }, { name: 'b', type: 'A' }] });
    expect(fast(twoQuestions)).toBeNull();
    const chaos = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'web', type: 'A', class: 'CH' }] });
    expect(fast(chaos)).toBeNull();
    expect(fast(Buffer.alloc(12))).toBeNull();
  });

  it('does not answer what would need truncation', () => {
    const long = Array.from({ length: 3 }, () => 'x'.repeat(60)).join('.');
    const raw = query(long, 'A');
    expect(fastAnswer(raw, ['10.0.0.2'])).not.toBeNull(); // one record fits 512
    const q = readFastQuery(raw, 0, raw.length)!;
    const many: FastEntry = { rdata: [Uint8Array.of(10, 0, 0, 2), Uint8Array.of(10, 0, 0, 3)] };
    expect(fastAnswerLength(q, many)).toBeGreaterThan(q.udpSize);
  });

  it('reads addresses as record data', () => {
    expect([...addressBytes('10.1.2.3', 1)!]).toEqual([10, 1, 2, 3]);
    expect(Buffer.from(addressBytes('fd00::1:2', 28)!).toString('hex')).toBe('fd000000000000000000000000010002');
    expect(addressBytes('10.1.2', 1)).toBeNull();
    expect(addressBytes('::ffff:1.2.3.4', 28)).toBeNull();
  });
});
