/**
 * Sockets born inside another network namespace, and the daemon's descriptor limit. The
 * only code in Switchyard that calls setns/socket/bind/getrlimit/setrlimit itself (through
 * koffi; Node has no API for them): the embedded DNS resolver needs a socket bound
 * on 127.0.0.11:53 inside every sandbox, and upstream sockets whose packets leave through
 * the sandbox's own routes, all served by the daemon's single process.
 *
 * A network namespace belongs to the thread, and a socket keeps the namespace it was
 * created in for life. So: setns(target) on the main thread, socket(), bind(), setns(back),
 * all synchronously (no other JavaScript can run in between, and libuv's worker threads
 * never move), then Node adopts the fd (dgram `bind({fd})`, net `listen({fd})` /
 * `new Socket({fd})`).
 *
 * Placement is checked the way moby checks its resolver's: the thread's namespace (the
 * inode of /proc/thread-self/ns/net) must be the target's after the switch and the
 * daemon's own after the switch back. A daemon that cannot get back into its own
 * namespace would put every later link and socket in the wrong place, so it aborts.
 */
import fs from 'node:fs';
import koffi from 'koffi';

const CLONE_NEWNET = 0x40000000;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_RCVBUFFORCE = 33;
const SO_BROADCAST = 6;
const SO_BINDTODEVICE = 25;
/** Queries a burst may queue before the kernel drops them (the default, ~200 small datagrams, drops a client's retry in a flood). */
const UDP_RCVBUF = 512 * 1024;

export const NETNS_DIR = '/run/netns';
const SELF_NS = '/proc/thread-self/ns/net';

interface Libc {
  setns(fd: number, nstype: number): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  close(fd: number): number;
  getrlimit(resource: number, rlim: Buffer): number;
  setrlimit(resource: number, rlim: Buffer): number;
}

let libc: Libc | undefined;
function getLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    setns: lib.func('int setns(int fd, int nstype)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    close: lib.func('int close(int fd)'),
    // struct rlimit is two rlim_t (unsigned 64-bit on Linux x86-64 and arm64), passed as a buffer.
    getrlimit: lib.func('int getrlimit(int resource, void *rlim)'),
    setrlimit: lib.func('int setrlimit(int resource, const void *rlim)'),
  } as Libc;
  return libc;
}

/** The daemon's own namespace, opened once: the way back after every excursion. */
let home: { fd: number; ino: number; dev: number } | undefined;
function homeNs() {
  if (!home) {
    const st = fs.statSync(SELF_NS);
    home = { fd: fs.openSync(SELF_NS, 'r'), ino: st.ino, dev: st.dev };
  }
  return home;
}

export class NetnsSocketError extends Error {
  constructor(
    message: string,
    readonly errno?: number,
  ) {
    super(message);
    this.name = 'NetnsSocketError';
  }
}

function fail(what: string): never {
  const errno = koffi.errno();
  throw new NetnsSocketError(`${what}: errno ${errno} (${errnoName(errno)})`, errno);
}

function errnoName(n: number): string {
  const names: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 9: 'EBADF', 13: 'EACCES', 22: 'EINVAL', 24: 'EMFILE', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL' };
  return names[n] ?? 'see errno(3)';
}

