/**
 * Links, addresses and routes changed from the daemon itself over rtnetlink, instead of
 * an `ip -batch` process per namespace (2-10 ms each, most of a connect). The requests are
 * built by kernel/rtnl.ts; this module owns the sockets.
 *
 * One socket per group of ops in one namespace, opened inside that namespace
 * (netns-socket.ts) and closed after the group: nothing keeps a removed namespace alive
 * and two plans applied at once never read each other's answers. The kernel does the work
 * of an rtnetlink request inside the send() call, and the acknowledgement is queued by the
 * time send() returns, so it is read without waiting. Changes are sent from libuv's worker
 * threads (koffi's async calls): a change waits for the kernel's RTNL lock, which another
 * namespace's teardown may hold for hundreds of milliseconds, and a link delete waits for
 * RCU grace periods; the daemon's thread keeps answering (DNS above all) meanwhile. Lookups
 * and dumps, which the kernel serves without that lock, are sent from the daemon's thread.
 */
import fs from 'node:fs';
import koffi from 'koffi';
import { step } from '../observe/steps.js';
import {
  dumpMessages, dumpRequest, getLinkRequest, message, parseAddr, parseLink, parseReplies, parseRoute, request, RTM, RTM_GETADDR, RTM_GETROUTE,
  type DumpedAddr, type DumpedLink, type DumpedRoute, type NetlinkOp, type Reply, type Resolve,
} from './rtnl.js';
import { NETNS_DIR, closeFd, netlinkSocketIn } from './netns-socket.js';

const MSG_DONTWAIT = 0x40;
/** struct ifreq: the name (IFNAMSIZ bytes with its NUL), then a union holding the index. */
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const SIOCGIFINDEX = 0x8933;
const EAGAIN = 11;
const ENODEV = 19;

type Fn = ((...a: unknown[]) => unknown) & { async: (...a: unknown[]) => void };
interface Lib {
  send: Fn;
  recv: Fn;
  ioctl: Fn;
  strerror: (n: number) => string;
}

let lib: Lib | null | undefined;
function getLib(): Lib | null {
  if (lib !== undefined) return lib;
  if (process.env.YARD_NETLINK === 'off') return (lib = null);
  try {
    const c = koffi.load('libc.so.6');
    lib = {
      send: c.func('intptr_t send(int fd, const void *buf, size_t len, int flags)') as Fn,
      recv: c.func('intptr_t recv(int fd, void *buf, size_t len, int flags)') as Fn,
      ioctl: c.func('int ioctl(int fd, unsigned long request, ...)') as Fn,
      strerror: c.func('const char *strerror(int errnum)') as (n: number) => string,
    };
    // A socket can be made here: rtnetlink is usable.
    closeFd(netlinkSocketIn(undefined));
  } catch {
    lib = null;
  }
  return lib;
}

/** False where the daemon cannot talk rtnetlink itself (then `ip` processes do the work). */
export function netlinkAvailable(): boolean {
  return getLib() !== null;
}

const RECV_SIZE = 64 * 1024;
/**
 * Where every socket's answers are read into: reads happen on the daemon's thread, and each
 * is parsed (copied out) before the next, so one buffer serves them all instead of 64 KiB
 * allocated and zeroed for each socket a plan opens.
 */
let recvBuf: Buffer | undefined;

class Conn {
  private seq = 1;
  private readonly buf = (recvBuf ??= Buffer.alloc(RECV_SIZE));

  constructor(
    readonly fd: number,
    private readonly l: Lib,
  ) {}

  private drain(): Reply[] {
    const out: Reply[] = [];
    for (;;) {
      const n = Number(this.l.recv(this.fd, this.buf, RECV_SIZE, MSG_DONTWAIT));
      if (n <= 0) {
        if (n < 0 && koffi.errno() !== EAGAIN) throw new Error(`reading the kernel's answer: ${this.l.strerror(koffi.errno())}`);
        return out;
      }
      out.push(...parseReplies(this.buf.subarray(0, n)));
    }
  }

  private answer(seq: number, replies: Reply[]): Reply {
    const mine = replies.filter((r) => r.seq === seq);
    return mine.find((r) => r.kind === 'error') ?? mine.find((r) => r.kind !== 'other') ?? { kind: 'error', seq, errno: 0, message: 'no answer from the kernel' };
  }

