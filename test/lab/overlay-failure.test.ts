/**
 * Overlay failures on 3 lab hosts with a real etcd: a dead host's endpoints leave the
 * others' forwarding tables and DNS within the lease TTL and come back with it; a daemon
 * killed with -9 reconciles its VXLAN entries on restart; an etcd outage leaves local
 * networks and the existing data plane working, fails overlay operations at once, and the
 * daemons catch up when etcd returns, without a restart.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { restartDaemon } from '../../src/lab/lab.js';
import { restartEtcdMember, stopEtcdMember } from '../../src/lab/etcd.js';
import { fdbOf, sandboxIp, waitFor, withClusterLab } from './overlay-kit.js';

const lab = withClusterLab('ovf', { hosts: 3, cluster: true });
const NET = 'multi';
let vx = '';

beforeAll(async () => {
  const id = await lab.ok(1, 'network', 'create', '-d', 'overlay', '--subnet', '10.240.0.0/24', NET);
  vx = `vx-${id.slice(0, 12)}`;
  await waitFor(async () => (await lab.yard(2, 'network', 'inspect', NET)).code === 0 && (await lab.yard(3, 'network', 'inspect', NET)).code === 0, 5_000, 50);
  await lab.ok(1, 'run', '-d', '--name', 'web', '--network', NET, '--', 'sleep', '600');
  await lab.ok(2, 'run', '-d', '--name', 'c2', '--network', NET, '--', 'sleep', '600');
}, 60_000);

describe('overlay failures', () => {
  it('a dead host\'s endpoints leave the others\' tables and DNS within the lease TTL, and come back with it', async () => {
    await lab.ok(3, 'run', '-d', '--name', 'c3', '--network', NET, '--', 'sleep', '600');
    const c3ip = await sandboxIp(lab, 3, 'c3', NET);
    const h3 = lab.h(3);
    expect(await waitFor(async () => [...(await fdbOf(lab, 1, vx)).values()].includes('10.231.0.4'), 3_000, 50)).toBeGreaterThanOrEqual(0);
    // The host dies: its daemon is killed and its uplink goes away.
    process.kill(h3.daemonPid!, 'SIGKILL');
    await lab.run(3, ['ip', 'link', 'set', 'lan0', 'down']);
    const gone = await waitFor(async () => ![...(await fdbOf(lab, 1, vx)).values()].includes('10.231.0.4'), 10_000, 100);
    expect(gone, 'host 3 entries removed from host 1').toBeGreaterThanOrEqual(0);
    expect(gone).toBeLessThan(8_000);
    const nx = await lab.yard(1, 'exec', 'web', '--', 'nslookup', 'c3', '127.0.0.11');
    expect(nx.stdout + nx.stderr).not.toContain(c3ip);
    // Positive control: a live remote sandbox (c2 on host 2) still resolves the same way.
    const c2ip = await sandboxIp(lab, 2, 'c2', NET);
    const live = await lab.yard(1, 'exec', 'web', '--', 'nslookup', 'c2', '127.0.0.11');
    expect(live.stdout).toContain(c2ip);
    // It returns: uplink up, daemon restarted; it re-announces its endpoints.
    await lab.run(3, ['ip', 'link', 'set', 'lan0', 'up']);
    await restartDaemon(lab.info, h3);
    const back = await waitFor(async () => (await lab.yard(1, 'exec', 'web', '--', 'ping', '-c', '1', '-W', '1', 'c3')).stdout.includes('1 received'), 10_000, 200);
    expect(back, 'c3 reachable by name again').toBeGreaterThanOrEqual(0);
  });

  it('kill -9 of a daemon: after restart it drops entries of endpoints removed meanwhile', async () => {
    await lab.ok(1, 'run', '-d', '--name', 'gone', '--network', NET, '--', 'sleep', '600');
    const goneIp = await sandboxIp(lab, 1, 'gone', NET);
    expect(await waitFor(async () => (await lab.run(2, ['ip', 'neigh', 'show', goneIp, 'dev', vx])).stdout.includes('PERMANENT'), 3_000, 50)).toBeGreaterThanOrEqual(0);
    process.kill(lab.h(2).daemonPid!, 'SIGKILL');
    await lab.ok(1, 'rm', '-f', 'gone');
    await restartDaemon(lab.info, lab.h(2));
    const cleaned = await waitFor(async () => !(await lab.run(2, ['ip', 'neigh', 'show', goneIp, 'dev', vx])).stdout.includes('PERMANENT'), 5_000, 100);
    expect(cleaned, 'stale neighbour entry removed after restart').toBeGreaterThanOrEqual(0);
    const r = await lab.yard(2, 'exec', 'c2', '--', 'ping', '-c', '1', '-W', '2', 'web');
    expect(r.stdout).toMatch(/1 received/);
  });

  it('etcd outage: local networks work, overlay operations fail at once, daemons catch up after', async () => {
    const member = lab.info.etcd!.members[0]!;
    await stopEtcdMember(member, true);
    // Local networks keep working.
    await lab.ok(1, 'network', 'create', 'localnet');
    await lab.ok(1, 'run', '-d', '--name', 'l1', '--network', 'localnet', '--', 'sleep', '600');
    // The existing overlay data plane keeps working.
    expect((await lab.yard(2, 'exec', 'c2', '--', 'ping', '-c', '1', '-W', '2', 'web')).stdout).toMatch(/1 received/);
    // Overlay operations fail quickly, with the code and the store named.
    await waitFor(async () => (await lab.yard(2, 'run', '-d', '--name', 'probe', '--network', NET, '--', 'true')).code !== 0, 8_000, 500);
    const t0 = Date.now();
    const fail = await lab.yard(2, 'network', 'create', '-d', 'overlay', '--subnet', '10.243.0.0/24', 'during');
    expect(fail.code).toBe(1);
    expect(fail.stderr).toMatch(/cluster store etcd:\/\/10\.231\.0\.1:2379/);
    expect(Date.now() - t0).toBeLessThan(3_000);
    // etcd returns: the daemons catch up without a restart.
    await restartEtcdMember(lab.info.lanNs, lab.info.etcd!, member);
    const created = await waitFor(async () => (await lab.yard(2, 'network', 'create', '-d', 'overlay', '--subnet', '10.243.0.0/24', 'after')).code === 0, 15_000, 500);
    expect(created, 'overlay create works again').toBeGreaterThanOrEqual(0);
    expect(await waitFor(async () => (await lab.yard(3, 'network', 'inspect', 'after')).code === 0, 5_000, 100)).toBeGreaterThanOrEqual(0);
    await lab.ok(3, 'run', '-d', '--name', 'late', '--network', NET, '--', 'sleep', '600');
    const lateIp = await sandboxIp(lab, 3, 'late', NET);
    const reach = await waitFor(async () => (await lab.yard(1, 'exec', 'web', '--', 'ping', '-c', '1', '-W', '1', lateIp)).stdout.includes('1 received'), 5_000, 100);
    expect(reach).toBeGreaterThanOrEqual(0);
    await lab.ok(1, 'rm', '-f', 'l1');
  });
});
