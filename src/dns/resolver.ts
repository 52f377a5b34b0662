/**
 * The embedded DNS resolver: one per daemon, serving 127.0.0.11:53 inside every sandbox
 * that is on a user-defined network. It is an engine Participant, so its records change
 * in the same step as the operation (a name resolves before `run`/`connect` returns and is
 * gone when `rm`/`disconnect` returns), and its sockets are opened and closed with the
 * sandbox (and opened again for every sandbox at start-up, in reconcile).
 *
 * Answers are scoped by the socket a query arrived on: the listener knows its sandbox, the
 * sandbox its networks. Local names are answered synchronously from the records; the rest
 * goes upstream (upstream.ts) unless the sandbox is only on --internal networks, in which
 * case the resolver answers REFUSED at once (nothing may leave an internal network, and a
 * quick refusal beats a client timeout).
 *
 * The batched fast path (fast-path.ts) reads the sandboxes' UDP sockets on a thread of its
 * own and answers repeated A/AAAA queries for local names from bytes this resolver taught it
 * (`learn`, after answering the first); `changed` invalidates them on every records change.
 *
 * Backpressure: forwarded queries in flight are bounded per sandbox; over the bound a
 * query gets SERVFAIL immediately and `overload` counts it. TCP connections of all
 * sandboxes share one pool bounded by a cap derived from the daemon's descriptor limit
 * (tcp-pool.ts), as do upstream TCP sockets. Every outcome has a counter
 * (GET /yard/v1/dns/stats), and every answer is counted by source and rcode with its
 * latency (`tally`, for GET /metrics).
 */
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { YardError } from '../errors.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import type { Change, EngineLink, Participant, ParticipantConfig, ParticipantContext, StateView, Undo } from '../engine/participants.js';
import type { ResolvInput } from './sandbox-files.js';
import { SandboxListener } from './listener.js';
import { FastPath } from './fast-path.js';
import { addressBytes, readFastQuery } from './fast-answer.js';
import { STAT } from './fast-protocol.js';
import { badVersion, describeAnswer, fitUdp, localReply, MAX_TCP_MESSAGE, parseQuery, RCODE, reply, type Query } from './message.js';
import {
  buildRecords,
  canonicalIp,
  DNS_GATEWAY_LABEL,
  EMBEDDED_DNS,
  embeddedResolvConf,
  isLoop,
  lookupLocal,
  mayForward,
  refreshRecords,
  upstreamsOf,
  usesEmbeddedDns,
  type Holder,
  type Records,
} from './records.js';
import { Budget, dnsTcpLimits, MAX_TCP_PER_SANDBOX, TcpPool, type DnsTcpLimits } from './tcp-pool.js';
import { forward, MAX_PENDING_PER_SANDBOX, UPSTREAM_TIMEOUT_MS } from './upstream.js';
import { nofileLimit } from '../kernel/netns-socket.js';
import { DNS_LATENCY_BUCKETS, FastHistogram } from '../observe/tally.js';

export interface DnsStats {
  queriesUdp: number;
  queriesTcp: number;
  local: number;
  nodata: number;
  /** Of `local` and `nodata` over UDP: answered by the batched fast path (fast-path.ts) from cached bytes. */
  fastPath: number;
  forwarded: number;
  upstreamTimeouts: number;
  servfail: number;
  refusedInternal: number;
  malformed: number;
  truncated: number;
  overload: number;
  tcpRejected: number;
  /** TCP connections open now, across all sandboxes, and their cap. */
  tcpOpen: number;
  tcpMax: number;
  /** Closed to make room for a new one at a cap (the idlest, else the oldest). */
  tcpShed: number;
  /** Closed at a deadline: 10 s of life, 2 s for a message to arrive whole, 5 s idle. */
  tcpTimedOut: number;
  /** Upstream TCP sockets open now, across all sandboxes, and their cap. */
  upstreamTcpOpen: number;
  upstreamTcpMax: number;
  errors: number;
}

