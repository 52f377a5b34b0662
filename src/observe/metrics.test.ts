import http from 'node:http';
import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { register as globalRegistry } from 'prom-client';
import { YardError } from '../errors.js';
import { DaemonMetrics, parseMetricsListen, type ClusterSource, type FirewallSource } from './metrics.js';
import { DNS_LATENCY_BUCKETS, FastHistogram } from './tally.js';
import { serveMetrics } from './serve.js';
import { EmbeddedDns } from '../dns/resolver.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { createApp } from '../api/server.js';
import { makeEngine } from '../../test/unit/fakes.js';
import { parseMetrics, readSamples, sampleValue } from '../../test/unit/prom.js';

const scrape = async (m: DaemonMetrics) => readSamples(await m.text());

describe('FastHistogram', () => {
  it('counts a value on a bound in that bound\'s bucket, above every bound in +Inf, cumulatively', () => {
    const h = new FastHistogram([0.001, 0.01, 0.1]);
    for (const v of [0.0005, 0.001, 0.005, 0.01, 5]) h.observe(v);
    expect(h.cumulative()).toEqual([
      { le: 0.001, count: 2 },
      { le: 0.01, count: 4 },
      { le: 0.1, count: 4 },
      { le: Infinity, count: 5 },
    ]);
    expect(h.count).toBe(5);
    expect(h.sum).toBeCloseTo(5.0165, 6);
    expect(() => new FastHistogram([0.1, 0.01])).toThrow(/must increase/);
  });
});

describe('DaemonMetrics', () => {
  it('counts operations by operation and outcome, with every ok series present at 0 from the start', async () => {
    const m = new DaemonMetrics({}, { processMetrics: false });
    const before = await scrape(m);
    expect(sampleValue(before, 'switchyard_operations_total', { operation: 'network.create', outcome: 'ok' })).toBe(0);
    m.operation({ operation: 'network.create', outcome: 'ok', durationMs: 3, fields: {} });
    m.operation({ operation: 'network.create', outcome: 'ok', durationMs: 40, fields: {} });
    m.operation({ operation: 'network.create', outcome: 'NETWORK_EXISTS', durationMs: 0.2, fields: {} });
    const s = await scrape(m);
    expect(sampleValue(s, 'switchyard_operations_total', { operation: 'network.create', outcome: 'ok' })).toBe(2);
    expect(sampleValue(s, 'switchyard_operations_total', { operation: 'network.create', outcome: 'NETWORK_EXISTS' })).toBe(1);
    // Negative control: an operation that did not happen stays at 0.
    expect(sampleValue(s, 'switchyard_operations_total', { operation: 'network.remove', outcome: 'ok' })).toBe(0);
    const bucket = (le: string) => sampleValue(s, 'switchyard_operation_duration_seconds_bucket', { operation: 'network.create', outcome: 'ok', le });
    expect([bucket('0.0025'), bucket('0.005'), bucket('0.025'), bucket('0.05'), bucket('+Inf')]).toEqual([0, 1, 1, 2, 2]);
    expect(sampleValue(s, 'switchyard_operation_duration_seconds_sum', { operation: 'network.create', outcome: 'ok' })).toBeCloseTo(0.043, 6);
  });

  it('counts reconcile actions from reports, adding up over several', async () => {
    const m = new DaemonMetrics({}, { processMetrics: false });
    m.reconciled({ created: ['a', 'b'], repaired: ['c'], leftoversRemoved: [], finishedRemovals: ['d'], errors: ['e'] });
    m.reconciled({ created: [], repaired: [], leftoversRemoved: ['f', 'g'], finishedRemovals: [], errors: [] });
    const s = await scrape(m);
    const v = (action: string) => sampleValue(s, 'switchyard_reconcile_actions_total', { action });
    expect([v('created'), v('repaired'), v('leftover_removed'), v('removal_finished'), v('error')]).toEqual([2, 1, 2, 1, 1]);
  });

  it('reads the firewall, the cluster agent and the state at scrape time', async () => {
    const fw: FirewallSource = { setSizes: () => ({ bridges: 2, pm4: 3 }), stats: { fullLoads: 1, deltas: 7, heals: 0 } };
    let connected = true;
    const cluster: ClusterSource = { health: () => ({ connected, nodes: 3, peers: 2, globalNetworks: 1, remoteEndpoints: 4 }) };
    const m = new DaemonMetrics({ firewall: fw, cluster, state: () => ({ networks: 4, sandboxes: 2, publishedPorts: 3 }) }, { processMetrics: false });
    let s = await scrape(m);
    expect(sampleValue(s, 'switchyard_firewall_set_elements', { set: 'pm4' })).toBe(3);
    expect(sampleValue(s, 'switchyard_firewall_loads_total', { kind: 'delta' })).toBe(7);
    expect(sampleValue(s, 'switchyard_firewall_heals_total')).toBe(0);
    expect(sampleValue(s, 'switchyard_cluster_store_up')).toBe(1);
    expect(sampleValue(s, 'switchyard_overlay_peers')).toBe(2);
    expect(sampleValue(s, 'switchyard_overlay_remote_endpoints')).toBe(4);
    expect(sampleValue(s, 'switchyard_published_ports')).toBe(3);
    fw.stats.heals = 1;
    connected = false;
    s = await scrape(m);
    expect(sampleValue(s, 'switchyard_firewall_heals_total')).toBe(1);
    expect(sampleValue(s, 'switchyard_cluster_store_up')).toBe(0);
    // No cluster agent, no cluster metrics (not a misleading 0).
    expect(sampleValue(await scrape(new DaemonMetrics({}, { processMetrics: false })), 'switchyard_cluster_store_up')).toBeUndefined();
  });

  it('has the process metrics in its own registry, and leaves prom-client\'s global one empty', async () => {
    const a = new DaemonMetrics();
    const b = new DaemonMetrics();
    for (const m of [a, b]) {
      const s = await scrape(m);
      for (const name of ['process_resident_memory_bytes', 'process_open_fds', 'nodejs_eventloop_lag_seconds']) expect(sampleValue(s, name), name).toBeGreaterThanOrEqual(0);
    }
    expect(globalRegistry.getMetricsAsArray()).toEqual([]);
  });

  it('writes a text Prometheus\'s own parser reads, every source present, with the same samples as read in-process', async () => {
    const dns = new EmbeddedDns({ nofile: 4096 });
    const m = new DaemonMetrics({
      dns,
      firewall: { setSizes: () => ({ pm4: 1 }), stats: { fullLoads: 1, deltas: 0, heals: 0 } },
      cluster: { health: () => ({ connected: true, nodes: 1, peers: 0, globalNetworks: 0, remoteEndpoints: 0 }) },
      state: () => ({ networks: 3, sandboxes: 0, publishedPorts: 0 }),
    });
    m.operation({ operation: 'sandbox.run', outcome: 'ok', durationMs: 5, fields: {} });
    const text = await m.text();
    const parsed = parseMetrics(text);
    const families = new Set(parsed.map((p) => p.family));
    for (const f of ['switchyard_operations', 'switchyard_operation_duration_seconds', 'switchyard_dns_answers', 'switchyard_dns_answer_duration_seconds', 'switchyard_firewall_set_elements', 'switchyard_cluster_store_up', 'process_resident_memory_bytes']) expect(families, f).toContain(f);
    expect(parsed.find((p) => p.family === 'switchyard_dns_answer_duration_seconds')?.type).toBe('histogram');
    const mine = readSamples(text).filter((x) => x.name.startsWith('switchyard_'));
    for (const s of mine) expect(sampleValue(parsed, s.name, s.labels), `${s.name} ${JSON.stringify(s.labels)}`).toBe(s.value);
    dns.close();
  });
});

