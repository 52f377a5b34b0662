/**
 * The cluster's metrics on real daemons with a real etcd (two lab hosts): the store's
 * health, the nodes and overlay peers each host sees, and the endpoints of the other host.
 * Needs root and `npm run build`.
 */
import { describe, expect, it } from 'vitest';
import { api, eventually, ok, withLab, yard } from './helpers.js';
import { readSamples, sampleValue, type Sample } from '../unit/prom.js';

const lab = withLab('metclu', 2, { cluster: true });

async function scrape(i: number): Promise<Sample[]> {
  const r = await api(lab.host(i), 'GET', '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics on host ${i}: ${r.status}`);
  return readSamples(r.body as string);
}

describe('cluster metrics', () => {
  it('show the store up, both nodes, one peer, and the other host\'s endpoint once it has one', async () => {
    // Membership comes up in the background after the daemon's start.
    const joined = await eventually(async () => {
      const s = await scrape(1);
      return sampleValue(s, 'switchyard_cluster_store_up') === 1 && sampleValue(s, 'switchyard_overlay_peers') === 1 ? s : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, tries: 60 });
    expect(joined, 'host 1 joined the cluster and sees host 2').toBeDefined();
    expect(sampleValue(joined!, 'switchyard_cluster_nodes')).toBe(2);
    expect(sampleValue(joined!, 'switchyard_overlay_remote_endpoints')).toBe(0);
    expect(sampleValue(joined!, 'switchyard_cluster_global_networks')).toBe(0);

    await ok(yard(lab.host(1), 'network', 'create', '-d', 'overlay', '--subnet', '10.242.0.0/24', '--attachable', 'multi'), 'overlay create');
    await ok(yard(lab.host(2), 'run', '-d', '--name', 'far', '--network', 'multi', '--', 'sleep', '600'), 'run on host 2');
    const seen = await eventually(async () => {
      const s = await scrape(1);
      return sampleValue(s, 'switchyard_overlay_remote_endpoints') === 1 ? s : undefined;
    }, { timeoutMs: 15_000, intervalMs: 300, tries: 50 });
    expect(seen, 'host 1 sees host 2\'s endpoint').toBeDefined();
    expect(sampleValue(seen!, 'switchyard_cluster_global_networks')).toBe(1);
    // Host 2's own endpoint is not remote to it (negative control beside host 1's 1).
    const two = await scrape(2);
    expect(sampleValue(two, 'switchyard_overlay_remote_endpoints')).toBe(0);
    expect(sampleValue(two, 'switchyard_overlay_peers')).toBe(1);
    // Host 2 adopted the network created on host 1, as an operation of its own.
    expect(sampleValue(two, 'switchyard_operations_total', { operation: 'network.adopt', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(two, 'switchyard_operations_total', { operation: 'network.create', outcome: 'ok' })).toBe(sampleValue(joined!, 'switchyard_operations_total', { operation: 'network.create', outcome: 'ok' }));
  });
});