export interface Explanation {
  from: string;
  question: { name: string; type: string };
  networks: string[];
  /** `docker`: a Docker container asks, and Docker's own embedded DNS answers it (src/plugin/docker-explain.ts). */
  source: 'local' | 'upstream' | 'refused' | 'none' | 'docker';
  network?: string;
  rcode: string;
  records: string[];
  reason: string;
  upstreams: string[];
  trace: string[];
}

const EXPLAIN_TYPES = ['A', 'AAAA', 'PTR', 'MX', 'TXT', 'SRV', 'CNAME', 'NS', 'SOA'];

export class EmbeddedDns implements Participant {
  readonly name = 'dns';
  /** The engine's state as of the last change this resolver followed (the change's after-view). */
  private nets: ReadonlyMap<string, NetworkRecord> = new Map();
  private sbs: ReadonlyMap<string, SandboxRecord> = new Map();
  /** Sandboxes on other hosts (overlay networks), handed over by the cluster agent. */
  private remote: SandboxRecord[] = [];
  /**
   * Brought up to date on first use after a change (a burst of creates with no query
   * between does nothing): only the sandboxes that changed are updated (refreshRecords).
   */
  private recordsCache: Records | undefined;
  private recordsStale = true;
  private listeners = new Map<string, SandboxListener>();
  /** By network ID: listeners on the gateway address of networks labelled DNS_GATEWAY_LABEL. */
  private gateways = new Map<string, SandboxListener>();
  private rotations = new WeakMap<Holder[], number>();
  private daemonDns: readonly string[] = [];
  private log: (m: string) => void = () => {};
  private counters = {
    queriesUdp: 0, queriesTcp: 0, local: 0, nodata: 0, fastPath: 0, forwarded: 0, upstreamTimeouts: 0, servfail: 0,
    refusedInternal: 0, malformed: 0, truncated: 0, overload: 0, tcpRejected: 0, tcpShed: 0, tcpTimedOut: 0, errors: 0,
  };
  /**
   * For the metrics, filled in place on every answer: answers by source (0: answered by
   * the resolver itself, 1: forwarded upstream) and rcode, at `source * 16 + rcode`; their
   * latency per source (query in, answer out); forwarded queries no upstream answered.
   */
  private readonly answerTally = {
    answers: new Float64Array(32),
    latency: [new FastHistogram(DNS_LATENCY_BUCKETS), new FastHistogram(DNS_LATENCY_BUCKETS)] as const,
    upstreamFailed: 0,
  };
  get tally() {
    this.foldFast();
    return this.answerTally;
  }
  /** The batched fast path (fast-path.ts): started with the first sandbox listener; null when it cannot run. */
  private fast: FastPath | null | undefined;
  private fastStarting?: Promise<FastPath | null>;
  /** The fast path's counters as of the last fold into `counters` and `tally`. */
  private fastFolded = new Float64Array(0);
  /** The caps on TCP connections and upstream TCP sockets, from the descriptor limit. */
  limits: DnsTcpLimits;
  private pool: TcpPool;
  private upstreamTcp: Budget;

  /**
   * `nofile`: a fixed descriptor limit to derive the TCP caps from; by default the
   * process's own soft limit, looked at again as connections arrive (at most once a second).
   */
  constructor(private opts: { upstreamTimeoutMs?: number; nofile?: number; threadV8Flags?: readonly string[] } = {}) {
    this.limits = dnsTcpLimits(opts.nofile ?? nofileLimit().soft);
    this.pool = new TcpPool(this.limits.tcpMax, MAX_TCP_PER_SANDBOX, {
      shed: () => this.counters.tcpShed++,
      timedOut: () => this.counters.tcpTimedOut++,
    });
    this.upstreamTcp = new Budget(this.limits.upstreamTcpMax);
    if (opts.nofile === undefined) this.pool.refresh = () => this.followLimit();
  }

