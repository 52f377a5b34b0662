/**
 * ipvlan and 802.1q for real, in the VM lab (its kernel has both): the capability probe
 * accepts them, the driver conformance suite passes in ipvlan l2, l3 and l3s, the l2
 * host-access shim lets the host reach its sandbox, a macvlan network on `lan0.100` creates
 * and removes that VLAN sub-interface, and the route ipvlan l3 prints is the one a second
 * host needs, and ipvlan l2 sandboxes taking leases from the LAN's DHCP server (dnsmasq)
 * with client identifiers of their own. All in one 2-host lab, one spec after the other.
 *
 * Every spawned process costs 40-150x more under TCG and a `yard` process is a whole Node
 * start-up, so the `yard` CLI runs only where its output is what is tested (the warnings
 * of `network create`); everything else goes to the daemon's API from this process.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readLabLeases, startLabDhcp, stopLabDhcp, type LabDhcp } from '../../src/lab/dhcp.js';
import { run } from '../../src/kernel/exec.js';
import { driverConformance } from '../lab/conformance.js';
import { DaemonClient } from '../../src/client/daemon-client.js';
import { ok, withLab, yard } from '../lab/helpers.js';

// Host 2 plays the LAN's other machine (the upstream router of ipvlan l3's route): no
// daemon there, since a second Node start under TCG on one vCPU costs more than a minute.
const lab = withLab('vm', 2, { daemonHosts: 1 });
const LAN = ['--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', '-o', 'parent=lan0'];

describe('capability probe in the VM', () => {
  it('finds ipvlan, dummy and 802.1q in this kernel', () => {
    const line = fs.readFileSync(lab.host(1).logFile, 'utf8').split('\n').find((l) => l.includes('kernel link kinds:'));
    expect(line, 'the daemon logs the probed kinds').toBeDefined();
    // The daemon's log is JSON lines: the message is the `msg` field.
    const msg = line!.startsWith('{') ? (JSON.parse(line!) as { msg: string }).msg : line!;
    const kinds = msg.slice(msg.indexOf('kernel link kinds:') + 'kernel link kinds:'.length).split(',').map((k) => k.trim());
    expect(kinds).toEqual(expect.arrayContaining(['ipvlan', 'macvlan', 'dummy', 'vlan']));
  });
});

driverConformance({ driver: 'ipvlan l2 (parent lan0)', lab, network: 'ipl2', createArgs: () => ['-d', 'ipvlan', '-o', 'ipvlan_mode=l2', ...LAN] });
driverConformance({ driver: 'ipvlan l3 (parent lan0)', lab, network: 'ipl3', createArgs: () => ['-d', 'ipvlan', '-o', 'ipvlan_mode=l3', '--subnet', '10.70.0.0/24', '-o', 'parent=lan0'] });
driverConformance({ driver: 'ipvlan l3s (parent lan0)', lab, network: 'ipl3s', createArgs: () => ['-d', 'ipvlan', '-o', 'ipvlan_mode=l3s', '--subnet', '10.71.0.0/24', '-o', 'parent=lan0'] });

const client = (host = 1) => new DaemonClient({ socket: lab.host(host).socket, timeoutMs: 120_000 });
const createNetwork = (Name: string, Driver: string, Options: Record<string, string>, Config: Record<string, string>[]) =>
  client().post('/networks/create', { Name, Driver, Options, IPAM: { Config } });
const runSleeper = (name: string, network: string, ip?: string) =>
  client().post('/yard/v1/sandboxes', { name, networks: [{ network, ...(ip ? { ip } : {}) }], command: ['sleep', '600'], detached: true, start: true });
const netnsOf = async (name: string) => (await client().get<{ Netns: string }>(`/yard/v1/sandboxes/${name}`)).Netns;
const removeSandbox = (name: string) => client().delete(`/yard/v1/sandboxes/${name}?force=1`);
/** One ping from a namespace (a lab host's or a sandbox's); true when answered. */
const pingFrom = async (ns: string, ip: string) => (await run('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W2', ip], { timeoutMs: 30_000 })).code === 0;
async function ipJsonIn<T = any[]>(ns: string, args: string[]): Promise<T> {
  const r = await run('ip', ['-n', ns, '-j', ...args], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as T;
}
const linkNamesIn = async (ns: string) => (await ipJsonIn<{ ifname: string }[]>(ns, ['link', 'show'])).map((l) => l.ifname);

describe('ipvlan l2 host access', () => {
  it('without the shim the host cannot reach its sandbox; with -o host_access=true it can, and the shim goes with the network', async () => {
    const h = lab.host(1);
    const created = await yard(h, 'network', 'create', '-d', 'ipvlan', ...LAN, 'plain');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/host_access=true/);
    await runSleeper('p1', 'plain', '10.231.0.200');
    expect(await pingFrom(h.name, '10.231.0.200')).toBe(false);
    await removeSandbox('p1');
    await client().delete('/networks/plain');

    const lanIpam = { Subnet: '10.231.0.0/24', Gateway: '10.231.0.1', IPRange: '10.231.0.192/27' };
    await createNetwork('shimmed', 'ipvlan', { parent: 'lan0', host_access: 'true' }, [lanIpam]);
    await runSleeper('s1', 'shimmed', '10.231.0.201');
    const net = await client().get<any>('/networks/shimmed');
    const shimAddress = net.Switchyard.Driver.shimAddress as string;
    expect(shimAddress).toMatch(/^10\.231\.0\.\d+$/);
    const shim = (await ipJsonIn<any[]>(h.name, ['-d', 'addr', 'show'])).find((l) => l.addr_info?.some((a: any) => a.local === shimAddress));
    expect(shim?.linkinfo?.info_kind).toBe('ipvlan');
    expect(shim?.linkinfo?.info_data?.mode).toBe('l2');
    expect(await pingFrom(h.name, '10.231.0.201')).toBe(true);
    await removeSandbox('s1');
    await client().delete('/networks/shimmed');
    expect(await linkNamesIn(h.name)).not.toContain(shim.ifname);
  });
});

