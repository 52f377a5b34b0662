/**
 * Switchyard overlay networks under the real dockerd (20.10) on two lab hosts: each host
 * runs etcd-backed Switchyard daemons and a dockerd started with --cluster-store (the
 * lab's etcd), so `docker network create -d switchyard-global` on host 1 is a global
 * network on both, and containers on different hosts reach each other over Switchyard's
 * VXLAN by address and by Docker's names.
 */
import { describe, expect, it } from 'vitest';
import { labDocker } from '../../src/lab/lab.js';
import { api, eventually, linkNames, withLab, type Lab } from './helpers.js';

const lab: Lab = withLab('do', 2, {
  cluster: true,
  docker: { hosts: 2, dockerdArgs: ['--cluster-store', 'etcd://10.231.0.1:2379', '--cluster-advertise', 'lan0:2376'] },
});

async function dk(host: 1 | 2, ...args: string[]): Promise<string> {
  const r = await labDocker(lab.info, lab.host(host), args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`docker@host${host} ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}
const fetchIn = async (host: 1 | 2, container: string, url: string) =>
  (await labDocker(lab.info, lab.host(host), ['exec', container, 'sh', '-c', `timeout 4 wget -qO- ${url} 2>/dev/null`], { timeoutMs: 30_000 })).stdout.trim();
const yardNetworkIds = async (host: 1 | 2) => ((await api(lab.host(host), 'GET', '/networks')).body as { Id: string }[]).map((n) => n.Id);
const handoverLinks = async (host: 1 | 2) => (await linkNames(lab.host(host))).filter((l) => /^y[vc][0-9a-f]{12}$/.test(l));

describe('Switchyard overlay under dockerd on two hosts', () => {
  it('a global network made on host 1 carries containers of both hosts, by address and by name', async () => {
    const id = await dk(1, 'network', 'create', '-d', 'switchyard-global', '--subnet', '10.40.0.0/24', 'ov');
    // Both Switchyard daemons hold it under Docker's ID (host 2 adopted it from the cluster store).
    expect(await yardNetworkIds(1)).toContain(id);
    expect(await eventually(async () => (await yardNetworkIds(2)).includes(id), { timeoutMs: 10_000 })).toBe(true);
    await dk(1, 'run', '-d', '--name', 'web1', '--network', 'ov', 'bb', 'sh', '-c', 'echo from-web1 > /index.html; exec httpd -f -p 80 -h /');
    await dk(2, 'run', '-d', '--name', 'cli2', '--network', 'ov', 'bb', 'sleep', '600');
    const ip = await dk(1, 'inspect', '-f', '{{.NetworkSettings.Networks.ov.IPAddress}}', 'web1');
    const ip2 = await dk(2, 'inspect', '-f', '{{.NetworkSettings.Networks.ov.IPAddress}}', 'cli2');
    expect(ip).toMatch(/^10\.40\.0\.\d+$/);
    expect(ip2).not.toBe(ip);
    expect(await eventually(async () => await fetchIn(2, 'cli2', `http://${ip}/`), { timeoutMs: 10_000, intervalMs: 250, tries: 40 })).toBe('from-web1');
    expect(await eventually(async () => await fetchIn(2, 'cli2', 'http://web1/'), { timeoutMs: 10_000, intervalMs: 250, tries: 40 })).toBe('from-web1');
    // The MTU leaves room for VXLAN's 50 bytes.
    expect(await dk(2, 'exec', 'cli2', 'cat', '/sys/class/net/eth0/mtu')).toBe('1450');
    // Control for the name: an unknown one does not answer.
    expect(await fetchIn(2, 'cli2', 'http://nosuchweb/')).toBe('');
  });

  it('docker rm -f and docker network rm leave nothing on either host', async () => {
    const id = await dk(1, 'network', 'inspect', '-f', '{{.Id}}', 'ov');
    await dk(1, 'rm', '-f', 'web1');
    await dk(2, 'rm', '-f', 'cli2');
    await dk(1, 'network', 'rm', 'ov');
    for (const h of [1, 2] as const) {
      expect(await eventually(async () => !(await yardNetworkIds(h)).includes(id), { timeoutMs: 10_000 })).toBe(true);
      expect(await eventually(async () => (await handoverLinks(h)).length === 0, { timeoutMs: 10_000, intervalMs: 250, tries: 40 })).toBe(true);
    }
  });
});
