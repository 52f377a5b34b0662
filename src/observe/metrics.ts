/**
 * The daemon's Prometheus metrics, in a registry of its own (prom-client's global default
 * registry is never used): operations (count and latency by operation and outcome),
 * reconcile actions, the firewall's set sizes and self-heals, the embedded DNS resolver's
 * answers by source and rcode with their latency, the cluster store's health and overlay
 * peers, and prom-client's default process metrics (RSS, descriptors, event-loop lag).
 * prom-client and the registry load at the first scrape; the process metrics' event-loop
 * lag and GC durations are measured from then on.
 *
 * Hot paths stay cheap: operations (milliseconds each) are counted as they end, into a
 * histogram per operation and outcome (tally.ts), whether or not anyone scrapes; the
 * resolver counts into plain arrays (tally.ts, `EmbeddedDns.tally`) and everything else
 * the rooms already count is read only when Prometheus scrapes (`collect`).
 */
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Metric, Registry } from 'prom-client';
import { YardError } from '../errors.js';
import { OPERATIONS, type OperationEvent } from '../engine/operations.js';
import type { ReconcileReport } from '../engine/reconcile.js';
import type { DnsStats } from '../dns/resolver.js';
import { FastHistogram } from './tally.js';

/** What the metrics read from the DNS resolver (EmbeddedDns). */
export interface DnsSource {
  readonly tally: { answers: Float64Array; latency: readonly [FastHistogram, FastHistogram]; upstreamFailed: number };
  readonly stats: DnsStats;
  listenerCount(): number;
}

/** What the metrics read from the firewall (FirewallParticipant). */
export interface FirewallSource {
  setSizes(): Record<string, number>;
  readonly stats: { fullLoads: number; deltas: number; heals: number };
}

/** What the metrics read from the cluster agent (OverlayAgent). */
export interface ClusterSource {
  health(): { connected: boolean; nodes: number; peers: number; globalNetworks: number; remoteEndpoints: number };
}

export interface MetricSources {
  /** The committed state's sizes. */
  state?: () => { networks: number; sandboxes: number; publishedPorts: number };
  dns?: DnsSource;
  firewall?: FirewallSource;
  cluster?: ClusterSource;
}

/** Operation latency buckets (seconds): a connect is a few ms, a big network create or a slow kernel seconds. */
export const OPERATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const SOURCES = ['local', 'forwarded'] as const;

/** Reconcile actions, as the `action` label, from the report's lists. */
const RECONCILE_ACTIONS = {
  created: 'created',
  repaired: 'repaired',
  leftoversRemoved: 'leftover_removed',
  finishedRemovals: 'removal_finished',
  errors: 'error',
} as const satisfies Partial<Record<keyof ReconcileReport, string>>;

/** The resolver's own counters exported as `switchyard_dns_events_total{event=...}`. */
const DNS_EVENTS = {
  malformed: 'malformed',
  truncated: 'truncated',
  overload: 'overload',
  refusedInternal: 'refused_internal',
  tcpRejected: 'tcp_rejected',
  tcpShed: 'tcp_shed',
  tcpTimedOut: 'tcp_timed_out',
  errors: 'error',
} as const satisfies Partial<Record<keyof DnsStats, string>>;

/** An operation's latency by outcome, counted whether or not anyone scrapes. */
interface OperationSeries {
  labels: { operation: string; outcome: string };
  h: FastHistogram;
}

export class DaemonMetrics {
  /**
   * The registry, made at the first scrape: prom-client loads then (about 10 MiB of a
   * process's resident memory), so a daemon nobody scrapes never holds it. What happens
   * before it is counted all the same (below); the process metrics' event-loop lag and GC
   * durations are measured from the first scrape on.
   */
  private registry: Promise<Registry> | undefined;
  private readonly operations = new Map<string, OperationSeries>();
  private readonly reconcileActions = new Map<string, number>(Object.values(RECONCILE_ACTIONS).map((a) => [a, 0]));

  constructor(private readonly sources: MetricSources = {}, private readonly opts: { processMetrics?: boolean } = {}) {
    // Every operation's ok series exists from the start (0), so a rate or a before/after difference never misses it.
    for (const op of OPERATIONS) this.series(op, 'ok');
  }

  private series(operation: string, outcome: string): OperationSeries {
    const key = `${operation}\0${outcome}`;
    let s = this.operations.get(key);
    if (!s) this.operations.set(key, (s = { labels: { operation, outcome }, h: new FastHistogram(OPERATION_BUCKETS) }));
    return s;
  }

  /** The engine's observer (with the log's): one operation ended. */
  operation(e: OperationEvent): void {
    this.series(e.operation, e.outcome).h.observe(e.durationMs / 1000);
  }

