/**
 * One sandbox's resolver sockets: UDP and TCP on 127.0.0.11:53 inside its namespace, plus
 * the upstream transport (sockets in the same namespace). The listener only moves bytes:
 * each query goes to `handle`, which returns the answer at once (local names) or later
 * (forwarded ones), so a slow upstream never holds up a local answer.
 *
 * TCP (RFC 7766): 2-byte length framing, several queries per connection, answers in any
 * order. Every accepted connection joins the resolver-wide TcpPool (tcp-pool.ts), which
 * bounds them per sandbox and in total (shedding the idlest, then the oldest, at a cap)
 * and closes them at absolute deadlines that trickled bytes do not extend.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { bindInNetns, closeFd } from '../kernel/netns-socket.js';
import { addressOf, sendTo } from '../kernel/udp-batch.js';
import type { FastPath } from './fast-path.js';
import { MAX_TCP_MESSAGE } from './message.js';
import { EMBEDDED_DNS } from './records.js';
import type { Budget, TcpPool } from './tcp-pool.js';
import { NetnsTransport } from './upstream.js';

const MAX_TCP_IN_FLIGHT = 64;

/** `from`: the asker's address (the gateway listeners tell sandboxes apart by it). */
export type Handler = (query: Buffer, tcp: boolean, from: string) => Buffer | null | Promise<Buffer | null>;

export interface ListenerEvents {
  tcpRejected(): void;
  error(what: string): void;
  /** A UDP query the fast path passed on was answered at once: the fast path may learn its answer. */
  answered?(fastSlot: number, query: Buffer): void;
}

export class SandboxListener {
  /** The upstream transport (none for a gateway listener: answers are forwarded through the asking sandbox's). */
  readonly transport?: NetnsTransport;
  private udp?: dgram.Socket;
  /** With the fast path: its slot for this listener's UDP socket, which the listener owns (and closes). */
  private fast?: { path: FastPath; slot: number; fd: number };
  private tcp?: net.Server;
  private conns = new Set<net.Socket>();
  private closed = false;

  private constructor(
    readonly sandboxId: string,
    readonly netns: string,
    private handle: Handler,
    private events: ListenerEvents,
    private pool: TcpPool,
    upstreamTcp: Budget | null,
  ) {
    if (upstreamTcp) this.transport = new NetnsTransport(netns, upstreamTcp);
  }

  /**
   * A listener on `address`:53 in the daemon's own namespace (a network's gateway address,
   * where Podman's containers look for their resolver, as aardvark-dns serves it).
   */
  static async openOnHost(key: string, address: string, handle: Handler, events: ListenerEvents, pool: TcpPool): Promise<SandboxListener> {
    const l = new SandboxListener(key, `the daemon's namespace (${address})`, handle, events, pool, null);
    try {
      const udp = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4' });
      l.udp = udp;
      udp.on('message', (msg, rinfo) => l.onDatagram(msg, rinfo));
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address, port: 53, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      udp.on('error', (e) => events.error(`udp socket on ${address}: ${e.message}`));
      l.tcp = net.createServer((c) => l.onConnection(c));
      l.tcp.on('error', (e) => events.error(`tcp socket on ${address}: ${e.message}`));
      await new Promise<void>((resolve, reject) => {
        l.tcp!.once('error', reject);
        l.tcp!.listen({ host: address, port: 53, backlog: 128, exclusive: true }, () => resolve());
      });
    } catch (e) {
      l.close();
      throw e;
    }
    return l;
  }

  /**
   * Bind both sockets inside `netns` (throws if the kernel refuses) and start serving. TCP
   * connections are admitted to `pool` (shared by every sandbox); forwarded TCP queries
   * take their upstream socket from `upstreamTcp` (shared too).
   */
  static async open(sandboxId: string, netns: string, handle: Handler, events: ListenerEvents, pool: TcpPool, upstreamTcp: Budget, fast?: FastPath | null): Promise<SandboxListener> {
    const l = new SandboxListener(sandboxId, netns, handle, events, pool, upstreamTcp);
    const fds = bindInNetns(netns, EMBEDDED_DNS, 53);
    if (fast?.running) {
      // The fast path's thread reads the socket; what it does not answer comes back here.
      const fd = fds.udp;
      l.fast = { path: fast, fd, slot: fast.add(fd, { onMiss: (q, from) => l.onFastMiss(q, from), onLost: () => l.adoptUdp(fd) }) };
    } else {
      try {
        await l.adoptUdpNow(fds.udp);
      } catch (e) {
        closeFd(fds.tcp);
        l.close();
        throw e;
      }
    }
    l.tcp = net.createServer((c) => l.onConnection(c));
    l.tcp.on('error', (e) => events.error(`tcp socket in ${netns}: ${e.message}`));
    await new Promise<void>((resolve, reject) => {
      l.tcp!.once('error', reject);
      l.tcp!.listen({ fd: fds.tcp, backlog: 128 }, () => resolve());
    }).catch((e) => {
      l.close();
      throw e;
    });
    return l;
  }

