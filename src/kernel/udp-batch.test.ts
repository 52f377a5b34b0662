import dgram from 'node:dgram';
import koffi from 'koffi';
import { afterEach, describe, expect, it } from 'vitest';
import { addressOf, Epoll, sendTo, UdpBatch, Wakeup } from './udp-batch.js';

const c = koffi.load('libc.so.6');
const socket = c.func('int socket(int domain, int type, int protocol)');
const bind = c.func('int bind(int fd, const void *addr, uint32_t len)');
const getsockname = c.func('int getsockname(int fd, void *addr, _Inout_ uint32_t *len)');
const close = c.func('int close(int fd)');

/** A non-blocking UDP socket on 127.0.0.1 (an ephemeral port) that Node does not own, and its port. */
function rawUdp(): { fd: number; port: number } {
  const fd = socket(2, 2 | 0o4000 | 0o2000000, 0) as number;
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(2, 0);
  sa.set([127, 0, 0, 1], 4);
  expect(bind(fd, sa, 16)).toBe(0);
  const len = [16];
  getsockname(fd, sa, len);
  return { fd, port: sa.readUInt16BE(2) };
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

function client(): Promise<{ sock: dgram.Socket; got: string[] }> {
  const sock = dgram.createSocket('udp4');
  cleanup.push(() => sock.close());
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString()));
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve({ sock, got })));
}

const settle = () => new Promise((r) => setTimeout(r, 100));
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('batched UDP', () => {
  it('receives several datagrams in one call and answers each sender in one send', async () => {
    const s = rawUdp();
    cleanup.push(() => close(s.fd));
    const ep = new Epoll(8);
    cleanup.push(() => ep.close());
    const b = new UdpBatch(8, 2048, 512);
    cleanup.push(() => b.close());
    ep.add(s.fd, 42);
    expect(b.recv(s.fd)).toBe(0); // nothing waits: no block, no error
    const { sock, got } = await client();
    for (let i = 0; i < 5; i++) sock.send(`q${i}`, s.port, '127.0.0.1');
    await settle(); // Node sends from its event loop, which epoll_wait would block
    expect(ep.wait(2000)).toBe(1);
    expect(ep.data(0)).toBe(42);
    const n = b.recv(s.fd);
    expect(n).toBe(5);
    for (let i = 0; i < n; i++) {
      const text = Buffer.from(b.u8.subarray(b.packetAt(i), b.packetAt(i) + b.length(i))).toString();
      expect(text).toBe(`q${i}`);
      expect(b.truncated(i)).toBe(false);
      expect(addressOf(b.u8.subarray(b.nameAt(i), b.nameAt(i) + b.nameLength(i)))).toBe('127.0.0.1');
      const reply = Buffer.from(`a${i}`);
      b.u8.set(reply, b.replyAt(i));
      b.queue(i, reply.length);
    }
    expect(b.flush(s.fd)).toBe(5);
    await until(() => got.length === 5);
    expect(got).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
  });

  it('says when a datagram was longer than its slot', async () => {
    const s = rawUdp();
    cleanup.push(() => close(s.fd));
    const b = new UdpBatch(2, 16, 16);
    cleanup.push(() => b.close());
    const { sock } = await client();
    sock.send('short', s.port, '127.0.0.1');
    sock.send('x'.repeat(40), s.port, '127.0.0.1');
    await settle();
    expect(b.recv(s.fd)).toBe(2);
    expect(b.truncated(0)).toBe(false);
    expect(b.truncated(1)).toBe(true);
  });

  it('answers one sender with sendTo, and an eventfd wakes epoll', async () => {
    const s = rawUdp();
    cleanup.push(() => close(s.fd));
    const b = new UdpBatch(1, 64, 64);
    cleanup.push(() => b.close());
    const { sock, got } = await client();
    sock.send('hi', s.port, '127.0.0.1');
    await settle();
    expect(b.recv(s.fd)).toBe(1);
    expect(sendTo(s.fd, Buffer.from('there'), Buffer.from(b.u8.slice(b.nameAt(0), b.nameAt(0) + b.nameLength(0))))).toBe(true);
    await until(() => got.length === 1);
    expect(got).toEqual(['there']);

    const ep = new Epoll(2);
    cleanup.push(() => ep.close());
    const w = new Wakeup();
    cleanup.push(() => w.close());
    ep.add(w.fd, 7);
    expect(ep.wait(0)).toBe(0); // positive control below
    w.signal();
    expect(ep.wait(1000)).toBe(1);
    expect(ep.data(0)).toBe(7);
    w.drain();
    expect(ep.wait(0)).toBe(0);
  });
});
