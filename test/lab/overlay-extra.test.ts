/**
 * Overlay details on 2 lab hosts with a real etcd:
 *  - `yard network connect <overlay> <sandbox>` gives a sandbox without another way out the
 *    gateway bridge endpoint (as `run` does), and disconnect takes it away when no overlay
 *    remains;
 *  - IPv6 overlays: neighbour entries for the v6 addresses of remote sandboxes, ping6 and
 *    TCP across hosts by address and by name, entries withdrawn with the sandbox.
 */
import { describe, expect, it } from 'vitest';
import { sandboxIp, waitFor, withClusterLab } from './overlay-kit.js';

const lab = withClusterLab('ovx', { hosts: 2, cluster: true });

async function networksOf(host: number, sb: string): Promise<string[]> {
  return Object.keys(JSON.parse(await lab.ok(host, 'inspect', sb))[0].NetworkSettings.Networks).sort();
}
const defaultRoute = async (host: number, sb: string) => (await lab.yard(host, 'exec', sb, '--', 'ip', 'route', 'show', 'default')).stdout.trim();
// Up to 3 pings (a loaded machine can lose the first while ARP settles); one answer is enough.
const reachesLan = async (host: number, sb: string) =>
  /\b[1-3] received/.test((await lab.yard(host, 'exec', sb, '--', 'ping', '-c', '3', '-i', '0.3', '-W', '2', '10.231.0.1')).stdout);

describe('network connect/disconnect of an overlay and the gateway bridge', () => {
  it('connecting a sandbox with no network to an overlay also joins yard_gwbridge, with the default route there', async () => {
    await lab.ok(1, 'network', 'create', '-d', 'overlay', '--subnet', '10.247.0.0/24', '--attachable', 'ovc');
    await lab.ok(1, 'network', 'create', '-d', 'overlay', '--subnet', '10.248.0.0/24', '--attachable', 'ovd');
    await lab.ok(1, 'network', 'create', 'loc');
    await lab.ok(1, 'run', '-d', '--name', 's', '--network', 'loc', '--', 'sleep', '600');
    await lab.ok(1, 'network', 'disconnect', 'loc', 's');
    expect(await networksOf(1, 's')).toEqual([]);
    expect(await reachesLan(1, 's')).toBe(false);
    await lab.ok(1, 'network', 'connect', 'ovc', 's');
    expect(await networksOf(1, 's')).toEqual(['ovc', 'yard_gwbridge']);
    expect(await defaultRoute(1, 's')).toMatch(/^default via 172\.\d+\.0\.1 dev eth1/);
    expect(await reachesLan(1, 's')).toBe(true);
  });

  it('keeps it while an overlay remains, removes it with the last one', async () => {
    await lab.ok(1, 'network', 'connect', 'ovd', 's');
    expect(await networksOf(1, 's')).toEqual(['ovc', 'ovd', 'yard_gwbridge']);
    await lab.ok(1, 'network', 'disconnect', 'ovc', 's');
    expect(await networksOf(1, 's')).toEqual(['ovd', 'yard_gwbridge']);
    expect(await reachesLan(1, 's')).toBe(true);
    await lab.ok(1, 'network', 'disconnect', 'ovd', 's');
    expect(await networksOf(1, 's')).toEqual([]);
    const links = (await lab.yard(1, 'exec', 's', '--', 'ip', '-o', 'link', 'show')).stdout;
    expect(links).not.toMatch(/eth\d/);
  });

  it('a sandbox that has a local network gets none; it gets one when that network goes and the overlay stays', async () => {
    await lab.ok(1, 'network', 'connect', 'loc', 's');
    await lab.ok(1, 'network', 'connect', 'ovc', 's');
    expect(await networksOf(1, 's')).toEqual(['loc', 'ovc']);
    await lab.ok(1, 'network', 'disconnect', 'loc', 's');
    expect(await networksOf(1, 's')).toEqual(['ovc', 'yard_gwbridge']);
    expect(await reachesLan(1, 's')).toBe(true);
    await lab.ok(1, 'rm', '-f', 's');
  });
});

