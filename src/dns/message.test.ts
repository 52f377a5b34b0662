import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { fitUdp, localReply, parseQuery, RCODE, reply } from './message.js';
import { forward, type Transport } from './upstream.js';

const query = (name: string, type: dnsPacket.RecordType = 'A', opts: { edns?: number; id?: number } = {}) =>
  dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, flags: 0, options: [] } as unknown as dnsPacket.Answer] : [],
  });

function parsed(buf: Buffer) {
  const p = parseQuery(buf);
  if (!p.ok) throw new Error(p.why);
  return p.query;
}

describe('parseQuery', () => {
  it('reads the question and the EDNS0 payload size (clamped)', () => {
    expect(parsed(query('web1'))).toMatchObject({ id: 4242, rd: true, edns: false, udpSize: 512, question: { name: 'web1', type: 'A' } });
    expect(parsed(query('web1', 'A', { edns: 1232 }))).toMatchObject({ edns: true, udpSize: 1232 });
    expect(parsed(query('web1', 'A', { edns: 100 })).udpSize).toBe(512);
    expect(parsed(query('web1', 'A', { edns: 65000 })).udpSize).toBe(4096);
  });

  it('never throws on garbage: short packets and responses are dropped, the rest get FORMERR/NOTIMP', () => {
    expect(parseQuery(Buffer.alloc(0))).toMatchObject({ ok: false, reply: null });
    expect(parseQuery(Buffer.from([1, 2, 3]))).toMatchObject({ ok: false, reply: null });
    const resp = Buffer.from(query('x'));
    resp[2]! |= 0x80;
    expect(parseQuery(resp)).toMatchObject({ ok: false, reply: null });
    const truncated = query('a-rather-long-name.example').subarray(0, 20);
    const r = parseQuery(truncated);
    expect(r.ok).toBe(false);
    const formerr = dnsPacket.decode((r as { reply: Buffer }).reply);
    expect([formerr.id, formerr.rcode]).toEqual([4242, 'FORMERR']);
    const noQuestion = Buffer.from(query('x').subarray(0, 12));
    noQuestion.writeUInt16BE(0, 4);
    expect(dnsPacket.decode((parseQuery(noQuestion) as { reply: Buffer }).reply).rcode).toBe('FORMERR');
    const notify = Buffer.from(query('x'));
    notify[2] = (notify[2]! & 0x87) | (4 << 3);
    expect(dnsPacket.decode((parseQuery(notify) as { reply: Buffer }).reply).rcode).toBe('NOTIMP');
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(Array.from({ length: (i % 80) + 1 }, (_, j) => (i * 31 + j * 7) & 0xff));
      expect(() => parseQuery(junk)).not.toThrow();
    }
  });
});

describe('answers', () => {
  it('builds an authoritative local answer with TTL 600 and echoes OPT', () => {
    const q = parsed(query('Web2', 'A', { edns: 1232 }));
    const a = dnsPacket.decode(localReply(q, { kind: 'addresses', network: {} as never, holders: [], addresses: ['172.18.0.3', '172.18.0.4'] }));
    expect(a.flag_aa).toBe(true);
    expect(a.answers?.map((x) => [x.name, (x as { ttl: number }).ttl, (x as { data: string }).data])).toEqual([
      ['Web2', 600, '172.18.0.3'],
      ['Web2', 600, '172.18.0.4'],
    ]);
    expect(a.additionals?.[0]?.type).toBe('OPT');
  });

  it('sets TC and drops the records when the answer exceeds the UDP size', () => {
    const addresses = Array.from({ length: 40 }, (_, i) => `10.0.0.${i + 1}`);
    const q = parsed(query('svc'));
    const full = localReply(q, { kind: 'addresses', network: {} as never, holders: [], addresses });
    expect(full.length).toBeGreaterThan(512);
    const { buf, truncated } = fitUdp(q, full);
    const d = dnsPacket.decode(buf);
    expect([truncated, d.flag_tc, d.answers?.length, d.questions?.[0]?.name]).toEqual([true, true, 0, 'svc']);
    expect(fitUdp(parsed(query('svc', 'A', { edns: 4096 })), full).truncated).toBe(false);
  });
});

describe('forward', () => {
  const answerWith = (rcode: number) => reply(parsed(query('foo.lab')), rcode);
  function fake(script: Record<string, Buffer | null>): Transport & { asked: string[] } {
    const asked: string[] = [];
    return {
      asked,
      pending: 0,
      close() {},
      async exchange(server, q) {
        asked.push(server);
        const a = script[server];
        return a ? Buffer.from(a) : null;
      },
    };
  }

  it('moves on after a timeout, SERVFAIL or REFUSED and passes NXDOMAIN through', async () => {
    const t = fake({ '10.0.0.1': null, '10.0.0.2': answerWith(RCODE.SERVFAIL), '10.0.0.3': answerWith(RCODE.NXDOMAIN), '10.0.0.4': answerWith(0) });
    const r = await forward(t, ['10.0.0.1', '10.0.0.2', '10.0.0.3'], query('foo.lab', 'A', { id: 777 }), false, 10);
    expect(t.asked).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(r.server).toBe('10.0.0.3');
    expect(r.timeouts).toBe(1);
    const d = dnsPacket.decode(r.reply!);
    expect([d.id, d.rcode]).toEqual([777, 'NXDOMAIN']);
  });

  it('returns the last SERVFAIL/REFUSED when nobody does better, and null when nobody answers', async () => {
    const r = await forward(fake({ a: answerWith(RCODE.REFUSED) }), ['a', 'b'], query('x'), false, 10);
    expect(dnsPacket.decode(r.reply!).rcode).toBe('REFUSED');
    expect((await forward(fake({}), ['a'], query('x'), false, 10)).reply).toBeNull();
  });
});