  private followLimit(): void {
    let soft: number;
    try {
      soft = nofileLimit().soft;
    } catch {
      return;
    }
    const next = dnsTcpLimits(soft);
    if (next.nofile === this.limits.nofile) return;
    this.limits = next;
    this.pool.max = next.tcpMax;
    this.upstreamTcp.max = next.upstreamTcpMax;
    this.log(`dns: descriptor limit now ${next.nofile}: at most ${next.tcpMax} TCP connections and ${next.upstreamTcpMax} upstream TCP sockets in all`);
  }

  /** Add what the fast path answered since the last fold to the counters and the metrics. */
  private foldFast(): void {
    const now = this.fast?.counts;
    if (!now) return;
    if (this.fastFolded.length !== now.length) this.fastFolded = new Float64Array(now.length);
    const d = (i: number) => now[i]! - this.fastFolded[i]!;
    const local = d(STAT.local);
    const nodata = d(STAT.nodata);
    this.counters.queriesUdp += local + nodata;
    this.counters.local += local;
    this.counters.nodata += nodata;
    this.counters.fastPath += local + nodata;
    this.answerTally.answers[0]! += local + nodata;
    const h = this.answerTally.latency[0];
    for (let i = 0; i < h.counts.length; i++) h.counts[i]! += d(STAT.buckets + i);
    h.count += d(STAT.latencyCount);
    h.sum += d(STAT.latencySum);
    this.fastFolded.set(now);
  }

  get stats(): DnsStats {
    this.foldFast();
    const { errors, ...rest } = this.counters;
    return {
      ...rest,
      tcpOpen: this.pool.size,
      tcpMax: this.limits.tcpMax,
      upstreamTcpOpen: this.upstreamTcp.used,
      upstreamTcpMax: this.limits.upstreamTcpMax,
      errors,
    };
  }

  // ------------------------------------------------------------ participant

  validate(change: Change, ctx: ParticipantContext): void {
    if (change.kind !== 'sandbox.create' && change.kind !== 'connect') return;
    const sb = change.sb;
    for (const s of sb.dns) {
      if (!net.isIP(s)) {
        throw new YardError('INVALID_ARGUMENT', `--dns ${s} is not an IP address`, { field: '--dns', hint: 'give the upstream server as an IPv4 or IPv6 address, e.g. --dns 10.0.0.2' });
      }
      if (isLoop(s)) {
        throw new YardError('INVALID_ARGUMENT', `--dns ${s} is the embedded resolver itself: forwarding to it would loop`, {
          field: '--dns',
          hint: 'give the address of a real upstream server (the embedded resolver at 127.0.0.11 forwards to it)',
        });
      }
    }
    if (!sb.dns.length && ctx.config.dns.some(isLoop)) {
      throw new YardError('INVALID_ARGUMENT', `the daemon's upstream DNS includes ${EMBEDDED_DNS}, the embedded resolver itself: forwarding to it would loop`, {
        field: '--dns',
        hint: 'give this sandbox --dns <upstream>, or restart the daemon with --dns <a real upstream>',
      });
    }
  }

  async apply(change: Change, ctx: ParticipantContext): Promise<Undo | void> {
    this.bind(ctx);
    const prev = { nets: this.nets, sbs: this.sbs };
    const restore = () => {
      this.nets = prev.nets;
      this.sbs = prev.sbs;
      this.changed();
    };
    // Before the namespace goes: an open socket would keep the namespace alive.
    if (change.kind === 'sandbox.remove') this.closeListener(change.sb.id);
    this.follow(ctx.after);
    switch (change.kind) {
      case 'network.create':
        await this.syncGateways().catch((e: unknown) => {
          restore();
          void this.syncGateways().catch(() => {});
          throw e;
        });
        return () => {
          restore();
          void this.syncGateways().catch(() => {});
        };
      case 'sandbox.create':
      case 'connect': {
        // Undone: the state as it is then, not as it was before this change (creates run
        // beside each other, and another's sandbox may have been applied since).
        const opened = await this.syncListener(change.sb).catch((e: unknown) => {
          this.follow(ctx.view());
          throw e;
        });
        return () => {
          if (opened) this.closeListener(change.sb.id);
          this.follow(ctx.view());
        };
      }
      case 'disconnect': {
        const next = this.sbs.get(change.sb.id);
        if (!next || !this.usesResolver(next)) this.closeListener(change.sb.id);
        return;
      }
      case 'network.remove':
        await this.syncGateways();
        return;
      case 'sandbox.remove':
      case 'sandbox.ports':
        return;
    }
  }