/** Run `fn` with the calling thread inside namespace `ns`, always switching back. */
function insideNetns<T>(ns: string, fn: (c: Libc) => T): T {
  const c = getLibc();
  const back = homeNs();
  const target = `${NETNS_DIR}/${ns}`;
  const fd = fs.openSync(target, 'r');
  try {
    const want = fs.fstatSync(fd);
    if (c.setns(fd, CLONE_NEWNET) !== 0) fail(`setns into ${target}`);
    try {
      const now = fs.statSync(SELF_NS);
      if (now.ino !== want.ino || now.dev !== want.dev) {
        throw new NetnsSocketError(`setns into ${target} left the thread in another namespace (inode ${now.ino}, expected ${want.ino})`);
      }
      return fn(c);
    } finally {
      switchBack(c, back);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Put the calling thread back into the daemon's own namespace (after an unshare or setns of
 * its own); aborts the daemon when it cannot, as every excursion here does.
 */
export function returnHome(): void {
  switchBack(getLibc(), homeNs());
}

/** Open the daemon's own namespace now, before the first excursion (the way back must be known first). */
export function rememberHome(): void {
  homeNs();
}

function switchBack(c: Libc, back: { fd: number; ino: number; dev: number }): void {
  let ok = c.setns(back.fd, CLONE_NEWNET) === 0;
  if (ok) {
    const now = fs.statSync(SELF_NS);
    ok = now.ino === back.ino && now.dev === back.dev;
  }
  if (!ok) {
    process.stderr.write(`switchyard: FATAL: could not return to the daemon's own network namespace (errno ${koffi.errno()}); aborting\n`);
    process.abort();
  }
}

function sockaddr(address: string, port: number): { buf: Buffer; family: number } {
  if (address.includes(':')) {
    const buf = Buffer.alloc(28);
    buf.writeUInt16LE(AF_INET6, 0);
    buf.writeUInt16BE(port, 2);
    ipv6Bytes(address).copy(buf, 8);
    return { buf, family: AF_INET6 };
  }
  const buf = Buffer.alloc(16);
  buf.writeUInt16LE(AF_INET, 0);
  buf.writeUInt16BE(port, 2);
  address.split('.').forEach((o, i) => buf.writeUInt8(Number(o), 4 + i));
  return { buf, family: AF_INET };
}

function ipv6Bytes(a: string): Buffer {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

function newSocket(c: Libc, family: number, type: number): number {
  const fd = c.socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail('socket');
  return fd;
}

/**
 * A UDP and a TCP socket bound on address:port inside namespace `ns` (not yet listening:
 * Node's listen({fd}) does that). The caller owns both fds.
 */
export function bindInNetns(ns: string, address: string, port: number): { udp: number; tcp: number } {
  return insideNetns(ns, (c) => {
    const { buf, family } = sockaddr(address, port);
    const opened: number[] = [];
    try {
      const udp = newSocket(c, family, SOCK_DGRAM);
      opened.push(udp);
      if (c.bind(udp, buf, buf.length) !== 0) fail(`bind udp ${address}:${port} in ${ns}`);
      // Best effort: FORCE passes net.core.rmem_max (root only); without it the default stays.
      c.setsockopt(udp, SOL_SOCKET, SO_RCVBUFFORCE, int32(UDP_RCVBUF), 4);
      const tcp = newSocket(c, family, SOCK_STREAM);
      opened.push(tcp);
      // A restarted daemon binds again while the previous one's connections linger in TIME_WAIT.
      if (c.setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, int32(1), 4) !== 0) fail('setsockopt SO_REUSEADDR');
      if (c.bind(tcp, buf, buf.length) !== 0) fail(`bind tcp ${address}:${port} in ${ns}`);
      return { udp, tcp };
    } catch (e) {
      for (const fd of opened) c.close(fd);
      throw e;
    }
  });
}

/**
 * A DHCP client's UDP socket inside namespace `ns`: bound to 0.0.0.0:68 on interface
 * `ifname` only (SO_BINDTODEVICE, so two endpoints of one sandbox never hear each other's
 * answers), allowed to broadcast. The caller owns the fd.
 */
export function dhcpSocketInNetns(ns: string, ifname: string, port: number): number {
  return insideNetns(ns, (c) => {
    const fd = newSocket(c, AF_INET, SOCK_DGRAM);
    try {
      const dev = Buffer.from(`${ifname}\0`, 'ascii');
      if (c.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length) !== 0) fail(`setsockopt SO_BINDTODEVICE ${ifname} in ${ns}`);
      if (c.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, int32(1), 4) !== 0) fail('setsockopt SO_BROADCAST');
      if (c.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, int32(1), 4) !== 0) fail('setsockopt SO_REUSEADDR');
      const { buf } = sockaddr('0.0.0.0', port);
      if (c.bind(fd, buf, buf.length) !== 0) fail(`bind udp 0.0.0.0:${port} on ${ifname} in ${ns}`);
      return fd;
    } catch (e) {
      c.close(fd);
      throw e;
    }
  });
}

/** An unbound socket inside namespace `ns`: its packets use the namespace's routes and source addresses. */
export function unboundSocketInNetns(ns: string, family: 4 | 6, kind: 'udp' | 'tcp'): number {
  return insideNetns(ns, (c) => newSocket(c, family === 6 ? AF_INET6 : AF_INET, kind === 'udp' ? SOCK_DGRAM : SOCK_STREAM));
}

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;

/**
 * An rtnetlink socket of namespace `ns` (undefined: the daemon's own): every request sent
 * on it changes that namespace. Acknowledgements carry the kernel's own words for a refusal
 * (extended ack) and only the header of the refused request (capped ack). Blocking: the
 * caller sends from a worker thread and reads the answer without waiting. The caller owns
 * the fd.
 */
export function netlinkSocketIn(ns: string | undefined): number {
  const open = (c: Libc) => {
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) fail('socket AF_NETLINK');
    c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, int32(1), 4);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, int32(1), 4);
    return fd;
  };
  return ns === undefined ? open(getLibc()) : insideNetns(ns, open);
}

/** Close an fd the caller never handed to Node (Node closes adopted ones itself). */
export function closeFd(fd: number): void {
  getLibc().close(fd);
}

const RLIMIT_NOFILE = 7;
const RLIM_INFINITY = 0xffffffffffffffffn;

export interface NofileLimit {
  soft: number;
  hard: number;
}

function toLimit(v: bigint): number {
  return v === RLIM_INFINITY || v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
}

/** The process's RLIMIT_NOFILE (Infinity for RLIM_INFINITY). */
export function nofileLimit(): NofileLimit {
  const buf = Buffer.alloc(16);
  if (getLibc().getrlimit(RLIMIT_NOFILE, buf) !== 0) fail('getrlimit RLIMIT_NOFILE');
  return { soft: toLimit(buf.readBigUInt64LE(0)), hard: toLimit(buf.readBigUInt64LE(8)) };
}

/**
 * Raise the RLIMIT_NOFILE soft limit to the hard limit (an unprivileged process may; the
 * hard limit itself is left alone). Returns the limit before and after.
 */
export function raiseNofileLimit(): { before: NofileLimit; after: NofileLimit } {
  const before = nofileLimit();
  if (before.soft < before.hard) {
    const buf = Buffer.alloc(16);
    const hard = before.hard === Infinity ? RLIM_INFINITY : BigInt(before.hard);
    buf.writeBigUInt64LE(hard, 0);
    buf.writeBigUInt64LE(hard, 8);
    if (getLibc().setrlimit(RLIMIT_NOFILE, buf) !== 0) fail(`setrlimit RLIMIT_NOFILE to ${before.hard}`);
  }
  return { before, after: nofileLimit() };
}
