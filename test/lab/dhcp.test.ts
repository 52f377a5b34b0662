/**
 * DHCP IPAM (`--ipam-driver dhcp`) against a real DHCP server: the lab's dnsmasq on the
 * LAN (120 s leases, T1 8 s so a renewal is seen within the test). Two lab hosts each run
 * a macvlan sandbox that takes its address, gateway and DNS from the server; the leases
 * show in inspect and in dnsmasq's lease file; the daemon renews them, asks for them again
 * after a kill -9 and a restart, and gives them back on rm. Without a server a new
 * sandbox fails within the network's bound and leaves nothing behind.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { labDhcpStart, labDhcpStop, processGone, restartDaemon } from '../../src/lab/lab.js';
import { readLabLeases } from '../../src/lab/dhcp.js';
import { api, eventually, inspectSandbox, ipJson, linkNames, netnsList, ok, pings, withLab, yard } from './helpers.js';

const lab = withLab('dhc', 2, { dhcp: { leaseSeconds: 120, renewSeconds: 8 } });
const h1 = () => lab.host(1);
const h2 = () => lab.host(2);
const leases = () => readLabLeases(lab.info.dhcp!);
const inRange = (ip: string) => /^10\.231\.0\.(1[0-9][0-9])$/.test(ip);
const lease = async (host: ReturnType<typeof h1>, sb: string, net = 'lan') => (await inspectSandbox(host, sb)).NetworkSettings.Networks[net];
/** Through the CLI's flags once (the first network), through the API's IPAM.Driver otherwise (no CLI start). */
const createNet = async (host: ReturnType<typeof h1>, name: string, timeout?: string) => {
  const r = await api(host, 'POST', '/networks/create', { Name: name, Driver: 'macvlan', Options: { parent: 'lan0' }, IPAM: { Driver: 'dhcp', ...(timeout ? { Options: { timeout } } : {}) } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
};
const run = (host: ReturnType<typeof h1>, name: string, net = 'lan') => yard(host, 'run', '-d', '--name', name, '--network', net, '--', 'sleep', '600');

describe('dhcp IPAM on macvlan', () => {
  it('two sandboxes on two hosts get distinct leases (address, gateway, DNS) and reach each other', async () => {
    await ok(yard(h1(), 'network', 'create', '-d', 'macvlan', '-o', 'parent=lan0', '--ipam-driver', 'dhcp', 'lan'), 'network create lan');
    await createNet(h2(), 'lan');
    await ok(run(h1(), 'a1'), 'run a1');
    await ok(run(h2(), 'b1'), 'run b1');
    const a = await lease(h1(), 'a1');
    const b = await lease(h2(), 'b1');
    for (const ep of [a, b]) {
      expect(inRange(ep.IPAddress), ep.IPAddress).toBe(true);
      expect(ep.IPPrefixLen).toBe(24);
      expect(ep.Gateway).toBe('10.231.0.1');
      expect(ep.DHCP).toMatchObject({ Address: `${ep.IPAddress}/24`, Server: '10.231.0.1', Router: '10.231.0.1', DNS: ['10.231.0.1'], LeaseSeconds: 120 });
      const left = Date.parse(ep.DHCP.Expires) - Date.now();
      expect(left).toBeGreaterThan(90_000);
      expect(left).toBeLessThanOrEqual(120_000);
    }
    expect(a.IPAddress).not.toBe(b.IPAddress);
    // The kernel has exactly that: the address on eth0 and the default route via the lease's router.
    const sa = await inspectSandbox(h1(), 'a1');
    const [eth0] = await ipJson(h1(), ['addr', 'show', 'eth0'], sa.Netns);
    expect(eth0.address).toBe(a.MacAddress);
    expect(eth0.addr_info.filter((x: any) => x.family === 'inet').map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual([`${a.IPAddress}/24`]);
    const routes = await ipJson<{ dst: string; gateway?: string }[]>(h1(), ['route', 'show', 'default'], sa.Netns);
    expect(routes.map((r) => r.gateway)).toEqual(['10.231.0.1']);
    // The server's lease file lists both, by MAC, address and the sandbox's hostname.
    const file = leases();
    expect(file.find((l) => l.address === a.IPAddress)).toMatchObject({ mac: a.MacAddress, hostname: sa.Config.Hostname });
    expect(file.find((l) => l.address === b.IPAddress)?.mac).toBe(b.MacAddress);
    // Traffic across the LAN both ways, and to the lease's gateway.
    expect(await pings(h1(), 'a1', b.IPAddress)).toBe(true);
    expect(await pings(h2(), 'b1', a.IPAddress)).toBe(true);
    expect(await pings(h1(), 'a1', '10.231.0.1')).toBe(true);
    // network inspect (Docker's endpoint view) carries the lease too.
    const net = (await api(h1(), 'GET', '/networks/lan')).body;
    expect(net.IPAM.Driver).toBe('dhcp');
    expect(net.IPAM.Config).toEqual([]);
    expect(Object.values<any>(net.Containers)[0]).toMatchObject({ Name: 'a1', IPv4Address: `${a.IPAddress}/24`, DHCP: { Server: '10.231.0.1' } });
  });

  it('the daemon renews at the T1 the server gives: the record and the lease file move on', async () => {
    const before = (await lease(h1(), 'a1')).DHCP;
    const fileBefore = leases().find((l) => l.address === before.Address.split('/')[0])!.expires;
    // T1 is 8 s: the renewal comes within ~8 s of the last grant.
    const after = await eventually(async () => {
      const now = (await lease(h1(), 'a1')).DHCP;
      return Date.parse(now.Expires) > Date.parse(before.Expires) ? now : undefined;
    }, { timeoutMs: 15_000, intervalMs: 500, tries: 40 });
    expect(after, 'a renewed lease').toBeDefined();
    expect(after!.Address).toBe(before.Address);
    expect(Date.parse(after!.Obtained)).toBeGreaterThan(Date.parse(before.Obtained));
    const fileAfter = leases().find((l) => l.address === before.Address.split('/')[0])!.expires;
    expect(fileAfter).toBeGreaterThan(fileBefore);
    const log = fs.readFileSync(h1().logFile, 'utf8');
    expect(log).toMatch(new RegExp(`dhcp: renewed ${before.Address.replace(/\./g, '\\.')} for sandbox a1`));
  });

  it('no answer: a new sandbox fails within the bound, names the network and what to check, and leaves nothing; with the server back it works', async () => {
    await createNet(h1(), 'lan_t', '3');
    await labDhcpStop(lab.info);
    try {
      const nsBefore = netnsList(h1()).sort();
      const linksBefore = await linkNames(h1());
      const filesBefore = fs.readdirSync(`${h1().stateDir}/sandboxes`).sort();
      // Through the API (no CLI start in the measured time): the daemon answers within the bound.
      const t0 = Date.now();
      const r = await api(h1(), 'POST', '/yard/v1/sandboxes', { name: 'late', networks: [{ network: 'lan_t' }], command: ['sleep', '600'], detached: true });
      const took = Date.now() - t0;
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ code: 'DHCP_NO_ANSWER', field: '--ipam-driver' });
      expect(r.body.message).toMatch(/no DHCP server answered on network lan_t within 3 s: sandbox late got no address for eth0 \(parent lan0\)/);
      expect(r.body.message).toMatch(/UDP ports 67 and 68/);
      expect(took).toBeGreaterThanOrEqual(3_000);
      expect(took).toBeLessThan(8_000);
      expect(netnsList(h1()).sort()).toEqual(nsBefore);
      expect(await linkNames(h1())).toEqual(linksBefore);
      expect(fs.readdirSync(`${h1().stateDir}/sandboxes`).sort()).toEqual(filesBefore);
      expect((await api(h1(), 'GET', '/yard/v1/sandboxes/late')).status).toBe(404);
    } finally {
      await labDhcpStart(lab.info);
    }
    await ok(run(h1(), 'late', 'lan_t'), 'run late with the server back');
    const ep = await lease(h1(), 'late', 'lan_t');
    expect(inRange(ep.IPAddress)).toBe(true);
    expect(await pings(h1(), 'late', '10.231.0.1')).toBe(true);
    await ok(yard(h1(), 'rm', '-f', 'late'));
  });

  it('kill -9 and restart: addresses stay, traffic flows, and every lease is asked for again', async () => {
    const a = await lease(h1(), 'a1');
    const b = await lease(h2(), 'b1');
    const pid = h1().daemonPid!;
    process.kill(pid, 'SIGKILL');
    expect(await eventually(async () => processGone(pid), { timeoutMs: 3_000, intervalMs: 10, tries: 300 })).toBe(true);
    const killedAt = Date.now();
    expect(await pings(h2(), 'b1', a.IPAddress)).toBe(true);
    await restartDaemon(lab.info, h1());
    const again = await eventually(async () => {
      const now = (await lease(h1(), 'a1')).DHCP;
      return Date.parse(now.Obtained) > killedAt ? now : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, tries: 50 });
    expect(again, 'the lease asked for again after the restart').toBeDefined();
    expect(again!.Address).toBe(a.DHCP.Address);
    expect(fs.readFileSync(h1().logFile, 'utf8')).toMatch(new RegExp(`dhcp: re-acquired ${a.DHCP.Address.replace(/\./g, '\\.')} for sandbox a1`));
    expect(await pings(h1(), 'a1', b.IPAddress)).toBe(true);
    expect(await pings(h2(), 'b1', a.IPAddress)).toBe(true);
  });

  it('rm and disconnect give the lease back (DHCPRELEASE): the server no longer lists it; the other host\'s stays; connect takes one', async () => {
    const a = await lease(h1(), 'a1');
    const b = await lease(h2(), 'b1');
    expect(leases().map((l) => l.address)).toContain(a.IPAddress);
    await ok(yard(h1(), 'rm', '-f', 'a1'));
    const gone = await eventually(async () => !leases().some((l) => l.address === a.IPAddress), { timeoutMs: 3_000, intervalMs: 100, tries: 30 });
    expect(gone).toBe(true);
    expect(leases().map((l) => l.address)).toContain(b.IPAddress);
    // disconnect gives it back too; connect takes a lease again.
    await ok(yard(h2(), 'network', 'disconnect', 'lan', 'b1'));
    expect(await eventually(async () => !leases().some((l) => l.address === b.IPAddress), { timeoutMs: 3_000, intervalMs: 100, tries: 30 })).toBe(true);
    const again = await api(h2(), 'POST', '/networks/lan/connect', { Container: 'b1' });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    const b2 = await lease(h2(), 'b1');
    expect(inRange(b2.IPAddress)).toBe(true);
    expect(leases().find((l) => l.address === b2.IPAddress)?.mac).toBe(b2.MacAddress);
    expect(await pings(h2(), 'b1', '10.231.0.1')).toBe(true);
    await ok(yard(h2(), 'rm', '-f', 'b1'));
    expect(await eventually(async () => !leases().some((l) => l.address === b2.IPAddress), { timeoutMs: 3_000, intervalMs: 100, tries: 30 })).toBe(true);
  });

  it('refuses dhcp where it cannot work, and static addresses with it, changing nothing', async () => {
    const nets = async () => ((await api(h1(), 'GET', '/networks')).body as { Name: string }[]).map((n) => n.Name).sort();
    const before = await nets();
    // The CLI's flag, then Docker's API spelling (IPAM.Driver) for the rest: cheaper than a CLI start each.
    const bridge = await yard(h1(), 'network', 'create', '--ipam-driver', 'dhcp', 'bad1');
    expect(bridge.code).not.toBe(0);
    expect(bridge.stderr).toMatch(/--ipam-driver dhcp: the bridge driver does not put sandboxes on a LAN/);
    const mk = (body: object) => api(h1(), 'POST', '/networks/create', { Name: 'bad', Driver: 'macvlan', Options: { parent: 'lan0' }, ...body });
    const cases: [object, RegExp][] = [
      [{ IPAM: { Driver: 'dhcp', Config: [{ Subnet: '10.231.0.0/24' }] } }, /--subnet cannot be given/],
      [{ IPAM: { Driver: 'dhcp', Options: { timeout: '0' } } }, /timeout=0 is not a number of seconds from 1 to 120/],
      [{ IPAM: { Driver: 'dhcp' }, Internal: true, Options: {} }, /an --internal network has no uplink/],
      [{ IPAM: { Driver: 'dhcp' }, Options: { parent: 'lan0', host_access: 'true' } }, /host shim needs an address/],
      [{ IPAM: { Driver: 'nosuch' } }, /plugin "nosuch" not found/],
    ];
    for (const [body, msg] of cases) {
      const r = await mk(body);
      expect(r.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(r.body.message).toMatch(msg);
    }
    expect(await nets()).toEqual(before);
    const ip = await api(h1(), 'POST', '/yard/v1/sandboxes', { name: 'st', networks: [{ network: 'lan', ip: '10.231.0.150' }], command: ['sleep', '600'], detached: true });
    expect(ip.status).toBe(400);
    expect(ip.body.message).toMatch(/--ip 10\.231\.0\.150: network lan takes its addresses from the LAN's DHCP server/);
    // Positive control: IPAM.Driver "dhcp" with its option is taken and shown as given.
    const created = await mk({ Name: 'viaapi', IPAM: { Driver: 'dhcp', Options: { timeout: '5' } } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const shown = await api(h1(), 'GET', '/networks/viaapi');
    expect(shown.body.IPAM).toEqual({ Driver: 'dhcp', Options: { timeout: '5' }, Config: [] });
    await ok(yard(h1(), 'network', 'rm', 'viaapi', 'lan', 'lan_t'));
    await ok(yard(h2(), 'network', 'rm', 'lan'));
  });
});
