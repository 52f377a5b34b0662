/**
 * `yard doctor` on an overlay between two lab hosts: the cluster store and the forwarding
 * entries check out and a full-size packet with don't-fragment crosses (the positive
 * control); then the LAN port toward host 1 is narrowed to 1400 bytes, the MTU black hole
 * of the field (small packets pass, full-size ones vanish), and doctor names it; widened
 * again, doctor is healthy again.
 */
import { describe, expect, it } from 'vitest';
import { run } from '../../src/kernel/exec.js';
import { sandboxIp, waitFor, withClusterLab } from './overlay-kit.js';

const lab = withClusterLab('docov', { hosts: 2, cluster: true });

interface Finding { check: string; subject: string; status: string; found: string; fix?: string }

async function doctor(host: number, ...args: string[]) {
  const r = await lab.yard(host, 'doctor', ...args, '--json');
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { healthy: boolean; findings: Finding[] };
}
const problems = (fs: Finding[]) => fs.filter((f) => f.status === 'fail' || f.status === 'warn');

describe('yard doctor on an overlay', () => {
  it('store, FDB and the MTU path: healthy, then a narrower underlay port named, then healthy again', async () => {
    await lab.ok(1, 'network', 'create', '-d', 'overlay', '--subnet', '10.244.0.0/24', 'ov');
    await lab.ok(1, 'run', '-d', '--name', 'srv', '--network', 'ov', '--', 'sleep', '300');
    await lab.ok(2, 'run', '-d', '--name', 'cli', '--network', 'ov', '--', 'sleep', '300');
    const srvIp = await sandboxIp(lab, 1, 'srv', 'ov');
    const pings = async (size: number) => (await lab.yard(2, 'exec', 'cli', '--', 'ping', '-c1', '-W2', '-M', 'do', '-s', String(size), srvIp)).code === 0;
    expect(await waitFor(() => pings(56), 15_000, 300)).toBeGreaterThanOrEqual(0);

    const healthy = await doctor(2, 'cli', '--to', srvIp);
    expect(problems(healthy.findings), JSON.stringify(healthy.findings, null, 2)).toEqual([]);
    expect(healthy.findings.find((f) => f.check === 'overlay.store')?.found).toMatch(/^cluster store etcd:\/\/.* connected$/);
    expect(healthy.findings.find((f) => f.check === 'overlay.fdb')?.found).toBe('1 remote endpoint programmed');
    expect(healthy.findings.find((f) => f.check === 'overlay.mtu')).toMatchObject({ status: 'ok', found: 'passes' });
    // Its way out is the gateway bridge, masqueraded like any bridge network.
    expect(healthy.findings.find((f) => f.check === 'outbound.masquerade')?.found).toMatch(/^172\.31\.0\.0\/16 is masqueraded/);

    // The LAN switch's port toward host 1 now carries 1400 bytes: VXLAN frames of a
    // 1450-byte inner packet (1500 outer) are dropped there without a word.
    const port = `p${lab.h(1).index}`;
    expect((await run('ip', ['-n', lab.info.lanNs, 'link', 'set', port, 'mtu', '1400'])).code).toBe(0);
    try {
      expect(await pings(56)).toBe(true);
      expect(await pings(1422)).toBe(false);
      const narrow = await doctor(2, 'cli', '--to', srvIp);
      const [f, ...more] = problems(narrow.findings);
      expect(more, JSON.stringify(narrow.findings, null, 2)).toEqual([]);
      expect(f).toMatchObject({ check: 'overlay.mtu', subject: 'cli', status: 'fail' });
      expect(f!.found).toMatch(/does not pass .*underlay between the hosts carries less/);
      expect(f!.fix).toMatch(/com\.docker\.network\.driver\.mtu=N .*raise the underlay's MTU to 1500/);
      console.log(`$ yard doctor cli --to ${srvIp}\n${(await lab.yard(2, 'doctor', 'cli', '--to', srvIp)).stdout}`);
    } finally {
      await run('ip', ['-n', lab.info.lanNs, 'link', 'set', port, 'mtu', '1500']);
    }
    // Fixed by raising the underlay link to what the overlay needs.
    expect(await waitFor(() => pings(1422), 10_000, 300)).toBeGreaterThanOrEqual(0);
    expect(problems((await doctor(2, 'cli', '--to', srvIp)).findings)).toEqual([]);
  });
});