describe('DNS answers in the metrics', () => {
  const net: NetworkRecord = {
    id: 'a'.repeat(64), name: 'app', driver: 'bridge', scope: 'local', created: '2026-01-01T00:00:00.000000000Z', internal: false, attachable: false, ipv6: false,
    ipam: { driver: 'default', options: {}, config: [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1' }] }, options: {}, labels: {}, driverState: {},
  };
  const sealed: NetworkRecord = { ...net, id: 'b'.repeat(64), name: 'sealed', internal: true, ipam: { driver: 'default', options: {}, config: [{ subnet: '10.8.0.0/24' }] } };
  const sb = (name: string, n: NetworkRecord, ip: string): SandboxRecord => ({
    id: name.padEnd(64, 'f'), name, created: '2026-01-01T00:00:00.000000000Z', netns: `yard-t-${name}`, hostname: name, command: [], detached: true, status: 'running',
    dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [], labels: {},
    endpoints: { [n.id]: { id: `ep${name}`, networkId: n.id, ifname: 'eth0', ipv4: `${ip}/24`, aliases: [], order: 0 } },
  });
  const web = sb('web', net, '10.9.0.2');
  const db = sb('db', net, '10.9.0.3');
  const lone = sb('lone', sealed, '10.8.0.2');
  const query = (name: string, type: 'A' | 'MX' = 'A') => dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] });

  it('counts each answer by source and rcode with its latency, from the resolver\'s arrays', async () => {
    const dns = new EmbeddedDns({ nofile: 4096 });
    // The state as the resolver follows it after a change (its participant's after-view).
    (dns as unknown as { follow(v: unknown): void }).follow({ networks: new Map([[net.id, net], [sealed.id, sealed]]), sandboxes: new Map([[web.id, web], [db.id, db], [lone.id, lone]]) });
    const m = new DaemonMetrics({ dns }, { processMetrics: false });
    const answers = (s: Awaited<ReturnType<typeof scrape>>, source: string, rcode: string) => sampleValue(s, 'switchyard_dns_answers_total', { source, rcode });
    const before = await scrape(m);
    expect(answers(before, 'local', 'NOERROR')).toBe(0);
    const rcodeOf = (b: unknown) => (b as Buffer)[3]! & 15;
    expect(rcodeOf(dns.handle(web.id, query('db'), false))).toBe(0); // a local name
    expect(rcodeOf(dns.handle(web.id, query('db', 'MX'), false))).toBe(0); // local, no data
    expect(rcodeOf(dns.handle(lone.id, query('example.org'), false))).toBe(5); // internal only: REFUSED
    expect(rcodeOf(dns.handle('0'.repeat(64), query('db'), true))).toBe(5); // no such sandbox: REFUSED
    const s = await scrape(m);
    expect(answers(s, 'local', 'NOERROR')).toBe(2);
    expect(answers(s, 'local', 'REFUSED')).toBe(2);
    // Negative controls: nothing was forwarded, and no other rcode moved.
    expect(answers(s, 'forwarded', 'NOERROR')).toBe(0);
    expect(answers(s, 'local', 'NXDOMAIN')).toBe(0);
    expect(sampleValue(s, 'switchyard_dns_forwarded_total')).toBe(0);
    expect(sampleValue(s, 'switchyard_dns_queries_total', { transport: 'udp' })).toBe(3);
    expect(sampleValue(s, 'switchyard_dns_queries_total', { transport: 'tcp' })).toBe(1);
    expect(sampleValue(s, 'switchyard_dns_events_total', { event: 'refused_internal' })).toBe(1);
    expect(sampleValue(s, 'switchyard_dns_answer_duration_seconds_count', { source: 'local' })).toBe(4);
    expect(sampleValue(s, 'switchyard_dns_answer_duration_seconds_bucket', { source: 'local', le: '+Inf' })).toBe(4);
    expect(sampleValue(s, 'switchyard_dns_answer_duration_seconds_count', { source: 'forwarded' })).toBe(0);
    const buckets = s.filter((x) => x.name === 'switchyard_dns_answer_duration_seconds_bucket' && x.labels.source === 'local');
    expect(buckets).toHaveLength(DNS_LATENCY_BUCKETS.length + 1);
    // A packet too short to be a query gets no answer and is not counted as one.
    expect(dns.handle(web.id, Buffer.from([1, 2, 3]), false)).toBeNull();
    expect(answers(await scrape(m), 'local', 'FORMERR')).toBe(0);
    dns.close();
  });
});

