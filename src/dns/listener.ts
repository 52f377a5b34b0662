/**
 * One sandbox's resolver sockets: UDP and TCP on 127.0.0.11:53 inside its namespace, plus
 * the upstream transport (sockets in the same namespace). The listener only moves bytes:
 * each query goes to `handle`, which returns the answer at once (local names) or later
 * (forwarded ones), so a slow upstream never holds up a local answer.
 *
 * TCP (RFC 7766): 2-byte length framing, several queries per connection, answers in any
 * order. A connection that sends nothing for TCP_IDLE_MS (a truncated frame, say) is
 * closed; at most MAX_TCP_CONNECTIONS per sandbox, more are closed at once and counted.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { bindInNetns, closeFd } from '../kernel/netns-socket.js';
import { MAX_TCP_MESSAGE } from './message.js';
import { EMBEDDED_DNS } from './records.js';
import { NetnsTransport } from './upstream.js';

export const TCP_IDLE_MS = 5_000;
export const MAX_TCP_CONNECTIONS = 128;
const MAX_TCP_IN_FLIGHT = 64;

export type Handler = (query: Buffer, tcp: boolean) => Buffer | null | Promise<Buffer | null>;

export interface ListenerEvents {
  tcpRejected(): void;
  error(what: string): void;
}

export class SandboxListener {
  readonly transport: NetnsTransport;
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private conns = new Set<net.Socket>();
  private closed = false;

  private constructor(
    readonly sandboxId: string,
    readonly netns: string,
    private handle: Handler,
    private events: ListenerEvents,
  ) {
    this.transport = new NetnsTransport(netns);
  }

  /** Bind both sockets inside `netns` (throws if the kernel refuses) and start serving. */
  static async open(sandboxId: string, netns: string, handle: Handler, events: ListenerEvents): Promise<SandboxListener> {
    const l = new SandboxListener(sandboxId, netns, handle, events);
    const fds = bindInNetns(netns, EMBEDDED_DNS, 53);
    try {
      const udp = dgram.createSocket('udp4');
      l.udp = udp;
      udp.on('message', (msg, rinfo) => l.onDatagram(msg, rinfo));
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ fd: fds.udp }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      udp.on('error', (e) => events.error(`udp socket in ${netns}: ${e.message}`));
    } catch (e) {
      closeFd(fds.tcp);
      l.close();
      throw e;
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

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const send = (answer: Buffer | null) => {
      if (answer && !this.closed) this.udp?.send(answer, rinfo.port, rinfo.address);
    };
    try {
      const r = this.handle(msg, false);
      if (r instanceof Promise) r.then(send, (e: unknown) => this.events.error(`udp query: ${(e as Error).message}`));
      else send(r);
    } catch (e) {
      this.events.error(`udp query: ${(e as Error).message}`);
    }
  }

  private onConnection(c: net.Socket): void {
    if (this.closed || this.conns.size >= MAX_TCP_CONNECTIONS) {
      this.events.tcpRejected();
      c.destroy();
      return;
    }
    this.conns.add(c);
    c.setNoDelay(true);
    c.setTimeout(TCP_IDLE_MS, () => c.destroy());
    c.on('error', () => c.destroy());
    c.on('close', () => this.conns.delete(c));
    let buf: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    const write = (answer: Buffer | null) => {
      inFlight--;
      if (!answer || c.destroyed) return;
      const head = Buffer.alloc(2);
      head.writeUInt16BE(Math.min(answer.length, MAX_TCP_MESSAGE));
      c.write(Buffer.concat([head, answer.subarray(0, MAX_TCP_MESSAGE)]));
    };
    c.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len === 0) return void c.destroy(); // not a DNS message: the stream cannot be trusted further
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        if (++inFlight > MAX_TCP_IN_FLIGHT) return void c.destroy();
        try {
          const r = this.handle(Buffer.from(msg), true);
          if (r instanceof Promise) r.then(write, () => write(null));
          else write(r);
        } catch (e) {
          write(null);
          this.events.error(`tcp query: ${(e as Error).message}`);
        }
      }
    });
  }

  get tcpConnections(): number {
    return this.conns.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.udp?.close();
    } catch {
      /* never bound */
    }
    this.tcp?.close();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    this.transport.close();
  }
}
