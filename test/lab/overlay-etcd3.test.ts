/**
 * A 3-member etcd cluster behind 2 lab hosts: killing one member (here the first, the one
 * each client lists first) leaves overlay operations working, and a sandbox created after
 * the loss is reachable across hosts.
 */
import { describe, expect, it } from 'vitest';
import { stopEtcdMember } from '../../src/lab/etcd.js';
import { sandboxIp, waitFor, withClusterLab } from './overlay-kit.js';

const lab = withClusterLab('ove', { hosts: 2, cluster: { members: 3 } });

describe('overlay on a 3-member etcd cluster', () => {
  it('survives the loss of a member', async () => {
    expect(lab.info.etcd!.members).toHaveLength(3);
    await lab.ok(1, 'network', 'create', '-d', 'overlay', '--subnet', '10.245.0.0/24', 'm3');
    await waitFor(async () => (await lab.yard(2, 'network', 'inspect', 'm3')).code === 0, 5_000, 50);
    await lab.ok(1, 'run', '-d', '--name', 'a', '--network', 'm3', '--', 'sleep', '300');
    await stopEtcdMember(lab.info.etcd!.members[0]!, true);
    // The clients move to the remaining members; operations work again within seconds.
    const ran = await waitFor(async () => (await lab.yard(2, 'run', '-d', '--name', 'b', '--network', 'm3', '--', 'sleep', '300')).code === 0, 20_000, 500);
    expect(ran, 'run on host 2 after the member loss').toBeGreaterThanOrEqual(0);
    const bIp = await sandboxIp(lab, 2, 'b', 'm3');
    const reach = await waitFor(async () => (await lab.yard(1, 'exec', 'a', '--', 'ping', '-c', '1', '-W', '1', bIp)).stdout.includes('1 received'), 8_000, 200);
    expect(reach).toBeGreaterThanOrEqual(0);
    const byName = await lab.yard(1, 'exec', 'a', '--', 'ping', '-c', '1', '-W', '2', 'b');
    expect(byName.stdout).toMatch(/1 received/);
  });
});
