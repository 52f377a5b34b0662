/**
 * Switchyard as Podman's network backend: the lab's real Podman 4.3 finds Switchyard's
 * netavark-compatible executable first in helper_binaries_dir (yard lab up --podman
 * --podman-switchyard), and every container network it makes is the host daemon's work:
 * names answered by Switchyard's resolver (no aardvark-dns), published ports in its maps,
 * connect and disconnect of a running container, macvlan on the LAN, `podman rm -f`
 * leaving nothing, the daemon killed with -9 and restarted under running containers, and
 * bad network definitions refused with the error Podman shows.
 * Needs root, podman (scripts/setup.sh) and `npm run build`.
 */
import { describe, expect, it } from 'vitest';
import { labPodman, restartDaemon } from '../../src/lab/lab.js';
import { findProcesses, processGone } from '../../src/kernel/process.js';
import { api, eventually, linkNames, netnsList, sh, withLab, yard, type Lab } from './helpers.js';

const lab: Lab = withLab('psy', 2, { podman: { hosts: 1, switchyard: true } });
const h1 = () => lab.host(1);

async function pod(...args: string[]): Promise<string> {
  const r = await labPodman(lab.info, h1().name, args);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}
const podRaw = (...args: string[]) => labPodman(lab.info, h1().name, args);
const sandboxes = async () => (await api(h1(), 'GET', '/yard/v1/sandboxes?all=1')).body as { Id: string; Name: string; State: { Status: string } }[];
const networks = async () => ((await api(h1(), 'GET', '/networks')).body as { Name: string; Id: string; Labels: Record<string, string> }[]).map((n) => n.Name).sort();
const fetchFromLan = async (url: string) => {
  const r = await sh(lab.host(2), `timeout 5 wget -qO- ${url}`);
  return r.code === 0 ? r.stdout.trim() : `failed (${r.code})`;
};
const WEB = ['sh', '-c', 'mkdir -p /w && echo hello-podman > /w/index.html && exec httpd -f -p 80 -h /w'];

