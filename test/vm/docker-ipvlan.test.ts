/**
 * Docker containers on a Switchyard ipvlan network, in the VM lab (its kernel has ipvlan):
 * lab host 1 runs the real dockerd 20.10 (src/lab/docker.ts) with Switchyard's daemon as its
 * network plugin; `docker network create -d switchyard -o driver=ipvlan ...` puts containers
 * on the LAN through lan0. A container reaches host 2 (another machine on the LAN) and a
 * second container reaches the first; a container on `--network none` cannot reach host 2
 * (the control beside it); `docker rm -f` releases the endpoints (Switchyard's sandboxes go).
 *
 * Run INSIDE the qemu guest by test/lab/vm-ipvlan.test.ts. Every spawned process costs
 * 40-150x more under TCG: one dockerd, the `bb` image the lab imports, as few docker
 * commands as the checks need, timeouts about 3x those of the lab tests on this machine.
 */
import { describe, expect, it, vi } from 'vitest';
import { labDocker } from '../../src/lab/lab.js';
import { api, eventually, ipJson, withLab, type Lab } from '../lab/helpers.js';

// Under TCG the lab's daemon, dockerd and the image import take 1-4 min to come up.
vi.setConfig({ hookTimeout: 480_000, testTimeout: 360_000 });
// Host 2 is the LAN's other machine: no daemon and no engine there (a second Node start
// under TCG costs more than a minute).
const lab: Lab = withLab('vmdk', 2, { daemonHosts: 1, docker: { hosts: 1 } });
const DOCKER_TIMEOUT_MS = 180_000;

const dkRaw = (...args: string[]) => labDocker(lab.info, lab.host(1), args, { timeoutMs: DOCKER_TIMEOUT_MS });
async function dk(...args: string[]): Promise<string> {
  const r = await dkRaw(...args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}
/** One ping from inside a container (`docker exec`); true when answered. */
const pingsFrom = async (container: string, ip: string) => (await dkRaw('exec', container, 'ping', '-c', '1', '-W', '5', ip)).code === 0;
const yardNetworks = async () => (await api(lab.host(1), 'GET', '/networks')).body as { Id: string; Name: string; Driver: string; Options: Record<string, string> }[];
const yardSandboxes = async () => JSON.stringify((await api(lab.host(1), 'GET', '/yard/v1/sandboxes?all=1')).body);

describe('Docker containers on a Switchyard ipvlan network (Switchyard as the plugin of the real dockerd)', () => {
  let c1Ip = '';
  let endpoints: string[] = [];

  it('docker network create -d switchyard -o driver=ipvlan: a container reaches another LAN host, a second one reaches the first; --network none cannot (control)', async () => {
    const host2 = lab.host(2).lan4;
    const netId = await dk('network', 'create', '-d', 'switchyard', '-o', 'driver=ipvlan', '-o', 'parent=lan0', '-o', 'ipvlan_mode=l2',
      '--subnet', '10.231.0.0/24', '--ip-range', '10.231.0.192/27', 'ipv');
    // Switchyard holds the same network (Docker's ID) as an ipvlan l2 network on lan0.
    const net = (await yardNetworks()).find((n) => n.Id === netId);
    expect(net?.Driver).toBe('ipvlan');
    expect(net?.Options).toMatchObject({ parent: 'lan0', ipvlan_mode: 'l2' });

    await dk('run', '-d', '--name', 'c1', '--network', 'ipv', 'bb', 'sleep', '600');
    await dk('run', '-d', '--name', 'c2', '--network', 'ipv', 'bb', 'sleep', '600');
    // One docker inspect for both (each docker command is seconds under TCG): name, address, endpoint.
    const rows = (await dk('inspect', '-f', '{{.Name}} {{.NetworkSettings.Networks.ipv.IPAddress}} {{.NetworkSettings.Networks.ipv.EndpointID}}', 'c1', 'c2')).split('\n').map((l) => l.trim().split(' '));
    expect(rows.map((r) => r[0])).toEqual(['/c1', '/c2']);
    c1Ip = rows[0][1];
    const c2Ip = rows[1][1];
    endpoints = rows.map((r) => r[2]);
    for (const ip of [c1Ip, c2Ip]) expect(ip).toMatch(/^10\.231\.0\.(19[2-9]|2[01]\d|22[0-3])$/);
    expect(c2Ip).not.toBe(c1Ip);
    // An ipvlan interface shares its parent's MAC: the container's eth0 is on lan0 itself.
    const [lan0] = (await ipJson(lab.host(1), ['link', 'show', 'lan0'])) as { address: string }[];
    expect(await dk('exec', 'c1', 'cat', '/sys/class/net/eth0/address')).toBe(lan0.address);

    // The container reaches host 2 over the LAN (the first ping may wait for ARP).
    expect(await eventually(() => pingsFrom('c1', host2), { timeoutMs: 60_000, intervalMs: 500, tries: 5 }), `c1 (${c1Ip}) -> host 2 (${host2})`).toBe(true);
    // The second container reaches the first (ipvlan l2 switches between its slaves).
    expect(await eventually(() => pingsFrom('c2', c1Ip), { timeoutMs: 60_000, intervalMs: 500, tries: 5 }), `c2 -> c1 (${c1Ip})`).toBe(true);
    // Negative beside the positive above: a container without a network cannot reach host 2.
    const none = await dkRaw('run', '--rm', '--network', 'none', 'bb', 'ping', '-c', '1', '-W', '3', host2);
    expect(none.code, `--network none pinged ${host2}: ${none.stdout}`).not.toBe(0);

    const sandboxes = await yardSandboxes();
    for (const ep of endpoints) expect(ep).toMatch(/^[0-9a-f]{64}$/);
    for (const ep of endpoints) expect(sandboxes, 'Switchyard holds a sandbox per endpoint').toContain(ep);
    expect(sandboxes).toContain(c1Ip);
  });

  it('docker rm -f releases the endpoints (Switchyard\'s sandboxes go); docker network rm removes the network', async () => {
    expect(endpoints).toHaveLength(2);
    await dk('rm', '-f', 'c1', 'c2');
    const released = await eventually(
      async () => {
        const now = await yardSandboxes();
        return !endpoints.some((e) => now.includes(e)) && !now.includes(c1Ip);
      },
      { timeoutMs: 30_000, intervalMs: 500, tries: 60 },
    );
    expect(released, 'the removed containers\' sandboxes are gone').toBe(true);
    // Control: the network is still there until docker network rm.
    expect((await yardNetworks()).some((n) => n.Driver === 'ipvlan')).toBe(true);
    await dk('network', 'rm', 'ipv');
    expect((await yardNetworks()).some((n) => n.Driver === 'ipvlan')).toBe(false);
  });
});
