/**
 * A 3-member etcd cluster behind 2 lab hosts: killing one member (here the first, the one
 * each client lists first) leaves overlay operations working, and a sandbox created after
 * the loss is reachable across hosts. The member then comes back, rejoins, and catches up
 * with what was written while it was gone.
 */
import { describe, expect, it } from 'vitest';
import { stopEtcdMember } from '../../src/lab/etcd.js';
import { restartLabEtcdMember } from '../../src/lab/lab.js';
import { run } from '../../src/kernel/exec.js';
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

  it('the killed member restarts, rejoins healthy, and holds what was written without it', async () => {
    const members = lab.info.etcd!.members;
    const etcdctl = (...args: string[]) =>
      run('ip', ['netns', 'exec', lab.info.lanNs, 'etcdctl', '--command-timeout=2s', ...args], { timeoutMs: 8_000, env: { ...process.env, ETCDCTL_API: '3' } });
    const all = members.map((m) => m.clientUrl).join(',');
    // While it is down the cluster says so.
    expect((await etcdctl('--endpoints', all, 'endpoint', 'health')).code).not.toBe(0);
    await restartLabEtcdMember(lab.info, members[0]!);
    const health = await etcdctl('--endpoints', all, 'endpoint', 'health');
    expect(health.code, health.stderr).toBe(0);
    expect((health.stdout + health.stderr).match(/is healthy/g)).toHaveLength(3);
    const list = await etcdctl('--endpoints', all, 'member', 'list');
    expect(list.stdout.match(/, started, /g)).toHaveLength(3);
    // A local (serializable) read on the returned member: b's endpoint, written after the
    // kill, is there once its log has caught up.
    const b = (JSON.parse(await lab.ok(2, 'inspect', 'b'))[0].NetworkSettings.Networks.m3.EndpointID) as string;
    const caughtUp = await waitFor(async () => {
      const r = await etcdctl('--endpoints', members[0]!.clientUrl, 'get', '--consistency=s', '--prefix', '--keys-only', '/switchyard/v1/endpoints/');
      return r.stdout.includes(b);
    }, 5_000, 200);
    expect(caughtUp, 'endpoint key of b on the restarted member').toBeGreaterThanOrEqual(0);
    // And overlay operations still work with all three members.
    await lab.ok(1, 'run', '-d', '--name', 'c', '--network', 'm3', '--', 'sleep', '300');
    const cIp = await sandboxIp(lab, 1, 'c', 'm3');
    const reach = await waitFor(async () => (await lab.yard(2, 'exec', 'b', '--', 'ping', '-c', '1', '-W', '1', cIp)).stdout.includes('1 received'), 8_000, 200);
    expect(reach).toBeGreaterThanOrEqual(0);
  });
});
