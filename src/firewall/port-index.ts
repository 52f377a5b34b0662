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
 *
 * `PublishedPorts` keeps one index for the daemon's whole life, brought up to date with
 * the state before each check (records compared by identity: only the sandboxes that
 * changed are re-indexed), so publishing one more port costs the same with 20,000 ports
 * already published as with none.
 */
import { hostIpsOverlap, type PortMapping, type PortProto } from '../model/ports.js';
import type { SandboxRecord } from '../model/types.js';

export interface Holder {
  m: PortMapping;
  owner: string;
}

const MAX_PORT = 65535;
const slot = (proto: PortProto, port: number) => (proto === 'tcp' ? 0 : proto === 'udp' ? 1 : 2) * (MAX_PORT + 1) + port;

/** Next free port at or after p (65536 = none), with path compression. */
class NextFree {
  /**
   * 0: p is free; otherwise a port after p to look from (always > p, so never 0). Index
   * 65536 is a sentinel that stays free. Zero-filled on creation: nothing to initialise.
   */
  private readonly next = new Int32Array(MAX_PORT + 2);

  block(p: number): void {
    this.next[p] = p + 1;
  }

  isFree(p: number): boolean {
    return this.next[p] === 0;
  }

  find(p: number): number {
    let root = p;
    while (this.next[root] !== 0) root = this.next[root]!;
    while (p !== root && this.next[p] !== root) {
      const after = this.next[p]!;
      this.next[p] = root;
      p = after;
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

  /**
   * Forget that `owner` holds the host ports of `m` (the same object given to add). The
   * next-free structures cannot give a port back, so they are dropped and rebuilt from
   * `byPort` the next time a free port is asked for.
   */
  remove(m: PortMapping, owner: string): void {
    let removed = false;
    for (let p = m.hostPort; p <= m.hostPortEnd; p++) {
      const k = slot(m.proto, p);
      const at = this.byPort.get(k);
      if (!at) continue;
      const rest = at.filter((h) => h.m !== m || h.owner !== owner);
      if (rest.length === at.length) continue;
      removed = true;
      if (rest.length) this.byPort.set(k, rest);
      else this.byPort.delete(k);
    }
    if (removed) {
      this.free.clear();
      this.cursor.clear();
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

/** The published ports of every sandbox of a state, indexed once and kept up to date. */
export class PublishedPorts {
  private readonly index = new PortIndex();
  /** What is indexed, by sandbox ID: its ports array (by identity) and name. */
  private readonly held = new Map<string, { ports: readonly PortMapping[]; name: string }>();

  /**
   * The index of the ports of `sandboxes` except `skip` (the sandbox being checked, whose
   * ports it must not hold). Re-indexes only the sandboxes added, removed or changed
   * since the last call.
   */
  sync(sandboxes: ReadonlyMap<string, SandboxRecord>, skip: string): PortIndex {
    for (const [id, h] of this.held) {
      const now = id === skip ? undefined : sandboxes.get(id);
      if (now && !now.deleting && now.ports === h.ports && now.name === h.name) continue;
      this.drop(id);
    }
    for (const [id, sb] of sandboxes) {
      if (id === skip || sb.deleting || this.held.has(id) || !sb.ports?.length) continue;
      this.hold(sb);
    }
    return this.index;
  }

  /**
   * After `sb`'s ports were checked against (and added to) the index returned by sync:
   * remember them as its, so the next sync keeps them when the sandbox is stored with
   * them and drops them when it is not.
   */
  checked(sb: SandboxRecord): void {
    if (sb.ports?.length) this.held.set(sb.id, { ports: sb.ports, name: sb.name });
  }

  private hold(sb: SandboxRecord): void {
    for (const m of sb.ports ?? []) if (m.hostPort) this.index.add(m, sb.name);
    this.held.set(sb.id, { ports: sb.ports ?? [], name: sb.name });
  }

  private drop(id: string): void {
    const h = this.held.get(id);
    if (!h) return;
    for (const m of h.ports) if (m.hostPort) this.index.remove(m, h.name);
    this.held.delete(id);
  }
}