  /** Read the UDP socket with Node's dgram (without the fast path, or once it is gone). */
  private async adoptUdpNow(fd: number): Promise<void> {
    const udp = dgram.createSocket('udp4');
    this.udp = udp;
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ fd }, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (e) => this.events.error(`udp socket in ${this.netns}: ${e.message}`));
  }

  private adoptUdp(fd: number): void {
    this.fast = undefined;
    if (this.closed) return void closeFd(fd);
    this.adoptUdpNow(fd).catch((e: unknown) => this.events.error(`udp socket in ${this.netns}: ${(e as Error).message}`));
  }

  private onFastMiss(msg: Buffer, from: Buffer): void {
    const fast = this.fast;
    if (!fast || this.closed) return;
    const send = (answer: Buffer | null) => {
      if (answer && !this.closed) sendTo(fast.fd, answer, from);
    };
    try {
      const r = this.handle(msg, false, addressOf(from));
      if (r instanceof Promise) r.then(send, (e: unknown) => this.events.error(`udp query: ${(e as Error).message}`));
      else {
        send(r);
        if (r) this.events.answered?.(fast.slot, msg);
      }
    } catch (e) {
      this.events.error(`udp query: ${(e as Error).message}`);
    }
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const send = (answer: Buffer | null) => {
      if (answer && !this.closed) this.udp?.send(answer, rinfo.port, rinfo.address);
    };
    try {
      const r = this.handle(msg, false, rinfo.address);
      if (r instanceof Promise) r.then(send, (e: unknown) => this.events.error(`udp query: ${(e as Error).message}`));
      else send(r);
    } catch (e) {
      this.events.error(`udp query: ${(e as Error).message}`);
    }
  }

  private onConnection(c: net.Socket): void {
    if (this.closed) {
      this.events.tcpRejected();
      c.destroy();
      return;
    }
    // At a cap the pool sheds another connection first (closing its descriptor), then admits this one.
    const entry = this.pool.admit(this.sandboxId, () => c.destroy());
    this.conns.add(c);
    c.setNoDelay(true);
    c.on('error', () => c.destroy());
    c.on('close', () => {
      this.conns.delete(c);
      this.pool.release(entry);
    });
    let buf: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    const write = (answer: Buffer | null) => {
      inFlight--;
      this.pool.update(entry, buf.length ? 'continues' : 'none', inFlight);
      if (!answer || c.destroyed) return;
      const head = Buffer.alloc(2);
      head.writeUInt16BE(Math.min(answer.length, MAX_TCP_MESSAGE));
      c.write(Buffer.concat([head, answer.subarray(0, MAX_TCP_MESSAGE)]));
    };
    c.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let completed = false;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len === 0) return void c.destroy(); // not a DNS message: the stream cannot be trusted further
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        completed = true;
        if (++inFlight > MAX_TCP_IN_FLIGHT) return void c.destroy();
        try {
          const r = this.handle(Buffer.from(msg), true, c.remoteAddress ?? '');
          if (r instanceof Promise) r.then(write, () => write(null));
          else write(r);
        } catch (e) {
          write(null);
          this.events.error(`tcp query: ${(e as Error).message}`);
        }
        if (c.destroyed) return;
      }
      // A message left incomplete has TCP_MESSAGE_MS from its first byte, however slowly the rest comes.
      this.pool.update(entry, !buf.length ? 'none' : completed ? 'started' : 'continues', inFlight);
    });
  }

  get tcpConnections(): number {
    return this.conns.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fast) {
      const fd = this.fast.fd;
      this.fast.path.remove(this.fast.slot, () => closeFd(fd));
      this.fast = undefined;
    }
    try {
      this.udp?.close();
    } catch {
      /* never bound */
    }
    this.tcp?.close();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    this.transport?.close();
  }
}