  /**
   * A link's index by name in this socket's namespace (undefined: no such link). Asked with
   * SIOCGIFINDEX, which only looks the name up, where an rtnetlink lookup has the kernel
   * describe the whole link (10-20 µs against 1); a name the ioctl would cut short, or an
   * ioctl refused for another reason than "no such device", is asked over rtnetlink.
   */
  ifindex(name: string): number | undefined {
    if (Buffer.byteLength(name) < IFNAMSIZ) {
      const ifr = Buffer.alloc(IFREQ_SIZE);
      ifr.write(name, 'utf8');
      if (Number(this.l.ioctl(this.fd, SIOCGIFINDEX, 'uint8_t *', ifr)) === 0) return ifr.readInt32LE(IFNAMSIZ);
      if (koffi.errno() === ENODEV) return undefined;
    }
    const r = this.callSync(getLinkRequest(name));
    return r.kind === 'link' ? r.ifindex : undefined;
  }

  /** A request whose work is quick (a lookup): sent and answered on this thread. */
  callSync(req: { type: number; flags: number; body: Buffer }): Reply {
    const seq = this.seq++;
    const msg = message(req.type, req.flags, seq, req.body);
    if (Number(this.l.send(this.fd, msg, msg.length, 0)) < 0) throw new Error(`sending to the kernel: ${this.l.strerror(koffi.errno())}`);
    return this.answer(seq, this.drain());
  }

  /**
   * A dump (every link, address or route): the kernel builds each part of the answer as it
   * is read, so it is all there to read at once, on this thread.
   */
  dump(req: { type: number; flags: number; body: Buffer }): Array<{ type: number; body: Buffer }> {
    const seq = this.seq++;
    const msg = message(req.type, req.flags, seq, req.body);
    if (Number(this.l.send(this.fd, msg, msg.length, 0)) < 0) throw new Error(`sending to the kernel: ${this.l.strerror(koffi.errno())}`);
    const out: Array<{ type: number; body: Buffer }> = [];
    // Bounded: a dump ends with NLMSG_DONE; a read that finds nothing means it ended early.
    for (let reads = 0; reads < 1_000_000; reads++) {
      const n = Number(this.l.recv(this.fd, this.buf, RECV_SIZE, MSG_DONTWAIT));
      if (n <= 0) throw new Error(`reading a dump from the kernel: ${n < 0 ? this.l.strerror(koffi.errno()) : 'it ended early'}`);
      const { msgs, done, errno } = dumpMessages(this.buf.subarray(0, n));
      for (const m of msgs) if (m.seq === seq) out.push({ type: m.type, body: Buffer.from(m.body) });
      if (errno) throw new Error(`the kernel refused a dump: ${this.l.strerror(errno)}`);
      if (done) return out;
    }
    throw new Error('a dump from the kernel did not end');
  }

  /** A lookup whose answer is one message (a link by name or index): its body, or undefined when there is no such thing. */
  get(req: { type: number; flags: number; body: Buffer }): Buffer | undefined {
    const seq = this.seq++;
    const msg = message(req.type, req.flags, seq, req.body);
    if (Number(this.l.send(this.fd, msg, msg.length, 0)) < 0) throw new Error(`sending to the kernel: ${this.l.strerror(koffi.errno())}`);
    const n = Number(this.l.recv(this.fd, this.buf, RECV_SIZE, MSG_DONTWAIT));
    if (n <= 0) throw new Error(`reading the kernel's answer: ${n < 0 ? this.l.strerror(koffi.errno()) : 'none'}`);
    const { msgs, errno } = dumpMessages(this.buf.subarray(0, n));
    if (errno === ENODEV) return undefined;
    if (errno) throw new Error(`the kernel refused a lookup: ${this.l.strerror(errno)}`);
    const m = msgs.find((x) => x.seq === seq);
    return m ? Buffer.from(m.body) : undefined;
  }