describe('Podman with Switchyard as its network backend', () => {
  it('two containers on a Podman network reach each other by name, through Switchyard\'s resolver and bridge', async () => {
    await pod('network', 'create', 'app');
    await pod('run', '-d', '--name', 'web', '--network', 'app', '-p', '8080:80', 'bb', ...WEB);
    await pod('run', '-d', '--name', 'c2', '--network', 'app', 'bb', 'sleep', '600');
    const webIp = await pod('inspect', '-f', '{{(index .NetworkSettings.Networks "app").IPAddress}}', 'web');
    expect(webIp).toMatch(/^10\.89\.\d+\.\d+$/);
    // By name, both ways, and under Podman's domain dns.podman.
    expect(await pod('exec', 'c2', 'ping', '-c1', '-W2', 'web')).toContain(`(${webIp})`);
    expect(await pod('exec', 'web', 'ping', '-c1', '-W2', 'c2')).toContain('1 packets received');
    expect(await pod('exec', 'c2', 'wget', '-qO-', 'http://web.dns.podman/')).toBe('hello-podman');
    // As with aardvark-dns: the resolver answers on the network's gateway (and no aardvark-dns runs).
    expect(await pod('exec', 'c2', 'cat', '/etc/resolv.conf')).toMatch(/nameserver 10\.89\.0\.1\b/);
    // Negative beside it: a name nobody has is not answered (and the lab resolver says NXDOMAIN).
    const nobody = await podRaw('exec', 'c2', 'ping', '-c1', '-W2', 'nobody');
    expect(nobody.code).not.toBe(0);
    expect(nobody.stdout + nobody.stderr).toMatch(/bad address 'nobody'/);
    // Switchyard holds the network and both containers, as runtime-owned sandboxes; no aardvark-dns runs.
    expect(await networks()).toContain('app');
    const sbs = await sandboxes();
    const web = sbs.find((s) => s.Name === '/web');
    expect(web?.Id).toBe(await pod('inspect', '-f', '{{.Id}}', 'web'));
    expect(web?.State.Status).toBe('running');
    expect(await yard(h1(), 'ps').then((r) => r.stdout)).toMatch(/\bweb\b[\s\S]*\bc2\b|\bc2\b[\s\S]*\bweb\b/);
    expect(findProcesses({ argv: (a) => a.some((x) => x.endsWith('aardvark-dns')) })).toEqual([]);
    // A Switchyard sandbox cannot remove Podman's container.
    const refused = await api(h1(), 'DELETE', `/yard/v1/sandboxes/${web!.Id}?force=1`);
    expect(refused.body.code).toBe('RUNTIME_OWNED');
  });

  it('a published port is reached from another lab host; an unpublished one is refused', async () => {
    expect(await fetchFromLan(`http://${h1().lan4}:8080/`)).toBe('hello-podman');
    expect(await fetchFromLan(`http://${h1().lan4}:8081/`)).toMatch(/^failed/);
    const explain = await yard(h1(), 'port', 'explain', 'web');
    expect(explain.stdout).toMatch(/8080/);
  });

  it('connect and disconnect of a running container', async () => {
    await pod('network', 'create', 'other');
    await pod('run', '-d', '--name', 'o1', '--network', 'other', 'bb', 'sleep', '600');
    const o1 = await pod('inspect', '-f', '{{(index .NetworkSettings.Networks "other").IPAddress}}', 'o1');
    // Before: c2 has no way to o1's network.
    expect((await podRaw('exec', 'c2', 'ping', '-c1', '-W1', o1)).code).not.toBe(0);
    await pod('network', 'connect', 'other', 'c2');
    expect(await pod('exec', 'c2', 'ip', '-o', 'link')).toMatch(/eth1/);
    expect(await pod('exec', 'c2', 'ping', '-c1', '-W2', 'o1')).toContain(`(${o1})`);
    await pod('network', 'disconnect', 'other', 'c2');
    expect(await pod('exec', 'c2', 'ip', '-o', 'link')).not.toMatch(/eth1/);
    expect((await podRaw('exec', 'c2', 'ping', '-c1', '-W1', o1)).code).not.toBe(0);
    // Still on app: the positive control.
    expect(await pod('exec', 'c2', 'ping', '-c1', '-W2', 'web')).toContain('1 packets received');
  });

  it('a macvlan container on the LAN reaches another lab host', async () => {
    await pod('network', 'create', '-d', 'macvlan', '-o', 'parent=lan0', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', 'lan');
    const out = await pod('run', '--rm', '--network', 'lan', 'bb', 'sh', '-c', `ip -o -4 addr show eth0; ping -c1 -W2 ${lab.host(2).lan4}`);
    expect(out).toMatch(/inet 10\.231\.0\.(19[2-9]|2[0-2]\d)\//);
    expect(out).toContain('1 packets received');
    // The run ended: its sandbox and the network (no container left on it) are gone, as netavark's bridge would be.
    expect((await sandboxes()).length).toBe(3);
    expect(await networks()).not.toContain('lan');
  });

  it('bad network definitions are refused with the error Podman shows, and change nothing', async () => {
    await yard(h1(), 'network', 'create', '--subnet', '10.77.0.0/24', 'taken');
    await pod('network', 'create', '--subnet', '10.78.0.0/24', 'taken');
    const before = { nets: await networks(), sbs: (await sandboxes()).length };
    const clash = await podRaw('run', '--rm', '--network', 'taken', 'bb', 'true');
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toMatch(/netavark: network name taken is taken by a Switchyard network Podman did not make/);
    await pod('network', 'create', '-o', 'mtu=50', 'tiny');
    const tiny = await podRaw('run', '--rm', '--network', 'tiny', 'bb', 'true');
    expect(tiny.code).not.toBe(0);
    expect(tiny.stderr).toMatch(/netavark: .*mtu.*50/i);
    expect({ nets: await networks(), sbs: (await sandboxes()).length }).toEqual(before);
    // Positive control: a network without a clash works.
    await pod('network', 'create', '--subnet', '10.79.0.0/24', 'fine');
    expect(await pod('run', '--rm', '--network', 'fine', 'bb', 'ip', '-o', '-4', 'addr', 'show', 'eth0')).toMatch(/10\.79\.0\./);
  });

  it('traffic flows while the daemon is killed with -9; after a restart Podman\'s work goes on', async () => {
    const pid = h1().daemonPid!;
    process.kill(pid, 'SIGKILL');
    expect(await eventually(async () => processGone(pid), { timeoutMs: 3_000, intervalMs: 10, tries: 300 })).toBe(true);
    // The data plane is the kernel's: by address, and through the published port. (Names
    // wait for the restart: the resolver is the daemon's, as Docker's is dockerd's.)
    const webIp = await pod('inspect', '-f', '{{(index .NetworkSettings.Networks "app").IPAddress}}', 'web');
    expect(await pod('exec', 'c2', 'wget', '-qO-', `http://${webIp}/`)).toBe('hello-podman');
    expect(await fetchFromLan(`http://${h1().lan4}:8080/`)).toBe('hello-podman');
    // Without the daemon a new container cannot get a network (and says why).
    const down = await podRaw('run', '--rm', '--network', 'app', 'bb', 'true');
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/cannot reach the Switchyard daemon/);
    await restartDaemon(lab.info, h1());
    expect((await sandboxes()).map((s) => s.Name)).toEqual(expect.arrayContaining(['/web', '/c2']));
    expect(await eventually(() => pod('exec', 'c2', 'wget', '-qO-', 'http://web/').catch(() => ''), { timeoutMs: 10_000, intervalMs: 500 })).toBe('hello-podman');
    await pod('run', '-d', '--name', 'late', '--network', 'app', 'bb', 'sleep', '600');
    expect(await pod('exec', 'late', 'wget', '-qO-', 'http://web/')).toBe('hello-podman');
  });

  it('podman rm -f leaves nothing behind: no sandbox, network, interface or attached namespace', async () => {
    const veths = async () => (await linkNames(h1())).filter((l) => /^yv[0-9a-f]{12}$/.test(l));
    expect((await veths()).length).toBe(4);
    expect(await linkNames(h1())).toContain('podman1');
    await pod('rm', '-f', '--time', '0', 'web', 'c2', 'late', 'o1');
    expect(await sandboxes()).toEqual([]);
    expect(await networks()).not.toEqual(expect.arrayContaining(['app']));
    expect(await networks()).not.toContain('other');
    expect(netnsList().filter((n) => n.startsWith(`yard-${h1().name}-rt-`))).toEqual([]);
    expect(await veths()).toEqual([]);
    expect((await linkNames(h1())).filter((l) => /^podman\d/.test(l))).toEqual([]);
  });
});