  /** A reconcile (at start) or a runtime check released something: count its actions. */
  reconciled(report: Pick<ReconcileReport, keyof typeof RECONCILE_ACTIONS>): void {
    for (const [key, action] of Object.entries(RECONCILE_ACTIONS)) {
      const n = report[key as keyof typeof RECONCILE_ACTIONS].length;
      if (n) this.reconcileActions.set(action, this.reconcileActions.get(action)! + n);
    }
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  async text(): Promise<string> {
    return (await (this.registry ??= this.createRegistry())).metrics();
  }

  /** prom-client's content type for that format (the same before the first scrape). */
  get contentType(): string {
    return PROMETHEUS_CONTENT_TYPE;
  }

  private async createRegistry(): Promise<Registry> {
    const prom = await import('prom-client');
    const registry = new prom.Registry();
    const m = new MetricsBuilder(prom, registry);
    m.counterFrom('switchyard_operations_total', 'Operations ended, by operation and outcome (ok, dry-run or the error code)', ['operation', 'outcome'], () =>
      [...this.operations.values()].map(({ labels, h }) => [labels, h.count]),
    );
    registry.registerMetric(arrayHistogram('switchyard_operation_duration_seconds', 'Duration of operations, by operation and outcome', () => [...this.operations.values()]));
    m.counterFrom('switchyard_reconcile_actions_total', 'What reconcile did: created, repaired, leftover_removed, removal_finished, error', ['action'], () =>
      [...this.reconcileActions].map(([action, n]) => [{ action }, n]),
    );
    stateMetrics(m, this.sources);
    dnsMetrics(m, this.sources);
    firewallMetrics(m, this.sources);
    clusterMetrics(m, this.sources);
    if (this.opts.processMetrics !== false) prom.collectDefaultMetrics({ register: registry });
    return registry;
  }
}

/** The text format's content type, as prom-client's registry gives it. */
const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Metrics whose values are read at scrape, registered in one registry. */
class MetricsBuilder {
  constructor(
    readonly prom: typeof import('prom-client'),
    readonly registry: Registry,
  ) {}

  gauge(name: string, help: string, read: () => number | undefined): void {
    new this.prom.Gauge({
      name, help, registers: [this.registry],
      collect() {
        const v = read();
        if (v !== undefined) this.set(v);
      },
    });
  }

  /** A counter whose value the room keeps: copied at scrape. */
  counterFrom<L extends string>(name: string, help: string, labelNames: L[], read: () => [Partial<Record<L, string>>, number][]): void {
    new this.prom.Counter({
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of read()) this.inc(labels, v);
      },
    });
  }
}

function stateMetrics(m: MetricsBuilder, sources: MetricSources): void {
  const state = sources.state;
  if (!state) return;
  m.gauge('switchyard_networks', 'Networks in the state (predefined ones included)', () => state().networks);
  m.gauge('switchyard_sandboxes', 'Sandboxes in the state', () => state().sandboxes);
  m.gauge('switchyard_published_ports', 'Port mappings published by sandboxes (each -p once; a range counts once)', () => state().publishedPorts);
}

function dnsMetrics(m: MetricsBuilder, sources: MetricSources): void {
  const dns = sources.dns;
  if (!dns) return;
  m.counterFrom('switchyard_dns_queries_total', 'Queries received by the embedded resolver, by transport', ['transport'], () => {
    const s = dns.stats;
    return [[{ transport: 'udp' }, s.queriesUdp], [{ transport: 'tcp' }, s.queriesTcp]];
  });
  m.counterFrom('switchyard_dns_answers_total', 'Answers sent, by source (local: the resolver itself; forwarded: an upstream server\'s, or SERVFAIL when none answered) and rcode', ['source', 'rcode'], () => {
    const out: [Partial<Record<'source' | 'rcode', string>>, number][] = [];
    const a = dns.tally.answers;
    SOURCES.forEach((source, s) => {
      for (let rc = 0; rc < 16; rc++) {
        const n = a[s * 16 + rc]!;
        // The common rcodes always (0 until seen), the rest once seen.
        if (n || rc < RCODE_NAMES.length) out.push([{ source, rcode: RCODE_NAMES[rc] ?? `RCODE${rc}` }, n]);
      }
    });
    return out;
  });
  m.counterFrom('switchyard_dns_forwarded_total', 'Queries forwarded to an upstream server', [], () => [[{}, dns.stats.forwarded]]);
  m.counterFrom('switchyard_dns_upstream_failures_total', 'Forwarded queries that no upstream server answered (answered SERVFAIL)', [], () => [[{}, dns.tally.upstreamFailed]]);
  m.counterFrom('switchyard_dns_upstream_timeouts_total', 'Upstream servers that did not answer in time (one query may try several)', [], () => [[{}, dns.stats.upstreamTimeouts]]);
  m.counterFrom('switchyard_dns_events_total', 'Resolver events: malformed queries, truncated answers, overload, refused_internal, TCP connections rejected/shed/timed out, socket errors', ['event'], () => {
    const s = dns.stats;
    return Object.entries(DNS_EVENTS).map(([k, event]) => [{ event }, s[k as keyof typeof DNS_EVENTS]]);
  });
  m.registry.registerMetric(
    arrayHistogram('switchyard_dns_answer_duration_seconds', 'Time from a query\'s arrival to its answer, by source', () =>
      SOURCES.map((source, s) => ({ labels: { source }, h: dns.tally.latency[s]! })),
    ),
  );
  m.gauge('switchyard_dns_listeners', 'Sandboxes the resolver listens in (127.0.0.11:53)', () => dns.listenerCount());
  m.gauge('switchyard_dns_tcp_connections', 'TCP connections open to the resolver', () => dns.stats.tcpOpen);
  m.gauge('switchyard_dns_upstream_tcp_sockets', 'TCP sockets open to upstream servers', () => dns.stats.upstreamTcpOpen);
}

