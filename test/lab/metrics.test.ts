/**
 * The daemon's metrics and logs, from outside, on a real lab daemon: a network create, a
 * sandbox run with a published port, a refused create, a DNS query answered locally and
 * one the lab's upstream answers NXDOMAIN; then GET /metrics on the API socket (and on
 * --metrics-listen), read with Prometheus's own parser (python3-prometheus-client), must
 * have moved by exactly that, and the daemon's log must hold one JSON line per operation
 * with its duration and outcome. Needs root and `npm run build`.
 */
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, exec, inspectSandbox, ok, sh, withLab, yard } from './helpers.js';
import { parseMetrics, sampleValue, type Sample } from '../unit/prom.js';

const PORT = 9464;
const lab = withLab('metrics', 1, { daemonArgs: ['--metrics-listen', `127.0.0.1:${PORT}`] });
const h = () => lab.host(1);

async function scrape(): Promise<Sample[]> {
  const r = await api(h(), 'GET', '/metrics');
  expect(r.status).toBe(200);
  expect(typeof r.body).toBe('string');
  return parseMetrics(r.body as string);
}

/** The daemon's log lines that are JSON objects (its own), in order. */
function logLines(): Record<string, any>[] {
  return fs
    .readFileSync(h().logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

describe('metrics and logs of a running daemon', () => {
  let before: Sample[];
  let after: Sample[];
  let netns: string;
  const delta = (name: string, labels: Record<string, string> = {}) => (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);

  beforeAll(async () => {
    before = await scrape();
    await ok(yard(h(), 'network', 'create', '--subnet', '172.29.1.0/24', 'app'), 'network create');
    const dup = await yard(h(), 'network', 'create', '--subnet', '172.29.2.0/24', 'app');
    expect(dup.code).not.toBe(0);
    await ok(yard(h(), 'run', '-d', '--name', 'web', '--network', 'app', '-p', '8080:80', '--', 'sleep', '600'), 'yard run');
    netns = (await inspectSandbox(h(), 'web')).Netns as string;
    // Forwarded answers come back to the sandbox's subnet through the host (LAN namespace only),
    // and the sandbox asks afresh for the gateway's MAC (see dns.test.ts).
    execFileSync('ip', ['-n', lab.info.lanNs, 'route', 'replace', '172.29.1.0/24', 'via', h().lan4], { timeout: 10_000 });
    execFileSync('ip', ['-n', netns, 'neigh', 'flush', 'all'], { timeout: 10_000 });
    const local = await ok(exec(h(), ['ip', 'netns', 'exec', netns, 'dig', '+time=5', '+tries=1', 'web']), 'dig web');
    expect(local).toMatch(/status: NOERROR/);
    const nx = await ok(exec(h(), ['ip', 'netns', 'exec', netns, 'dig', '+time=5', '+tries=1', 'nosuch.example']), 'dig nosuch.example');
    expect(nx).toMatch(/status: NXDOMAIN/);
    after = await scrape();
  });

  it('counts the operations done, by operation and outcome, and nothing else', () => {
    expect(delta('switchyard_operations_total', { operation: 'network.create', outcome: 'ok' })).toBe(1);
    expect(delta('switchyard_operations_total', { operation: 'network.create', outcome: 'NETWORK_EXISTS' })).toBe(1);
    expect(delta('switchyard_operations_total', { operation: 'sandbox.run', outcome: 'ok' })).toBe(1);
    expect(delta('switchyard_operation_duration_seconds_count', { operation: 'sandbox.run', outcome: 'ok' })).toBe(1);
    expect(delta('switchyard_operation_duration_seconds_sum', { operation: 'sandbox.run', outcome: 'ok' })).toBeGreaterThan(0);
    // Negative controls: operations that were not done did not move.
    for (const op of ['sandbox.create', 'sandbox.remove', 'network.remove', 'network.connect', 'network.disconnect']) {
      expect(delta('switchyard_operations_total', { operation: op, outcome: 'ok' }), op).toBe(0);
    }
    // The start-up reconcile ran once, before any of this.
    expect(sampleValue(before, 'switchyard_operations_total', { operation: 'reconcile', outcome: 'ok' })).toBe(1);
    expect(delta('switchyard_operations_total', { operation: 'reconcile', outcome: 'ok' })).toBe(0);
    expect(sampleValue(after, 'switchyard_reconcile_actions_total', { action: 'error' })).toBe(0);
  });

  it('counts DNS answers by source and rcode: one local NOERROR, one forwarded NXDOMAIN', () => {
    expect(delta('switchyard_dns_answers_total', { source: 'local', rcode: 'NOERROR' })).toBe(1);
    expect(delta('switchyard_dns_answers_total', { source: 'forwarded', rcode: 'NXDOMAIN' })).toBe(1);
    expect(delta('switchyard_dns_forwarded_total')).toBe(1);
    expect(delta('switchyard_dns_queries_total', { transport: 'udp' })).toBe(2);
    expect(delta('switchyard_dns_answer_duration_seconds_count', { source: 'local' })).toBe(1);
    expect(delta('switchyard_dns_answer_duration_seconds_count', { source: 'forwarded' })).toBe(1);
    // Negative controls.
    expect(delta('switchyard_dns_answers_total', { source: 'local', rcode: 'NXDOMAIN' })).toBe(0);
    expect(delta('switchyard_dns_answers_total', { source: 'forwarded', rcode: 'NOERROR' })).toBe(0);
    expect(delta('switchyard_dns_answers_total', { source: 'forwarded', rcode: 'SERVFAIL' })).toBe(0);
    expect(delta('switchyard_dns_upstream_failures_total')).toBe(0);
    expect(sampleValue(after, 'switchyard_dns_listeners')).toBe(1);
  });

  it('shows the published port in the state and the firewall\'s port map, and the process metrics', () => {
    expect(sampleValue(before, 'switchyard_published_ports')).toBe(0);
    expect(sampleValue(after, 'switchyard_published_ports')).toBe(1);
    expect(sampleValue(before, 'switchyard_firewall_set_elements', { set: 'pm4' })).toBe(0);
    expect(sampleValue(after, 'switchyard_firewall_set_elements', { set: 'pm4' })).toBeGreaterThanOrEqual(1);
    expect(delta('switchyard_networks')).toBe(1);
    expect(delta('switchyard_sandboxes')).toBe(1);
    expect(sampleValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(10e6);
    expect(sampleValue(after, 'process_open_fds')).toBeGreaterThan(5);
    expect(sampleValue(after, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    // No --cluster-store: no cluster metrics.
    expect(sampleValue(after, 'switchyard_cluster_store_up')).toBeUndefined();
  });

  it('serves the same metrics on --metrics-listen, on loopback only', async () => {
    const local = await exec(h(), ['curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', `http://127.0.0.1:${PORT}/metrics`]);
    expect(local.code).toBe(0);
    const text = local.stdout.slice(0, local.stdout.lastIndexOf('\n'));
    expect(local.stdout.endsWith('\n200')).toBe(true);
    expect(sampleValue(parseMetrics(text), 'switchyard_operations_total', { operation: 'sandbox.run', outcome: 'ok' })).toBe(sampleValue(after, 'switchyard_operations_total', { operation: 'sandbox.run', outcome: 'ok' }));
    expect((await exec(h(), ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${PORT}/networks`])).stdout).toBe('404');
    // From the LAN, the host's address does not answer on that port.
    const fromLan = await sh(h(), `ip netns exec ${lab.info.lanNs} curl -sS --max-time 3 http://${h().lan4}:${PORT}/metrics`);
    expect(fromLan.code).not.toBe(0);
  });

  it('logs one JSON line per operation with level, time, msg, duration and outcome', () => {
    const lines = logLines();
    expect(lines.length).toBeGreaterThan(5);
    for (const l of lines) {
      expect(l).toMatchObject({ level: expect.any(String), time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), msg: expect.any(String) });
    }
    const ops = lines.filter((l) => l.op);
    // The duplicate is refused by the API before the engine: reported as the same operation.
    const created = ops.filter((l) => l.op === 'network.create' && (l.network === 'app' || l.refusedBy === 'api'));
    expect(created.map((l) => l.outcome)).toEqual(['ok', 'NETWORK_EXISTS']);
    expect(created[0]).toMatchObject({ level: 'info', durationMs: expect.any(Number), id: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(created[1]).toMatchObject({ level: 'info', durationMs: expect.any(Number), error: expect.stringMatching(/already exists/) });
    const runs = ops.filter((l) => l.op === 'sandbox.run');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ outcome: 'ok', sandbox: 'web', durationMs: expect.any(Number) });
    expect(runs[0]!.durationMs).toBeGreaterThan(0);
    const reconciles = ops.filter((l) => l.op === 'reconcile');
    expect(reconciles).toHaveLength(1);
    expect(reconciles[0]).toMatchObject({ outcome: 'ok', errors: 0, durationMs: expect.any(Number) });
    // Negative control: nothing was removed, so no removal was logged.
    expect(ops.filter((l) => l.op === 'sandbox.remove' || l.op === 'network.remove')).toEqual([]);
  });

  it('counts a firewall self-heal when Switchyard\'s table is deleted under it', async () => {
    const heals = async () => sampleValue(await scrape(), 'switchyard_firewall_heals_total') ?? -1;
    const start = await heals();
    expect(start).toBe(0);
    // Inside the lab host's namespace only.
    await ok(exec(h(), ['nft', 'delete', 'table', 'inet', 'switchyard']), 'nft delete table');
    const healed = await eventually(async () => ((await heals()) === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 300, tries: 40 });
    expect(healed, 'the self-heal restored the table and was counted').toBe(true);
    const s = await scrape();
    // Restored from state: the published port is back in its map.
    expect(sampleValue(s, 'switchyard_firewall_set_elements', { set: 'pm4' })).toBeGreaterThanOrEqual(1);
    expect(await ok(exec(h(), ['nft', 'list', 'map', 'inet', 'switchyard', 'pm4']))).toContain('8080');
  });

  it('refuses a non-loopback --metrics-listen and a bad --log-format or YARD_LOG_LEVEL, naming each, before starting', async () => {
    const wide = await yard(h(), 'daemon', '--instance', 'metricsbad', '--socket', '/tmp/metricsbad.sock', '--metrics-listen', `0.0.0.0:${PORT}`);
    expect(wide.code).not.toBe(0);
    expect(wide.stderr).toMatch(/--metrics-listen "0\.0\.0\.0:9464" is not a loopback address/);
    const fmt = await yard(h(), 'daemon', '--instance', 'metricsbad', '--socket', '/tmp/metricsbad.sock', '--log-format', 'yaml');
    expect(fmt.code).not.toBe(0);
    expect(fmt.stderr).toMatch(/--log-format "yaml" is not a log format/);
    const lvl = await sh(h(), 'YARD_LOG_LEVEL=loud yard daemon --instance metricsbad --socket /tmp/metricsbad.sock');
    expect(lvl.code).not.toBe(0);
    expect(lvl.stderr).toMatch(/YARD_LOG_LEVEL "loud" is not a log level/);
    expect(fs.existsSync('/tmp/metricsbad.sock')).toBe(false);
    // Positive control: the running daemon, started with a loopback address, still answers.
    expect((await api(h(), 'GET', '/_ping')).status).toBe(200);
  });
});