describe('macvlan on a VLAN sub-interface created on the fly', () => {
  it('-o parent=lan0.100 creates lan0.100 (VLAN 100 on lan0), its sandboxes reach each other, network rm removes it', async () => {
    const h = lab.host(1);
    expect(await linkNamesIn(h.name), 'no lan0.100 before').not.toContain('lan0.100');
    await createNetwork('vlan100', 'macvlan', { parent: 'lan0.100' }, [{ Subnet: '10.100.0.0/24', Gateway: '10.100.0.1' }]);
    const [vlan] = await ipJsonIn<any[]>(h.name, ['-d', 'link', 'show', 'lan0.100']);
    expect(vlan?.linkinfo?.info_kind).toBe('vlan');
    expect(vlan?.linkinfo?.info_data?.id).toBe(100);
    expect(vlan?.link).toBe('lan0');
    await runSleeper('v1', 'vlan100', '10.100.0.11');
    await runSleeper('v2', 'vlan100', '10.100.0.12');
    expect(await pingFrom(await netnsOf('v1'), '10.100.0.12'), 'v1 -> v2').toBe(true);
    expect(await pingFrom(await netnsOf('v2'), '10.100.0.11'), 'v2 -> v1').toBe(true);
    await removeSandbox('v1');
    await removeSandbox('v2');
    await client().delete('/networks/vlan100');
    expect(await linkNamesIn(h.name)).not.toContain('lan0.100');
  });
});