function firewallMetrics(m: MetricsBuilder, sources: MetricSources): void {
  const fw = sources.firewall;
  if (!fw) return;
  new m.prom.Gauge({
    name: 'switchyard_firewall_set_elements', help: 'Elements loaded in each set and map of Switchyard\'s nftables tables', labelNames: ['set'], registers: [m.registry],
    collect() {
      this.reset();
      for (const [set, n] of Object.entries(fw.setSizes())) this.set({ set }, n);
    },
  });
  m.counterFrom('switchyard_firewall_loads_total', 'nftables loads: full (start-up, self-heal, repair) or delta (one per operation that changes elements)', ['kind'], () => [
    [{ kind: 'full' }, fw.stats.fullLoads],
    [{ kind: 'delta' }, fw.stats.deltas],
  ]);
  m.counterFrom('switchyard_firewall_heals_total', 'Times the self-heal found Switchyard\'s tables changed or missing and restored them from state', [], () => [[{}, fw.stats.heals]]);
}

function clusterMetrics(m: MetricsBuilder, sources: MetricSources): void {
  const cluster = sources.cluster;
  if (!cluster) return;
  m.gauge('switchyard_cluster_store_up', '1 while this host is a member of the cluster store (etcd answers, lease held), else 0', () => (cluster.health().connected ? 1 : 0));
  m.gauge('switchyard_cluster_nodes', 'Hosts registered in the cluster store, this one included', () => cluster.health().nodes);
  m.gauge('switchyard_overlay_peers', 'Other hosts of the cluster (VXLAN peers)', () => cluster.health().peers);
  m.gauge('switchyard_overlay_remote_endpoints', 'Endpoints of other hosts on global networks', () => cluster.health().remoteEndpoints);
  m.gauge('switchyard_cluster_global_networks', 'Global (overlay) networks in the cluster store', () => cluster.health().globalNetworks);
}

/** Prometheus's text for a bucket bound: `+Inf` for the last. */
const le = (v: number) => (Number.isFinite(v) ? String(v) : '+Inf');

/**
 * A histogram whose buckets are FastHistograms filled elsewhere, exposed to the registry
 * as prom-client exposes its own (the registry asks a metric for `get()`).
 */
function arrayHistogram(name: string, help: string, series: () => { labels: Record<string, string>; h: FastHistogram }[]): Metric {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset() {},
    async get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const { labels, h } of series()) {
        for (const b of h.cumulative()) values.push({ labels: { ...labels, le: le(b.le) }, value: b.count, metricName: `${name}_bucket` });
        values.push({ labels, value: h.sum, metricName: `${name}_sum` });
        values.push({ labels, value: h.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  return metric as unknown as Metric;
}

/**
 * `--metrics-listen ADDRESS:PORT`: loopback only (127.0.0.0/8 or [::1]); the metrics name
 * networks and sandboxes, so they are never served beyond this host.
 */
export function parseMetricsListen(v: string, field = '--metrics-listen'): { host: string; port: number } {
  const refuse = (why: string) =>
    new YardError('INVALID_ARGUMENT', `${field} ${JSON.stringify(v.slice(0, 80))} ${why}`, {
      field,
      hint: 'give a loopback address and a port, e.g. 127.0.0.1:9464 or [::1]:9464; the API socket serves GET /metrics too',
    });
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  if (!m) throw refuse('is not ADDRESS:PORT');
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw refuse(`has port ${port}, outside 1-65535`);
  if (m[1] !== undefined ? !net.isIPv6(host) : !net.isIPv4(host)) throw refuse(`names no IP address (${host}): give the address itself, not a host name`);
  if (ipaddr.parse(host).range() !== 'loopback') throw refuse('is not a loopback address: metrics are served only on 127.0.0.0/8 or [::1]');
  return { host, port };
}
