/**
 * Batched UDP for the resolver's fast path: epoll over many datagram sockets, recvmmsg and
 * sendmmsg (one system call for a whole batch of packets), an eventfd to wake a thread
 * blocked in epoll_wait, and sendto for a single answer. Called through koffi (Node has no
 * API for any of them); meant for a worker thread that blocks in `wait` (a thread of its
 * own: the daemon's event loop never blocks here).
 *
 * Memory: one native region per `UdpBatch` holds `slots` receive buffers, each with room
 * for the sender's address, a reply buffer per slot, and the mmsghdr/iovec arrays the
 * kernel reads, all pointing into the region itself. JavaScript reads and writes the
 * packets through a Uint8Array view of it (no copy per packet). Layouts are Linux x86-64
 * and arm64 (LP64): iovec 16 bytes, msghdr 56, mmsghdr 64, epoll_event 12 (packed on
 * x86-64) or 16 (arm64).
 */
import os from 'node:os';
import koffi from 'koffi';

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLLIN = 1;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
export const EAGAIN = 11;
export const EINTR = 4;

const IOVEC = 16;
const MSGHDR = 56;
const MMSGHDR = 64;
const NAME = 32; // room for a sockaddr_in6 (28)
const EVENT = os.arch() === 'x64' ? 12 : 16;
const EVENT_DATA = os.arch() === 'x64' ? 4 : 8;

type Ptr = unknown;

interface Lib {
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, ev: Buffer | null): number;
  epoll_wait(epfd: number, events: Ptr, max: number, timeout: number): number;
  eventfd(init: number, flags: number): number;
  write(fd: number, buf: Buffer, len: number): number;
  read(fd: number, buf: Buffer, len: number): number;
  recvmmsg(fd: number, vec: Ptr, vlen: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, vec: Ptr, vlen: number, flags: number): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number): number;
  malloc(n: number): Ptr;
  free(p: Ptr): void;
  close(fd: number): number;
}

let lib: Lib | undefined;
function getLib(): Lib {
  if (lib) return lib;
  const c = koffi.load('libc.so.6');
  lib = {
    epoll_create1: c.func('int epoll_create1(int flags)'),
    epoll_ctl: c.func('int epoll_ctl(int epfd, int op, int fd, void *ev)'),
    epoll_wait: c.func('int epoll_wait(int epfd, void *events, int max, int timeout)'),
    eventfd: c.func('int eventfd(unsigned int init, int flags)'),
    write: c.func('intptr_t write(int fd, const void *buf, size_t len)'),
    read: c.func('intptr_t read(int fd, void *buf, size_t len)'),
    recvmmsg: c.func('int recvmmsg(int fd, void *vec, unsigned int vlen, int flags, void *timeout)'),
    sendmmsg: c.func('int sendmmsg(int fd, void *vec, unsigned int vlen, int flags)'),
    sendto: c.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)'),
    malloc: c.func('void *malloc(size_t n)'),
    free: c.func('void free(void *p)'),
    close: c.func('int close(int fd)'),
  } as Lib;
  return lib;
}

export class UdpBatchError extends Error {
  constructor(
    what: string,
    readonly errno = koffi.errno(),
  ) {
    super(`${what}: errno ${errno}`);
    this.name = 'UdpBatchError';
  }
}

/** An epoll set whose events carry a number (the caller's index of the socket). */
export class Epoll {
  readonly fd: number;
  private events: Ptr;
  private view: DataView;
  private ev = Buffer.alloc(EVENT + 4);

  constructor(readonly max = 64) {
    const c = getLib();
    this.fd = c.epoll_create1(EPOLL_CLOEXEC);
    if (this.fd < 0) throw new UdpBatchError('epoll_create1');
    this.events = c.malloc(EVENT * max);
    if (!this.events) {
      c.close(this.fd);
      throw new UdpBatchError('malloc');
    }
    this.view = new DataView(koffi.view(this.events, EVENT * max));
  }

  add(fd: number, data: number): void {
    this.ev.fill(0);
    this.ev.writeUInt32LE(EPOLLIN, 0);
    this.ev.writeUInt32LE(data, EVENT_DATA);
    if (getLib().epoll_ctl(this.fd, EPOLL_CTL_ADD, fd, this.ev) !== 0) throw new UdpBatchError(`epoll_ctl add ${fd}`);
  }

