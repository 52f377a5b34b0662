/**
 * Forwarding names the resolver does not own. Docker's rules: up to three servers in
 * order; the next one on a timeout, SERVFAIL or REFUSED; any other answer (NXDOMAIN
 * included) goes back to the client as is. The packets leave from inside the sandbox's
 * namespace (sockets made there, see kernel/netns-socket.ts), so its routes and firewall
 * apply as they would to the sandbox's own queries.
 *
 * `forward` is pure policy over a transport; `NetnsTransport` is the real one.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { closeFd, unboundSocketInNetns } from '../kernel/netns-socket.js';
import { canonicalIp } from './records.js';
import { headerOf, MAX_TCP_MESSAGE, rcodeName, RCODE, withId } from './message.js';
import { Budget } from './tcp-pool.js';

export const UPSTREAM_TIMEOUT_MS = 2_000;
/** Forwarded queries in flight per sandbox; beyond it a query is answered SERVFAIL at once (and counted). */
export const MAX_PENDING_PER_SANDBOX = 1_024;

export interface Transport {
  /** The server's answer, or null on timeout / network error. */
  exchange(server: string, query: Buffer, tcp: boolean, timeoutMs: number): Promise<Buffer | null>;
  readonly pending: number;
  close(): void;
}

export interface ForwardResult {
  /** The answer for the client (its ID restored), or null when no server answered usefully. */
  reply: Buffer | null;
  trace: string[];
  /** The server whose answer is returned. */
  server?: string;
  timeouts: number;
}

/** Ask `servers` in order; next on timeout, SERVFAIL or REFUSED. */
export async function forward(transport: Transport, servers: string[], query: Buffer, tcp: boolean, timeoutMs = UPSTREAM_TIMEOUT_MS): Promise<ForwardResult> {
  const clientId = query.readUInt16BE(0);
  const trace: string[] = [];
  let fallback: { reply: Buffer; server: string } | undefined;
  let timeouts = 0;
  for (const server of servers) {
    const answer = await transport.exchange(server, query, tcp, timeoutMs);
    const h = answer && headerOf(answer);
    if (!answer || !h) {
      timeouts++;
      trace.push(`${server}: no answer within ${timeoutMs} ms`);
      continue;
    }
    if (h.rcode === RCODE.SERVFAIL || h.rcode === RCODE.REFUSED) {
      trace.push(`${server}: ${rcodeName(h.rcode)}, trying the next server`);
      fallback ??= { reply: withId(answer, clientId), server };
      continue;
    }
    trace.push(`${server}: ${rcodeName(h.rcode)}${h.truncated ? ' (truncated)' : ''}`);
    return { reply: withId(answer, clientId), trace, server, timeouts };
  }
  return { reply: fallback?.reply ?? null, trace, server: fallback?.server, timeouts };
}

interface Waiter {
  server: string;
  resolve(b: Buffer | null): void;
  timer: NodeJS.Timeout;
}

/**
 * Sockets inside one sandbox's namespace: one UDP socket per family (made on first use),
 * one TCP connection per query, taken from `tcpBudget` (shared by every sandbox: with it
 * spent, a TCP query gets no answer from this server, i.e. SERVFAIL in the end).
 */
export class NetnsTransport implements Transport {
  private udp = new Map<4 | 6, dgram.Socket>();
  private waiting = new Map<number, Waiter>();
  /** Each TCP exchange under way, with the function that ends it. */
  private tcpInFlight = new Map<net.Socket, (b: Buffer | null) => void>();
  private closed = false;

  constructor(
    readonly netns: string,
    private tcpBudget: Budget = new Budget(Infinity),
  ) {}

  get pending(): number {
    return this.waiting.size + this.tcpInFlight.size;
  }

  exchange(server: string, query: Buffer, tcp: boolean, timeoutMs: number): Promise<Buffer | null> {
    if (this.closed) return Promise.resolve(null);
    try {
      return tcp ? this.overTcp(server, query, timeoutMs) : this.overUdp(server, query, timeoutMs);
    } catch {
      return Promise.resolve(null);
    }
  }

  private udpSocket(family: 4 | 6): dgram.Socket {
    const have = this.udp.get(family);
    if (have) return have;
    const fd = unboundSocketInNetns(this.netns, family, 'udp');
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    sock.bind({ fd });
    sock.on('message', (msg, rinfo) => {
      const h = headerOf(msg);
      const w = h && h.response ? this.waiting.get(h.id) : undefined;
      // Only the server asked may answer: a stray packet with a guessed ID is dropped.
      if (!w || canonicalIp(rinfo.address) !== w.server || rinfo.port !== 53) return;
      this.waiting.delete(h!.id);
      clearTimeout(w.timer);
      w.resolve(msg);
    });
    sock.on('error', () => {
      // A broken socket is replaced on next use; its queries fail over to the next server.
      this.udp.delete(family);
      sock.close();
      for (const [id, w] of this.waiting) if (net.isIPv6(w.server) === (family === 6)) {
        this.waiting.delete(id);
        clearTimeout(w.timer);
        w.resolve(null);
      }
    });
    this.udp.set(family, sock);
    return sock;
  }

  private overUdp(server: string, query: Buffer, timeoutMs: number): Promise<Buffer | null> {
    const family = net.isIPv6(server) ? 6 : 4;
    const sock = this.udpSocket(family);
    let id = randomInt(65536);
    for (let i = 0; this.waiting.has(id) && i < 100; i++) id = randomInt(65536);
    if (this.waiting.has(id)) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(null);
      }, timeoutMs);
      this.waiting.set(id, { server: canonicalIp(server), resolve, timer });
      sock.send(withId(query, id), 53, server, (err) => {
        if (err && this.waiting.get(id)?.timer === timer) {
          this.waiting.delete(id);
          clearTimeout(timer);
          resolve(null);
        }
      });
    });
  }

  private overTcp(server: string, query: Buffer, timeoutMs: number): Promise<Buffer | null> {
    if (!this.tcpBudget.take()) return Promise.resolve(null);
    let fd: number;
    let sock: net.Socket;
    try {
      fd = unboundSocketInNetns(this.netns, net.isIPv6(server) ? 6 : 4, 'tcp');
    } catch (e) {
      this.tcpBudget.give();
      throw e;
    }
    try {
      sock = new net.Socket({ fd, readable: true, writable: true });
    } catch {
      closeFd(fd);
      this.tcpBudget.give();
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      let buf = Buffer.alloc(0);
      let done = false;
      const finish = (b: Buffer | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.tcpInFlight.delete(sock);
        this.tcpBudget.give();
        sock.destroy();
        resolve(b);
      };
      this.tcpInFlight.set(sock, finish);
      const timer = setTimeout(() => finish(null), timeoutMs);
      sock.on('error', () => finish(null));
      sock.on('close', () => finish(null));
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length > 2 + MAX_TCP_MESSAGE) return finish(null);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
      sock.connect(53, server, () => {
        const head = Buffer.alloc(2);
        head.writeUInt16BE(query.length);
        sock.write(Buffer.concat([head, query]));
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const s of this.udp.values()) s.close();
    this.udp.clear();
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.resolve(null);
    }
    this.waiting.clear();
    for (const finish of [...this.tcpInFlight.values()]) finish(null);
  }
}
