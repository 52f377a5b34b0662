/**
 * Which host (address, protocol, port) triples are published, indexed so that checking a
 * mapping and choosing a free port cost time linear in the ports involved, not in the
 * number of mappings already published. Pure.
 *
 *  - `byPort`: protocol and port -> the mappings holding that port (at most one per host
 *    address that can receive a packet for it, so a handful). A clash check walks the
 *    mapping's ports once and compares addresses with `hostIpsOverlap` (which handles the
 *    0.0.0.0 / :: / "every address" wildcards).
 *  - `free`: for each (host address asked for, protocol) a "next free port" array with
 *    path compression (union-find), built the first time that address is asked for and
 *    kept up to date as ports are taken. `-p 80` repeated 10,000 times is then 10,000
 *    near-constant lookups instead of a scan from 32768 each time.
 */
import { hostIpsOverlap, type PortMapping, type PortProto } from '../model/ports.js';

export interface Holder {
  m: PortMapping;
  owner: string;
}

const MAX_PORT = 65535;
const slot = (proto: PortProto, port: number) => (proto === 'tcp' ? 0 : proto === 'udp' ? 1 : 2) * (MAX_PORT + 1) + port;

/** Next free port at or after p (65536 = none), with path compression. */
class NextFree {
  /** parent[p] === p: p is free; otherwise a port after p to look from. Index 65536 is a sentinel. */
  private readonly parent = new Int32Array(MAX_PORT + 2);

  constructor() {
    for (let p = 0; p < this.parent.length; p++) this.parent[p] = p;
  }

  block(p: number): void {
    this.parent[p] = p + 1;
  }

  isFree(p: number): boolean {
    return this.parent[p] === p;
  }

  find(p: number): number {
    let root = p;
    while (this.parent[root] !== root) root = this.parent[root]!;
    while (this.parent[p] !== root) {
      const next = this.parent[p]!;
      this.parent[p] = root;
      p = next;
    }
    return root;
  }
}

export class PortIndex {
  private readonly byPort = new Map<number, Holder[]>();
  /** `${hostIp}/${proto}` -> next-free structure for that address. */
  private readonly free = new Map<string, { ip: string; proto: PortProto; nf: NextFree }>();
  /** `${hostIp}/${proto}/${lo}/${len}` -> first window start not yet ruled out (windows of len > 0). */
  private readonly cursor = new Map<string, number>();

  /** Record that `owner` holds the host ports of `m` (hostPort must be set). */
  add(m: PortMapping, owner: string): void {
    const h: Holder = { m, owner };
    const lists = [...this.free.values()].filter((f) => f.proto === m.proto && hostIpsOverlap(f.ip, m.hostIp));
    for (let p = m.hostPort; p <= m.hostPortEnd; p++) {
      const k = slot(m.proto, p);
      const at = this.byPort.get(k);
      if (at) at.push(h);
      else this.byPort.set(k, [h]);
      for (const f of lists) f.nf.block(p);
    }
  }

  /** The first holder of a port in hostPort..hostPortEnd whose address overlaps `m`'s. */
  clash(m: Pick<PortMapping, 'hostIp' | 'proto' | 'hostPort' | 'hostPortEnd'>): Holder | undefined {
    for (let p = m.hostPort; p <= m.hostPortEnd; p++) {
      const at = this.byPort.get(slot(m.proto, p));
      if (!at) continue;
      const h = at.find((x) => hostIpsOverlap(x.m.hostIp, m.hostIp));
      if (h) return h;
    }
    return undefined;
  }

  /**
   * The lowest start p in lo..hi such that ports p..p+len are all free for `hostIp` and
   * `proto`; 0 when there is none. Each port is looked at once per distinct question,
   * because taken ports only ever become more.
   */
  firstFree(hostIp: string, proto: PortProto, lo: number, hi: number, len: number): number {
    const nf = this.nextFree(hostIp, proto);
    const key = `${hostIp}/${proto}/${lo}/${len}`;
    let p = nf.find(Math.max(lo, this.cursor.get(key) ?? lo));
    search: while (p <= hi) {
      for (let q = p + 1; q <= p + len; q++) {
        if (!nf.isFree(q)) {
          p = nf.find(q + 1);
          continue search;
        }
      }
      if (len) this.cursor.set(key, p);
      return p;
    }
    if (len) this.cursor.set(key, p);
    return 0;
  }

  private nextFree(ip: string, proto: PortProto): NextFree {
    const key = `${ip}/${proto}`;
    let f = this.free.get(key);
    if (!f) {
      f = { ip, proto, nf: new NextFree() };
      const base = slot(proto, 0);
      for (const [k, holders] of this.byPort) {
        if (k >= base && k <= base + MAX_PORT && holders.some((h) => hostIpsOverlap(h.m.hostIp, ip))) f.nf.block(k - base);
      }
      this.free.set(key, f);
    }
    return f.nf;
  }
}