  /**
   * Changes, sent together in one send() from a worker thread (the kernel may wait inside
   * it), then their acks read: one answer per request, in order. The kernel works through
   * every request of a send even after one is refused.
   */
  call(reqs: Array<{ type: number; flags: number; body: Buffer }>): Promise<Reply[]> {
    const seqs = reqs.map(() => this.seq++);
    const msg = Buffer.concat(reqs.map((req, i) => message(req.type, req.flags, seqs[i]!, req.body)));
    return new Promise((resolve, reject) => {
      this.l.send.async(this.fd, msg, msg.length, 0, (err: unknown, n: unknown) => {
        if (err) return reject(err as Error);
        try {
          const replies = this.drain();
          if (Number(n) < 0 && !replies.some((r) => r.seq === seqs[0])) return reject(new Error('sending to the kernel failed'));
          resolve(seqs.map((seq) => this.answer(seq, replies)));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  }
}

let ipv6: boolean | undefined;
/** Whether this kernel has IPv6 at all (not booted with ipv6.disable=1; read once). */
export function ipv6Available(): boolean {
  return (ipv6 ??= fs.existsSync('/proc/sys/net/ipv6'));
}

/** The refusal as `ip` words it: "RTNETLINK answers: <strerror>", with the kernel's own reason when it gave one. */
function refusal(l: Lib, op: NetlinkOp, r: Extract<Reply, { kind: 'error' }>): string {
  if (r.errno === ENODEV && (op.op === 'link.set' || op.op === 'link.del')) return `Cannot find device "${op.name}"`;
  const base = r.errno ? `RTNETLINK answers: ${l.strerror(r.errno)}` : (r.message ?? 'no answer');
  return r.errno && r.message ? `${base} (${r.message})` : base;
}

/** What a send did: how many of its ops the kernel took before the first refusal, which ones it took, and that refusal. */
export interface SendResult {
  done: number;
  /** Per op: whether the kernel took it (a send's ops after a refusal are still worked through). */
  ok: boolean[];
  error?: string;
}

/**
 * Sockets for one plan's changes: one per namespace, opened at its first use inside that
 * namespace and kept until close(). Two plans applied at once never share a socket, so
 * neither reads the other's answers; nothing keeps a removed namespace alive past the plan.
 */
export class NetlinkSession {
  private readonly conns = new Map<string, Conn>();

  constructor(private readonly l: Lib) {}

  private conn(ns: string | undefined): Conn {
    const key = ns ?? '';
    let c = this.conns.get(key);
    if (!c) {
      c = new Conn(netlinkSocketIn(ns), this.l);
      this.conns.set(key, c);
    }
    return c;
  }

  /**
   * Opens the sockets of these namespaces ahead of their first send. One that cannot be
   * opened is left for that send, which reports it.
   */
  open(namespaces: Iterable<string | undefined>): void {
    for (const ns of namespaces) {
      try {
        this.conn(ns);
      } catch {
        /* the send says why */
      }
    }
  }

  /**
   * Sends the ops, all in namespace `ns`, in one send(): the caller sends several only when
   * a refusal of any of them leaves nothing the undo of the plan does not remove. Returns
   * the refusal in the words `ip -batch` would use.
   */
  async send(ns: string | undefined, ops: NetlinkOp[]): Promise<SendResult> {
    const none = (error: string): SendResult => ({ done: 0, ok: ops.map(() => false), error });
    let conn: Conn;
    try {
      conn = this.conn(ns);
    } catch (e) {
      return none(ns ? `Cannot open network namespace "${ns}": ${(e as Error).message}` : (e as Error).message);
    }
    const nsFds: number[] = [];
    const resolve: Resolve = {
      ifindex(name) {
        const found = conn.ifindex(name);
        if (found !== undefined) return found;
        throw new Error(`Cannot find device "${name}"`);
      },
      netnsFd(name) {
        try {
          const f = fs.openSync(`${NETNS_DIR}/${name}`, 'r');
          nsFds.push(f);
          return f;
        } catch (e) {
          throw new Error(`Cannot open network namespace "${name}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`);
        }
      },
    };
    try {
      const reqs = [];
      for (let i = 0; i < ops.length; i++) {
        let op = ops[i]!;
        // A kernel without IPv6 has no link-local addresses to leave out (and would refuse the attribute).
        if (op.op === 'link.set' && op.addrGenMode && !ipv6Available()) op = { ...op, addrGenMode: undefined };
        try {
          reqs.push(request(op, resolve));
        } catch (e) {
          // Nothing was sent: the ops before this one are sent alone, so the first refusal is this.
          if (i === 0) return none((e as Error).message);
          const before = await this.send(ns, ops.slice(0, i));
          return before.error ? { ...before, ok: [...before.ok, ...ops.slice(i).map(() => false)] } : { done: i, ok: [...before.ok, ...ops.slice(i).map(() => false)], error: (e as Error).message };
        }
      }
      const replies = await conn.call(reqs);
      step(`nl:${ops.map((o) => o.op).join('+')}`);
      const ok = replies.map((r) => r.kind !== 'error');
      const failed = ok.indexOf(false);
      if (failed < 0) return { done: ops.length, ok };
      return { done: failed, ok, error: refusal(this.l, ops[failed]!, replies[failed] as Extract<Reply, { kind: 'error' }>) };
    } finally {
      for (const f of nsFds) fs.closeSync(f);
    }
  }

  close(): void {
    for (const c of this.conns.values()) closeFd(c.fd);
    this.conns.clear();
  }
}

/** A session for one plan's changes (throws where rtnetlink is not available). */
export function netlinkSession(): NetlinkSession {
  const l = getLib();
  if (!l) throw new Error('rtnetlink is not available');
  return new NetlinkSession(l);
}

/**
 * Sends the ops, all in namespace `ns`, one after another; stops at the first the kernel
 * refuses. Returns how many were done and the refusal, in the words `ip -batch` would use.
 */
export async function applyNetlink(ns: string | undefined, ops: NetlinkOp[]): Promise<{ done: number; error?: string }> {
  const session = netlinkSession();
  try {
    for (let i = 0; i < ops.length; i++) {
      const r = await session.send(ns, [ops[i]!]);
      if (r.error !== undefined) return { done: i, error: r.error };
    }
    return { done: ops.length };
  } finally {
    session.close();
  }
}

function withConn<T>(ns: string | undefined, fn: (c: Conn) => T): T | undefined {
  const l = getLib();
  if (!l) throw new Error('rtnetlink is not available');
  let fd: number;
  try {
    fd = netlinkSocketIn(ns);
  } catch {
    return undefined;
  }
  try {
    return fn(new Conn(fd, l));
  } finally {
    closeFd(fd);
  }
}

/** Every link of a namespace and every address (undefined: the namespace cannot be entered). */
export function dumpLinksAndAddrs(ns: string | undefined): { links: DumpedLink[]; addrs: DumpedAddr[] } | undefined {
  return withConn(ns, (c) => ({
    links: c.dump(dumpRequest(RTM.GETLINK)).filter((m) => m.type === RTM.NEWLINK).map((m) => parseLink(m.body)),
    addrs: c
      .dump(dumpRequest(RTM_GETADDR))
      .map((m) => parseAddr(m.body))
      .filter((a): a is DumpedAddr => !!a),
  }));
}

/**
 * The named links of a namespace that exist (each looked up by name, not a dump of every
 * link: the daemon's namespace holds a veth per sandbox), every address, and the names of
 * those links' masters.
 */
export function getLinksAndAddrs(ns: string | undefined, names: readonly string[]): { links: DumpedLink[]; addrs: DumpedAddr[]; names: Map<number, string> } | undefined {
  return withConn(ns, (c) => {
    // A name the kernel could not hold (empty, over 15 bytes) names no link.
    const links = names.flatMap((n) => {
      const len = Buffer.byteLength(n);
      const body = len > 0 && len < 16 ? c.get(getLinkRequest(n)) : undefined;
      return body ? [parseLink(body)] : [];
    });
    const masters = links.flatMap((l) => (l.masterIndex ? [l.masterIndex] : []));
    return {
      links,
      addrs: links.length ? c.dump(dumpRequest(RTM_GETADDR)).map((m) => parseAddr(m.body)).filter((a): a is DumpedAddr => !!a) : [],
      names: linkNames(c, masters),
    };
  });
}

/** Names of the links with these indexes (each looked up once). */
function linkNames(c: Conn, indexes: Iterable<number>): Map<number, string> {
  const names = new Map<number, string>();
  for (const i of indexes) {
    if (names.has(i)) continue;
    const body = c.get(getLinkRequest(i));
    if (body) names.set(i, parseLink(body).name);
  }
  return names;
}

/** Every route of a namespace (both families, every table), and the names of the links they go out of. */
export function dumpRoutes(ns: string | undefined): { routes: DumpedRoute[]; names: Map<number, string> } | undefined {
  return withConn(ns, (c) => {
    const routes = [2, 10].flatMap((family) =>
      c
        .dump(dumpRequest(RTM_GETROUTE, family))
        .map((m) => parseRoute(m.body))
        .filter((r): r is DumpedRoute => !!r),
    );
    return { routes, names: linkNames(c, routes.flatMap((r) => (r.oif ? [r.oif] : []))) };
  });
}