describe('serving the metrics', () => {
  it('answers GET /metrics on the API with Prometheus text; without metrics the route says so', async () => {
    const t = await makeEngine();
    try {
      const m = new DaemonMetrics({}, { processMetrics: false });
      const r = await createApp(t.engine, () => ({}), { metrics: m }).request('/metrics');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(sampleValue(readSamples(await r.text()), 'switchyard_operations_total', { operation: 'sandbox.run', outcome: 'ok' })).toBe(0);
      const none = await createApp(t.engine, () => ({})).request('/metrics');
      expect(none.status).toBe(400);
      expect(await none.json()).toMatchObject({ code: 'NOT_IMPLEMENTED' });
    } finally {
      t.cleanup();
    }
  });

  it('serves only GET /metrics on --metrics-listen, and names the flag when the port is taken', async () => {
    const m = new DaemonMetrics({}, { processMetrics: false });
    const srv = await serveMetrics({ host: '127.0.0.1', port: 0 }, m);
    try {
      const get = (p: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          http.get(`http://${srv.address}${p}`, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          }).on('error', reject);
        });
      const ok = await get('/metrics');
      expect(ok.status).toBe(200);
      expect(ok.body).toContain('# TYPE switchyard_operations_total counter');
      expect((await get('/networks')).status).toBe(404);
      const port = Number(srv.address.split(':').pop());
      const err = await serveMetrics({ host: '127.0.0.1', port }, m).then(
        () => undefined,
        (e: unknown) => e as YardError,
      );
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: '--metrics-listen' });
      expect(err!.message).toContain('EADDRINUSE');
    } finally {
      await srv.close();
    }
  });
});

describe('--metrics-listen', () => {
  it('takes loopback addresses with a port', () => {
    expect(parseMetricsListen('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseMetricsListen('127.3.2.1:1')).toEqual({ host: '127.3.2.1', port: 1 });
    expect(parseMetricsListen('[::1]:65535')).toEqual({ host: '::1', port: 65535 });
  });

  it.each([
    ['0.0.0.0:9464', /not a loopback address/],
    ['10.0.0.5:9464', /not a loopback address/],
    ['[::]:9464', /not a loopback address/],
    ['[::ffff:127.0.0.1]:9464', /not a loopback address/],
    ['localhost:9464', /names no IP address/],
    ['127.1:9464', /names no IP address/],
    ['127.0.0.1', /is not ADDRESS:PORT/],
    ['::1:9464', /is not ADDRESS:PORT/],
    ['127.0.0.1:0', /outside 1-65535/],
    ['127.0.0.1:70000', /outside 1-65535/],
  ])('refuses %s, naming the flag', (v, why) => {
    let e: unknown;
    try {
      parseMetricsListen(v);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(YardError);
    expect(e).toMatchObject({ code: 'INVALID_ARGUMENT', field: '--metrics-listen' });
    expect((e as Error).message).toMatch(/^--metrics-listen /);
    expect((e as Error).message).toMatch(why);
  });
});