  async reconcile(link: EngineLink): Promise<void> {
    this.bind(link);
    for (const l of [...this.listeners.values(), ...this.gateways.values()]) l.close();
    this.listeners.clear();
    this.gateways.clear();
    this.follow(link.view());
    if (link.config.dns.some(isLoop)) link.log(`dns: the daemon's upstream list includes ${EMBEDDED_DNS} (the resolver itself); it is skipped`);
    const failed: string[] = [];
    for (const sb of this.sbs.values()) {
      try {
        await this.syncListener(sb);
      } catch (e) {
        failed.push(`${sb.name}: ${(e as Error).message}`);
      }
    }
    await this.syncGateways().catch((e: unknown) => failed.push((e as Error).message));
    if (failed.length) throw new Error(`resolver sockets not opened for ${failed.length} sandbox(es): ${failed.join('; ')}`);
  }

  resolvConf(sb: SandboxRecord, view: StateView, config: ParticipantConfig): ResolvInput | undefined {
    // The engine asks before the change is committed: judge from the record itself.
    const networks = Object.keys(sb.endpoints).map((id) => view.networks.get(id) ?? this.nets.get(id)).filter((n): n is NetworkRecord => !!n);
    const probe = buildRecords(networks, []);
    if (!sb.netns || !Object.keys(sb.endpoints).some((id) => probe.networks.has(id))) return undefined;
    return embeddedResolvConf(sb, { dnsSearch: [...config.dnsSearch], dnsOptions: [...config.dnsOptions] });
  }

  close(): void {
    for (const l of [...this.listeners.values(), ...this.gateways.values()]) l.close();
    this.listeners.clear();
    this.gateways.clear();
    this.pool.close();
    this.fast?.stop();
  }

  // ------------------------------------------------------------ state

  private bind(link: EngineLink): void {
    this.daemonDns = link.config.dns;
    this.log = (m) => link.log(m);
  }

  /** Take the engine's state as it is after a change (or at start-up), and answer from it. */
  private follow(view: StateView): void {
    this.nets = view.networks;
    this.sbs = view.sandboxes;
    this.changed();
  }

  /** The cluster agent's hook: names of sandboxes on other hosts of an overlay network answer too. */
  setRemoteSandboxes(sbs: SandboxRecord[]): void {
    this.remote = sbs;
    this.changed();
  }

  private get records(): Records {
    if (this.recordsStale || !this.recordsCache) {
      this.recordsCache = refreshRecords(this.recordsCache, this.nets.values(), [...this.sbs.values(), ...this.remote]);
      this.recordsStale = false;
    }
    return this.recordsCache;
  }

  /** Whether a sandbox uses the resolver, judged from its own networks alone (no records of every sandbox built for it). */
  private usesResolver(sb: SandboxRecord): boolean {
    const networks = Object.keys(sb.endpoints).map((id) => this.nets.get(id)).filter((n): n is NetworkRecord => !!n);
    return usesEmbeddedDns(buildRecords(networks, []), sb);
  }

  private changed(): void {
    // Before the new records answer: no cached answer of the fast path outlives this change.
    this.fast?.invalidate();
    this.recordsStale = true;
  }

  /** The gateway addresses a network is answered on (bridge networks with DNS_GATEWAY_LABEL). */
  private gatewayAddresses(n: NetworkRecord): string[] {
    if (n.deleting || n.driver !== 'bridge' || n.labels?.[DNS_GATEWAY_LABEL] !== 'true') return [];
    return n.ipam.config.map((p) => p.gateway).filter((g): g is string => !!g && net.isIPv4(g));
  }