describe('ipvlan l3: the route the upstream router needs', () => {
  it('network create prints `ip route add <subnet> via <lan0 address>`; with exactly that route host 2 reaches the sandbox', async () => {
    const [h1, h2] = [lab.host(1), lab.host(2)];
    const created = await yard(h1, 'network', 'create', '-d', 'ipvlan', '-o', 'ipvlan_mode=l3', '--subnet', '10.72.0.0/24', '-o', 'parent=lan0', 'routed');
    expect(created.code, created.stderr).toBe(0);
    const route = /ip route add \S+ via \S+/.exec(created.stderr)?.[0];
    expect(route, `the warning names the route: ${created.stderr}`).toBe(`ip route add 10.72.0.0/24 via ${h1.lan4}`);
    await runSleeper('r1', 'routed', '10.72.0.10');
    // The host routes for its l3 sandboxes, so it reaches them out of the box (a shim).
    expect(await pingFrom(h1.name, '10.72.0.10'), 'host 1 reaches its own l3 sandbox').toBe(true);
    expect(await pingFrom(h2.name, '10.72.0.10'), 'host 2 without the route').toBe(false);
    const added = await run('ip', ['netns', 'exec', h2.name, ...route!.split(' ')], { timeoutMs: 30_000 });
    expect(added.code, added.stderr).toBe(0);
    expect(await pingFrom(h2.name, '10.72.0.10'), 'host 2 with the printed route').toBe(true);
    await removeSandbox('r1');
    await client().delete('/networks/routed');
  });
});

describe('ipvlan l2 with dhcp IPAM (the sandboxes share the parent MAC)', () => {
  let dhcp: LabDhcp | undefined;
  afterAll(async () => {
    if (dhcp) await stopLabDhcp(dhcp);
  });

  it('two sandboxes get distinct leases through distinct client identifiers, reach the gateway, and rm releases', async () => {
    dhcp = await startLabDhcp(lab.info.lanNs, lab.info.bridge, lab.info.dnsAddress, lab.info.dir);
    await client().post('/networks/create', { Name: 'ipdhcp', Driver: 'ipvlan', Options: { parent: 'lan0', ipvlan_mode: 'l2' }, IPAM: { Driver: 'dhcp', Options: { timeout: '60' } } });
    await runSleeper('d1', 'ipdhcp');
    await runSleeper('d2', 'ipdhcp');
    const ep = async (name: string) => (await client().get<any>(`/yard/v1/sandboxes/${name}`)).NetworkSettings.Networks.ipdhcp;
    const [e1, e2] = [await ep('d1'), await ep('d2')];
    expect(e1.IPAddress).toMatch(/^10\.231\.0\.1[0-9][0-9]$/);
    expect(e2.IPAddress).toMatch(/^10\.231\.0\.1[0-9][0-9]$/);
    expect(e1.IPAddress).not.toBe(e2.IPAddress);
    expect(e1.DHCP.ClientID).toMatch(/^00/);
    expect(e1.DHCP.ClientID).not.toBe(e2.DHCP.ClientID);
    // The server saw one MAC (the parent's) for both, told apart by option 61.
    const file = readLabLeases(dhcp);
    const [l1, l2] = [file.find((l) => l.address === e1.IPAddress)!, file.find((l) => l.address === e2.IPAddress)!];
    const [lan0] = await ipJsonIn(lab.host(1).name, ['link', 'show', 'lan0']);
    expect(l1.mac).toBe(lan0.address);
    expect(l2.mac).toBe(lan0.address);
    expect(l1.clientId.replace(/:/g, '')).toBe(e1.DHCP.ClientID);
    expect(await pingFrom(await netnsOf('d1'), '10.231.0.1')).toBe(true);
    expect(await pingFrom(await netnsOf('d1'), e2.IPAddress)).toBe(true);
    await removeSandbox('d1');
    let released = false;
    for (let i = 0; i < 50 && !released; i++) {
      released = !readLabLeases(dhcp).some((l) => l.address === e1.IPAddress);
      if (!released) await new Promise((r) => setTimeout(r, 200));
    }
    expect(released).toBe(true);
    expect(readLabLeases(dhcp).some((l) => l.address === e2.IPAddress)).toBe(true);
    await removeSandbox('d2');
    await client().delete('/networks/ipdhcp');
  });
});
