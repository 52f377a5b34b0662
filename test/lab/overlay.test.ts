/**
 * Overlay networks across 3 lab hosts with a real etcd in the LAN namespace: the network
 * appears everywhere, sandboxes reach each other by IP and name (ping, TCP, DNS), reach
 * the LAN through the gateway bridge, global IPAM never hands out an address twice, and
 * bad input is refused. Failures (host loss, kill -9, etcd outage): overlay-failure.test.ts.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sandboxIp, waitFor, withClusterLab } from './overlay-kit.js';

const lab = withClusterLab('ov', { hosts: 3, cluster: true });
const NET = 'multi';
let vx = '';
const hostname = fs.readFileSync('/etc/hostname', 'utf8').trim();

describe('overlay across 3 hosts', () => {
  it('a network created on host 1 appears on every host with the same ID, VNI and MTU', async () => {
    const id = await lab.ok(1, 'network', 'create', '-d', 'overlay', '--subnet', '10.240.0.0/24', '--attachable', NET);
    vx = `vx-${id.slice(0, 12)}`;
    for (const i of [2, 3]) {
      const seen = await waitFor(async () => (await lab.yard(i, 'network', 'inspect', NET)).code === 0, 5_000, 50);
      expect(seen, `network on host${i}`).toBeGreaterThanOrEqual(0);
      const j = JSON.parse(await lab.ok(i, 'network', 'inspect', NET))[0];
      expect(j.Id).toBe(id);
      expect(j.Scope).toBe('global');
      expect(j.Switchyard.Driver.mtu).toBe(1450);
      expect(j.Switchyard.Driver.mtuReason).toMatch(/lan0 MTU 1500 - 50/);
      expect(j.Peers.map((p: { IP: string }) => p.IP).sort()).toEqual(['10.231.0.2', '10.231.0.3', '10.231.0.4']);
    }
    const link = JSON.parse((await lab.run(2, ['ip', '-j', '-d', 'link', 'show', vx])).stdout)[0];
    expect(link.linkinfo.info_data).toMatchObject({ id: 4096, port: 4789, local: '10.231.0.3', learning: false, proxy: true });
    expect(link.mtu).toBe(1450);
  });

  it('sandboxes on different hosts reach each other by IP and by name (ping, TCP, DNS)', async () => {
    await lab.ok(1, 'run', '-d', '--name', 'web', '--network', NET, '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc');
    await lab.ok(2, 'run', '-d', '--name', 'c2', '--network', NET, '--', 'sleep', '600');
    const webIp = await sandboxIp(lab, 1, 'web', NET);
    const ping = await lab.yard(2, 'exec', 'c2', '--', 'ping', '-c', '2', '-W', '2', webIp);
    expect(ping.stdout).toMatch(/2 received/);
    const byName = await lab.yard(2, 'exec', 'c2', '--', 'ping', '-c', '1', '-W', '2', 'web');
    expect(byName.stdout).toContain(`(${webIp})`);
    const http = await lab.yard(2, 'exec', 'c2', '--', 'wget', '-qO-', '-T', '3', 'http://web/hostname');
    expect(http.stdout.trim()).toBe(hostname);
    // And back: host 1 resolves and reaches host 2's sandbox.
    const back = await lab.yard(1, 'exec', 'web', '--', 'ping', '-c', '1', '-W', '2', 'c2');
    expect(back.stdout).toMatch(/1 received/);
  });

  it('outbound through the gateway bridge: the LAN is reachable (masqueraded) and -p publishes on the own host', async () => {
    const c2 = JSON.parse(await lab.ok(2, 'inspect', 'c2'))[0];
    expect(Object.keys(c2.NetworkSettings.Networks).sort()).toEqual([NET, 'yard_gwbridge']);
    const route = await lab.yard(2, 'exec', 'c2', '--', 'ip', 'route', 'show', 'default');
    expect(route.stdout).toMatch(/default via \S+ dev eth1/);
    const lan = await lab.yard(2, 'exec', 'c2', '--', 'ping', '-c', '1', '-W', '2', '10.231.0.1');
    expect(lan.stdout).toMatch(/1 received/);
    await lab.ok(1, 'run', '-d', '--name', 'pub', '-p', '8080:80', '--network', NET, '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc');
    const got = await lab.run(3, ['wget', '-qO-', '-T', '3', 'http://10.231.0.2:8080/hostname']);
    expect(got.stdout.trim()).toBe(hostname);
    await lab.ok(1, 'rm', '-f', 'pub');
  });

  it('concurrent runs on all hosts never get the same address', async () => {
    const runs = [1, 2, 3].flatMap((i) => [0, 1, 2].map((k) => lab.yard(i, 'run', '-d', '--name', `p${i}${k}`, '--network', NET, '--', 'sleep', '600')));
    const results = await Promise.all(runs);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const ips = await Promise.all([1, 2, 3].flatMap((i) => [0, 1, 2].map((k) => sandboxIp(lab, i, `p${i}${k}`, NET))));
    expect(new Set(ips).size).toBe(9);
    // p1x on host 1 reaches p3x on host 3 (the entries were programmed despite the burst).
    const r = await lab.yard(1, 'exec', 'p10', '--', 'ping', '-c', '1', '-W', '2', ips[8]!);
    expect(r.stdout).toMatch(/1 received/);
    for (const i of [1, 2, 3]) await lab.ok(i, 'rm', '-f', `p${i}0`, `p${i}1`, `p${i}2`);
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const overlap = await lab.yard(3, 'network', 'create', '-d', 'overlay', '--subnet', '10.240.0.128/25', 'other');
    expect(overlap.code).toBe(1);
    // Host 3 has adopted `multi`, so its own check already names it (the cluster-wide
    // check behind it is unit-tested in src/cluster/agent.test.ts).
    expect(overlap.stderr).toMatch(/--subnet 10\.240\.0\.128\/25 overlaps 10\.240\.0\.0\/24 of (overlay )?network multi/);
    const enc = await lab.yard(1, 'network', 'create', '-d', 'overlay', '--subnet', '10.241.0.0/24', '--opt', 'encrypted=true', 'sec');
    expect(enc.stderr).toMatch(/no ESP\/xfrm.*no WireGuard/);
    const vni = await lab.yard(2, 'network', 'create', '-d', 'overlay', '--subnet', '10.242.0.0/24', '-o', 'com.docker.network.driver.overlay.vxlanid_list=4096', 'v');
    expect(vni.stderr).toMatch(/vxlanid_list=4096: every VNI in it is in use \(4096 by multi\)/);
    const inUse = await lab.yard(3, 'network', 'rm', NET);
    expect(inUse.stderr).toMatch(/active endpoints on other hosts \(.*web on ov\d*-host1/);
    // A daemon whose --cluster-advertise names no interface refuses to start.
    const dir = `${lab.info.dir}/badadv`;
    const bad = await lab.run(1, ['yard', 'daemon', '--instance', 'badadv', '--state-dir', dir, '--socket', `${dir}/y.sock`, '--cluster-store', 'etcd://10.231.0.1:2379', '--cluster-advertise', 'eth9'], 15_000);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--cluster-advertise eth9: no interface or address of that name on this host; use one of: lan0/);
    for (const i of [1, 2, 3]) {
      const ls = JSON.parse(await lab.ok(i, 'network', 'ls', '--json')) as { Name: string }[];
      expect(ls.map((n) => n.Name).sort()).toEqual(['bridge', 'host', NET, 'none', 'yard_gwbridge']);
    }
    // Positive control: a subnet that overlaps nothing is created, and a network without
    // endpoints is removed.
    await lab.ok(3, 'network', 'create', '-d', 'overlay', '--subnet', '10.246.0.0/24', 'other');
    expect(await lab.ok(3, 'network', 'rm', 'other')).toBe('other');
  });
});