  /** Open the gateway listeners that networks need, close those no network needs. */
  private async syncGateways(): Promise<void> {
    for (const [id, l] of this.gateways) {
      const n = this.nets.get(id);
      if (!n || !this.gatewayAddresses(n).length) {
        l.close();
        this.gateways.delete(id);
      }
    }
    for (const n of this.nets.values()) {
      const [gw] = this.gatewayAddresses(n);
      if (!gw || this.gateways.has(n.id)) continue;
      const events = {
        tcpRejected: () => this.counters.tcpRejected++,
        error: (what: string) => {
          this.counters.errors++;
          this.log(`dns: ${what}`);
        },
      };
      // Whoever asks is known by address (the network's PTR records); a stranger is refused (handle finds no sandbox '').
      const ask = (q: Buffer, tcp: boolean, from: string) => this.handle(this.askerOf(n.id, from), q, tcp);
      try {
        this.gateways.set(n.id, await SandboxListener.openOnHost(`gateway:${n.id}`, gw, ask, events, this.pool));
      } catch (e) {
        throw new YardError('KERNEL_FAILED', `cannot open the DNS resolver's sockets on ${gw}:53 (gateway of network ${n.name}): ${(e as Error).message}`, {
          hint: 'another DNS server (aardvark-dns, dnsmasq) may hold that address and port; stop it',
          cause: e,
        });
      }
    }
  }

  /** The sandbox with address `from` on network `netId` ('' if none). */
  private askerOf(netId: string, from: string): string {
    return this.records.networks.get(netId)?.ptr.get(canonicalIp(from.replace(/^::ffff:/, '')))?.at(-1)?.sandboxId ?? '';
  }

  /** Open the sandbox's sockets if it needs them; true if this call opened them. */
  private async syncListener(sb: SandboxRecord): Promise<boolean> {
    const needs = this.usesResolver(sb);
    if (!needs) {
      this.closeListener(sb.id);
      return false;
    }
    if (this.listeners.has(sb.id)) return false;
    try {
      const events = {
        tcpRejected: () => this.counters.tcpRejected++,
        error: (what: string) => {
          this.counters.errors++;
          this.log(`dns: ${what}`);
        },
        answered: (slot: number, q: Buffer) => this.learn(sb.id, slot, q),
      };
      const fast = await this.fastPath();
      const l = await SandboxListener.open(sb.id, sb.netns!, (q, tcp) => this.handle(sb.id, q, tcp), events, this.pool, this.upstreamTcp, fast);
      this.listeners.set(sb.id, l);
      return true;
    } catch (e) {
      throw new YardError('KERNEL_FAILED', `cannot open the DNS resolver's sockets (${EMBEDDED_DNS}:53) in sandbox ${sb.name}: ${(e as Error).message}`, {
        hint: 'check that the sandbox namespace exists and its lo is up (ip netns exec <ns> ip addr show lo)',
        cause: e,
      });
    }
  }

  private async fastPath(): Promise<FastPath | null> {
    if (this.fast !== undefined) return this.fast?.running ? this.fast : null;
    this.fastStarting ??= FastPath.start((m) => this.log(m), this.opts.threadV8Flags).then((f) => {
      // Counting carries on from where a previous fast path left off.
      this.foldFast();
      this.fastFolded = new Float64Array(0);
      this.fast = f;
      return f;
    });
    return this.fastStarting;
  }

  /**
   * After the JavaScript path answered a UDP query the fast path passed on: if the answer
   * is one the fast path can give (A/AAAA of a local name with one address, or none),
   * teach it, valid until the next records change.
   */
  private learn(sandboxId: string, slot: number, raw: Buffer): void {
    if (!this.fast) return;
    const fq = readFastQuery(raw, 0, raw.length);
    const sb = fq && this.sbs.get(sandboxId);
    if (!fq || !sb) return;
    const parsed = parseQuery(raw);
    if (!parsed.ok) return;
    const hit = lookupLocal(this.records, sb, parsed.query.question.name, parsed.query.question.type);
    let rdata: Uint8Array[];
    if (hit.kind === 'nodata') rdata = [];
    else if (hit.kind === 'addresses' && hit.addresses.length === 1) {
      const b = addressBytes(hit.addresses[0]!, fq.qtype);
      if (!b) return;
      rdata = [b];
    } else return;
    this.fast.learn(slot, fq.key, rdata);
  }