  del(fd: number): void {
    getLib().epoll_ctl(this.fd, EPOLL_CTL_DEL, fd, this.ev);
  }

  /** Block up to `timeoutMs`; the number of ready sockets (0 on timeout or EINTR). */
  wait(timeoutMs: number): number {
    const n = getLib().epoll_wait(this.fd, this.events, this.max, timeoutMs);
    if (n < 0) {
      if (koffi.errno() === EINTR) return 0;
      throw new UdpBatchError('epoll_wait');
    }
    return n;
  }

  /** The number given to `add` for ready event `i`. */
  data(i: number): number {
    return this.view.getUint32(i * EVENT + EVENT_DATA, true);
  }

  close(): void {
    getLib().close(this.fd);
    getLib().free(this.events);
  }
}

/** An eventfd: `signal` from any thread wakes an epoll_wait that watches it. */
export class Wakeup {
  readonly fd: number;
  private one = Buffer.alloc(8);
  private sink = Buffer.alloc(8);

  constructor() {
    this.fd = getLib().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.fd < 0) throw new UdpBatchError('eventfd');
    this.one.writeBigUInt64LE(1n);
  }

  signal(): void {
    getLib().write(this.fd, this.one, 8);
  }

  drain(): void {
    getLib().read(this.fd, this.sink, 8);
  }

  close(): void {
    getLib().close(this.fd);
  }
}

const sink = Buffer.alloc(8);
/** Reset a non-blocking eventfd by number (another thread's `Wakeup`). */
export function drainEventfd(fd: number): void {
  getLib().read(fd, sink, 8);
}

/**
 * Receive and send buffers for `slots` datagrams at a time. After `recv(fd)` returns n,
 * packet i (< n) is at `u8[packetAt(i) .. packetAt(i) + length(i))`, its sender's address
 * at `nameAt(i)` (`nameLength(i)` bytes); `truncated(i)` says it was longer than the slot.
 * A reply is written at `replyAt(i)` and queued with `queue(i, len)`; `flush(fd)` sends
 * every queued reply to its packet's sender in one sendmmsg.
 */
export class UdpBatch {
  readonly u8: Uint8Array;
  private dv: DataView;
  private region: Ptr;
  private base: bigint;
  private recvVec: Ptr;
  private sendVec: Ptr;
  private queued = 0;
  private readonly recvHdrs: number;
  private readonly sendHdrs: number;
  private readonly names: number;
  private readonly packets: number;
  private readonly replies: number;

  constructor(
    readonly slots: number,
    readonly packetSize: number,
    readonly replySize: number,
  ) {
    const c = getLib();
    this.recvHdrs = 0;
    this.sendHdrs = this.recvHdrs + MMSGHDR * slots;
    const recvIov = this.sendHdrs + MMSGHDR * slots;
    const sendIov = recvIov + IOVEC * slots;
    this.names = sendIov + IOVEC * slots;
    this.packets = this.names + NAME * slots;
    this.replies = this.packets + packetSize * slots;
    const size = this.replies + replySize * slots;
    this.region = c.malloc(size);
    if (!this.region) throw new UdpBatchError('malloc');
    this.base = koffi.address(this.region);
    const ab = koffi.view(this.region, size);
    this.u8 = new Uint8Array(ab);
    this.dv = new DataView(ab);
    // Only the headers need zeroing; the packet and reply buffers stay untouched (not resident) until used.
    this.u8.fill(0, 0, this.packets);
    const addr = (off: number) => this.base + BigInt(off);
    for (let i = 0; i < slots; i++) {
      const r = this.recvHdrs + MMSGHDR * i;
      this.dv.setBigUint64(r, addr(this.names + NAME * i), true); // msg_name
      this.dv.setUint32(r + 8, NAME, true); // msg_namelen
      this.dv.setBigUint64(r + 16, addr(recvIov + IOVEC * i), true); // msg_iov
      this.dv.setBigUint64(r + 24, 1n, true); // msg_iovlen
      this.dv.setBigUint64(recvIov + IOVEC * i, addr(this.packets + packetSize * i), true);
      this.dv.setBigUint64(recvIov + IOVEC * i + 8, BigInt(packetSize), true);
      const s = this.sendHdrs + MMSGHDR * i;
      this.dv.setBigUint64(s + 16, addr(sendIov + IOVEC * i), true);
      this.dv.setBigUint64(s + 24, 1n, true);
    }
    // Pointers to the header arrays, as koffi passes them on to the kernel.
    this.recvVec = this.region;
    this.sendVec = this.pointerAt(this.sendHdrs);
  }