describe('IPv6 overlay', () => {
  let vx = '';
  it('ping6 and TCP across hosts by address and by name', async () => {
    const id = await lab.ok(1, 'network', 'create', '-d', 'overlay', '--ipv6', '--subnet', '10.249.0.0/24', '--subnet', 'fd00:240::/64', 'ov6');
    vx = `vx-${id.slice(0, 12)}`;
    expect(await waitFor(async () => (await lab.yard(2, 'network', 'inspect', 'ov6')).code === 0, 5_000, 50)).toBeGreaterThanOrEqual(0);
    await lab.ok(1, 'run', '-d', '--name', 'a6', '--network', 'ov6', '--', 'busybox', 'httpd', '-f', '-p', '[::]:80', '-h', '/etc');
    await lab.ok(2, 'run', '-d', '--name', 'b6', '--network', 'ov6', '--', 'sleep', '600');
    const a6 = JSON.parse(await lab.ok(1, 'inspect', 'a6'))[0].NetworkSettings.Networks.ov6.GlobalIPv6Address as string;
    const b6 = JSON.parse(await lab.ok(2, 'inspect', 'b6'))[0].NetworkSettings.Networks.ov6.GlobalIPv6Address as string;
    expect(a6).toMatch(/^fd00:240::/);
    expect(b6).toMatch(/^fd00:240::/);
    // Each host's VXLAN device holds a permanent neighbour entry for the other's v6 address.
    const neigh = await waitFor(async () => (await lab.run(1, ['ip', '-6', 'neigh', 'show', 'dev', vx])).stdout.includes(`${b6} lladdr`), 5_000, 100);
    expect(neigh).toBeGreaterThanOrEqual(0);
    expect((await lab.run(1, ['ip', '-6', 'neigh', 'show', b6, 'dev', vx])).stdout).toMatch(/PERMANENT/);
    const ping = await lab.yard(2, 'exec', 'b6', '--', 'ping', '-6', '-c', '2', '-W', '2', a6);
    expect(ping.stdout).toMatch(/2 received/);
    const byName = await lab.yard(1, 'exec', 'a6', '--', 'ping', '-6', '-c', '1', '-W', '2', 'b6');
    expect(byName.stdout).toContain(`(${b6})`);
    expect(byName.stdout).toMatch(/1 received/);
    const http = await lab.yard(2, 'exec', 'b6', '--', 'wget', '-qO-', '-T', '3', `http://[${a6}]/hostname`);
    expect(http.code, http.stderr).toBe(0);
    expect(http.stdout.trim().length).toBeGreaterThan(0);
    // IPv4 on the same overlay still works.
    const a4 = await sandboxIp(lab, 1, 'a6', 'ov6');
    expect((await lab.yard(2, 'exec', 'b6', '--', 'ping', '-c', '1', '-W', '2', a4)).stdout).toMatch(/1 received/);
  });

  it('removing the remote sandbox withdraws its v6 neighbour entry', async () => {
    const b6 = JSON.parse(await lab.ok(2, 'inspect', 'b6'))[0].NetworkSettings.Networks.ov6.GlobalIPv6Address as string;
    const a6 = JSON.parse(await lab.ok(1, 'inspect', 'a6'))[0].NetworkSettings.Networks.ov6.GlobalIPv6Address as string;
    await lab.ok(2, 'rm', '-f', 'b6');
    const gone = await waitFor(async () => !(await lab.run(1, ['ip', '-6', 'neigh', 'show', 'dev', vx])).stdout.includes(b6), 5_000, 100);
    expect(gone).toBeGreaterThanOrEqual(0);
    // Positive control: the entry of the sandbox that stays (a6, seen from host 2) is kept.
    expect((await lab.run(2, ['ip', '-6', 'neigh', 'show', a6, 'dev', vx])).stdout).toMatch(/PERMANENT/);
  });
});