  private closeListener(id: string): void {
    this.listeners.get(id)?.close();
    this.listeners.delete(id);
  }

  listenerCount(): number {
    return this.listeners.size;
  }

  // ------------------------------------------------------------ queries

  private nextRotation = (holders: Holder[]): number => {
    const k = this.rotations.get(holders) ?? 0;
    this.rotations.set(holders, k + 1);
    return k;
  };

  /** One query from a sandbox's socket: an answer now, later, or null (stay silent). */
  handle(sandboxId: string, raw: Buffer, tcp: boolean): Buffer | null | Promise<Buffer | null> {
    const t0 = performance.now();
    if (tcp) this.counters.queriesTcp++;
    else this.counters.queriesUdp++;
    const parsed = parseQuery(raw);
    if (!parsed.ok) {
      this.counters.malformed++;
      return parsed.reply && this.counted(0, parsed.reply, t0);
    }
    const q = parsed.query;
    const out = this.answer(sandboxId, q, raw, tcp);
    // Only forwarding answers later.
    return out instanceof Promise ? out.then((b) => this.counted(1, this.fit(q, b, tcp), t0)) : this.counted(0, this.fit(q, out, tcp), t0);
  }

  /** Count an answer by source and rcode (the low 4 bits of header byte 3), and its latency. */
  private counted(source: 0 | 1, answer: Buffer, t0: number): Buffer {
    this.answerTally.answers[source * 16 + (answer[3]! & 15)]!++;
    this.answerTally.latency[source].observe((performance.now() - t0) / 1000);
    return answer;
  }

  private fit(q: Query, answer: Buffer, tcp: boolean): Buffer {
    if (tcp) return answer.length <= MAX_TCP_MESSAGE ? answer : fitUdp({ ...q, udpSize: MAX_TCP_MESSAGE }, answer).buf;
    const f = fitUdp(q, answer);
    if (f.truncated) this.counters.truncated++;
    return f.buf;
  }

  private answer(sandboxId: string, q: Query, raw: Buffer, tcp: boolean): Buffer | Promise<Buffer> {
    if (q.edns && q.ednsVersion !== 0) return badVersion(q);
    const sb = this.sbs.get(sandboxId);
    if (!sb) return reply(q, RCODE.REFUSED);
    const hit = lookupLocal(this.records, sb, q.question.name, q.question.type, this.nextRotation);
    if (hit.kind !== 'none') {
      if (hit.kind === 'nodata') this.counters.nodata++;
      else this.counters.local++;
      return localReply(q, hit);
    }
    if (!mayForward(sb, this.nets)) {
      this.counters.refusedInternal++;
      return reply(q, RCODE.REFUSED);
    }
    const servers = upstreamsOf(sb, this.daemonDns).filter((s) => !isLoop(s));
    const transport = this.listeners.get(sandboxId)?.transport;
    if (!servers.length || !transport) {
      this.counters.servfail++;
      return reply(q, RCODE.SERVFAIL);
    }
    // A forwarded TCP query holds an upstream socket: all sandboxes share a cap on them.
    if (transport.pending >= MAX_PENDING_PER_SANDBOX || (tcp && this.upstreamTcp.full)) {
      this.counters.overload++;
      return reply(q, RCODE.SERVFAIL);
    }
    this.counters.forwarded++;
    return forward(transport, servers, raw, tcp, this.opts.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS).then((r) => {
      this.counters.upstreamTimeouts += r.timeouts;
      if (r.reply) return r.reply;
      this.counters.servfail++;
      this.answerTally.upstreamFailed++;
      return reply(q, RCODE.SERVFAIL);
    });
  }

