/**
 * MTU of an overlay over a 1400-byte underlay: the overlay takes 1350 (1400 - 50 for
 * VXLAN over IPv4), inspect says why, full-size frames cross hosts, and a large TCP
 * transfer arrives whole (no black hole).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sandboxIp, withClusterLab } from './overlay-kit.js';

const lab = withClusterLab('ovmtu', { hosts: 2, cluster: true, mtu: 1400 });

describe('overlay MTU over a 1400-byte underlay', () => {
  it('derives 1350, shows why, and carries full-size packets and a large transfer', async () => {
    await lab.ok(1, 'network', 'create', '-d', 'overlay', '--subnet', '10.244.0.0/24', 'm');
    const j = JSON.parse(await lab.ok(1, 'network', 'inspect', 'm'))[0];
    expect(j.Switchyard.Driver.mtu).toBe(1350);
    expect(j.Switchyard.Driver.mtuReason).toBe('underlay lan0 MTU 1400 - 50 (VXLAN over IPv4)');

    // A 4 MB file served by a sandbox on host 1 (sandboxes share the machine's files).
    const dir = path.join(lab.info.dir, 'www');
    fs.mkdirSync(dir, { recursive: true });
    const big = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    fs.writeFileSync(path.join(dir, 'big.bin'), big);
    await lab.ok(1, 'run', '-d', '--name', 'srv', '--network', 'm', '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', dir);
    await lab.ok(2, 'run', '-d', '--name', 'cli', '--network', 'm', '--', 'sleep', '300');
    const srvIp = await sandboxIp(lab, 1, 'srv', 'm');
    const eth0 = await lab.yard(2, 'exec', 'cli', '--', 'cat', '/sys/class/net/eth0/mtu');
    expect(eth0.stdout.trim()).toBe('1350');

    // 1322 bytes of ICMP payload + 28 = 1350: the largest unfragmented packet, and it crosses.
    const full = await lab.yard(2, 'exec', 'cli', '--', 'ping', '-c', '2', '-W', '2', '-M', 'do', '-s', '1322', srvIp);
    expect(full.stdout).toMatch(/2 received/);
    const t0 = Date.now();
    const got = await lab.run(2, ['sh', '-c', `yard exec cli -- wget -qO- -T 10 http://${srvIp}/big.bin | md5sum`], 30_000);
    const want = (await lab.run(2, ['md5sum', path.join(dir, 'big.bin')])).stdout.split(' ')[0];
    expect(got.stdout.split(' ')[0]).toBe(want);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