  private pointerAt(off: number): Ptr {
    // A koffi pointer to region + off: decode reads a pointer value stored in memory, so
    // store it in a scratch buffer first.
    const scratch = Buffer.alloc(8);
    scratch.writeBigUInt64LE(this.base + BigInt(off));
    return koffi.decode(scratch, 'void *');
  }

  /** Up to `slots` datagrams from non-blocking `fd`: the count, 0 when none wait. Throws on other errors. */
  recv(fd: number): number {
    for (let i = 0; i < this.slots; i++) this.dv.setUint32(this.recvHdrs + MMSGHDR * i + 8, NAME, true);
    const n = getLib().recvmmsg(fd, this.recvVec, this.slots, MSG_DONTWAIT, null);
    if (n < 0) {
      const e = koffi.errno();
      if (e === EAGAIN || e === EINTR) return 0;
      throw new UdpBatchError('recvmmsg', e);
    }
    return n;
  }

  packetAt(i: number): number {
    return this.packets + this.packetSize * i;
  }
  length(i: number): number {
    return this.dv.getUint32(this.recvHdrs + MMSGHDR * i + 56, true);
  }
  truncated(i: number): boolean {
    return (this.dv.getInt32(this.recvHdrs + MMSGHDR * i + 48, true) & MSG_TRUNC) !== 0;
  }
  nameAt(i: number): number {
    return this.names + NAME * i;
  }
  nameLength(i: number): number {
    return this.dv.getUint32(this.recvHdrs + MMSGHDR * i + 8, true);
  }
  replyAt(i: number): number {
    return this.replies + this.replySize * i;
  }

  /** Queue the reply written at replyAt(i), `len` bytes, to packet i's sender. */
  queue(i: number, len: number): void {
    const s = this.sendHdrs + MMSGHDR * this.queued++;
    this.dv.setBigUint64(s, this.base + BigInt(this.nameAt(i)), true);
    this.dv.setUint32(s + 8, this.nameLength(i), true);
    const iov = Number(this.dv.getBigUint64(s + 16, true) - this.base);
    this.dv.setBigUint64(iov, this.base + BigInt(this.replyAt(i)), true);
    this.dv.setBigUint64(iov + 8, BigInt(len), true);
  }

  /** Send the queued replies (what the socket buffer cannot take is dropped, as UDP may). */
  flush(fd: number): number {
    let sent = 0;
    const c = getLib();
    // sendmmsg stops at the first datagram it cannot send; skip that one and go on.
    for (let guard = 0; sent < this.queued && guard < this.queued; guard++) {
      const vec = sent === 0 ? this.sendVec : this.pointerAt(this.sendHdrs + MMSGHDR * sent);
      const n = c.sendmmsg(fd, vec, this.queued - sent, MSG_DONTWAIT);
      if (n > 0) sent += n;
      else sent++;
    }
    const q = this.queued;
    this.queued = 0;
    return q;
  }

  close(): void {
    getLib().free(this.region);
  }
}

/** One datagram to the address in `addr` (a sockaddr as recvmmsg gave it). */
export function sendTo(fd: number, buf: Buffer, addr: Buffer): boolean {
  return getLib().sendto(fd, buf, buf.length, MSG_DONTWAIT, addr, addr.length) === buf.length;
}

/** A sockaddr_in / sockaddr_in6 as text ("1.2.3.4", "::1"): the asker's address. */
export function addressOf(addr: Uint8Array): string {
  const family = addr[0]! | (addr[1]! << 8);
  if (family === 2) return `${addr[4]}.${addr[5]}.${addr[6]}.${addr[7]}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((addr[8 + 2 * i]! << 8) | addr[9 + 2 * i]!).toString(16));
  return groups.join(':');
}