  // ------------------------------------------------------------ explain

  /**
   * What the resolver answers `name` (or, for an IP address, its PTR) when `sb` asks, and
   * why. Upstream names are really forwarded, from the sandbox's namespace.
   */
  async explain(sb: SandboxRecord, name: string, type?: string): Promise<Explanation> {
    const qtype = (type ?? (net.isIP(name) ? 'PTR' : 'A')).toUpperCase();
    if (!EXPLAIN_TYPES.includes(qtype)) {
      throw new YardError('INVALID_ARGUMENT', `--type ${type} is not a record type explain knows`, { field: '--type', hint: `use one of ${EXPLAIN_TYPES.join(', ')}` });
    }
    const qname = qtype === 'PTR' && net.isIP(name) ? reverseName(name) : name;
    const scope = Object.values(sb.endpoints)
      .sort((a, b) => a.order - b.order)
      .map((ep) => this.records.networks.get(ep.networkId)?.net.name)
      .filter((n): n is string => !!n);
    const upstreams = upstreamsOf(sb, this.daemonDns);
    const base = { from: sb.name, question: { name: qname, type: qtype }, networks: scope, upstreams, trace: [] as string[] };
    if (!usesEmbeddedDns(this.records, sb)) {
      return {
        ...base, source: 'none', rcode: '-', records: [],
        reason: `sandbox ${sb.name} is not on a user-defined network: it has no embedded resolver; its resolv.conf lists ${upstreams.join(', ') || 'no servers'} and they answer it directly`,
      };
    }
    const hit = lookupLocal(this.records, sb, qname, qtype);
    if (hit.kind !== 'none') {
      const q: Query = { id: 0, rd: true, question: { name: qname, type: qtype as 'A', class: 'IN' }, edns: false, ednsVersion: 0, udpSize: MAX_TCP_MESSAGE };
      const d = describeAnswer(localReply(q, hit));
      const why =
        hit.kind === 'ptr'
          ? `${hit.address} is the address of ${hit.target.split('.')[0]} on network ${hit.network.name}`
          : `${hit.holders.map((h) => `${h.sandboxName} (${h.kind})`).join(', ')} on network ${hit.network.name}` +
            (hit.kind === 'nodata' ? `, which has no ${qtype} record: empty answer` : '');
      return { ...base, source: 'local', network: hit.network.name, rcode: d.rcode, records: d.answers, reason: `local: ${why}` };
    }
    if (!mayForward(sb, this.nets)) {
      return { ...base, source: 'refused', rcode: 'REFUSED', records: [], reason: `${hit.reason}; not forwarded: sandbox ${sb.name} is only on internal networks` };
    }
    const transport = this.listeners.get(sb.id)?.transport;
    const servers = upstreams.filter((s) => !isLoop(s));
    if (!transport || !servers.length) {
      return { ...base, source: 'upstream', rcode: 'SERVFAIL', records: [], reason: `${hit.reason}; no upstream server to forward to` };
    }
    const { default: dnsPacket } = await import('dns-packet');
    const raw = dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: qname, type: qtype as 'A', class: 'IN' }] });
    const r = await forward(transport, servers, raw, false, this.opts.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS);
    const d = r.reply ? describeAnswer(r.reply) : { rcode: 'SERVFAIL', answers: [] };
    return {
      ...base, source: 'upstream', rcode: d.rcode, records: d.answers, trace: r.trace,
      reason: `${hit.reason}; forwarded from inside the sandbox's namespace${r.server ? `, answered by ${r.server}` : ': no server answered'}`,
    };
  }
}

/** The PTR question name of an address. */
export function reverseName(ip: string): string {
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv4') return `${a.toString().split('.').reverse().join('.')}.in-addr.arpa`;
  const hex = a.toNormalizedString().split(':').map((g) => g.padStart(4, '0')).join('');
  return `${hex.split('').reverse().join('.')}.ip6.arpa`;
}
