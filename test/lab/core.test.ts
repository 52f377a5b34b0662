/**
 * The core engine on the real kernel, driven through the `yard` CLI inside a lab host:
 * real traffic between sandboxes (ping, HTTP), and the kernel read back with `ip -j`.
 * Needs root and `npm run build` (the daemon runs from dist/).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addrsOf,
  eventually,
  exec,
  inspectSandbox,
  ipJson,
  ipOf,
  linkNames,
  netnsList,
  ok,
  pidAlive,
  pings,
  withLab,
  yard,
  yardJson,
} from './helpers.js';

const lab = withLab('core');
const HEX64 = /^[0-9a-f]{64}$/;
const h = () => lab.host(1);
const run = (...args: string[]) => ok(yard(h(), 'run', '-d', ...args), `yard run -d ${args.join(' ')}`);
const sleeper = (name: string, ...args: string[]) => run('--name', name, ...args, '--', 'sleep', '600');

describe('core engine', () => {
  let www = '';
  beforeAll(() => {
    www = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-core-www-'));
  });
  afterAll(() => {
    if (www) fs.rmSync(www, { recursive: true, force: true });
  });

  it('serves HTTP between two sandboxes on a user bridge, over the kernel objects it recorded', async () => {
    const token = `hello from switchyard ${process.pid}`;
    fs.writeFileSync(path.join(www, 'index.html'), token + '\n');
    const netId = await ok(yard(h(), 'network', 'create', '--subnet', '10.50.0.0/24', 'app'));
    expect(netId).toMatch(HEX64);
    await run('--name', 'web', '--network', 'app', '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', www);
    await sleeper('client', '--network', 'app');

    const web = await inspectSandbox(h(), 'web');
    const ep = web.NetworkSettings.Networks.app;
    expect(ep.IPAddress).toBe('10.50.0.2');
    expect(ep.Gateway).toBe('10.50.0.1');
    // Kernel: the bridge holds the gateway, the host-side veth is enslaved to it, the
    // sandbox's eth0 has the recorded address and MAC.
    const bridge = `br-${netId.slice(0, 12)}`;
    expect(await addrsOf(h(), undefined, bridge)).toEqual(['10.50.0.1/24']);
    const [veth] = await ipJson(h(), ['-d', 'link', 'show', ep.HostInterface]);
    expect(veth.master).toBe(bridge);
    expect(veth.linkinfo.info_kind).toBe('veth');
    expect(await addrsOf(h(), web.Netns, 'eth0')).toEqual(['10.50.0.2/24']);
    const [eth0] = await ipJson(h(), ['link', 'show', 'eth0'], web.Netns);
    expect(eth0.address).toBe(ep.MacAddress);
    const [route] = await ipJson(h(), ['-4', 'route', 'show', 'default'], web.Netns);
    expect([route.gateway, route.dev]).toEqual(['10.50.0.1', 'eth0']);

    expect(await pings(h(), 'client', '10.50.0.2')).toBe(true);
    // httpd may need a moment to bind.
    const page = await eventually(async () => {
      // GNU wget: busybox's own wget segfaults on this Debian build (its httpd is fine).
      const r = await yard(h(), 'exec', 'client', '--', 'wget', '-q', '-T', '2', '-t', '1', '-O', '-', 'http://10.50.0.2/index.html');
      return r.code === 0 ? r.stdout : '';
    }, { timeoutMs: 8_000, intervalMs: 200, tries: 30 });
    expect(page.trim()).toBe(token);
  });

  it('connects two sandboxes on the default bridge by IP, with the daemon\'s upstream in resolv.conf', async () => {
    await sleeper('d1');
    await sleeper('d2');
    const [ip1, ip2] = [await ipOf(h(), 'd1', 'bridge'), await ipOf(h(), 'd2', 'bridge')];
    expect(ip1).toMatch(/^172\.17\.0\.\d+$/);
    expect(ip2).toMatch(/^172\.17\.0\.\d+$/);
    expect(await addrsOf(h(), undefined, 'yard0')).toEqual(['172.17.0.1/16']);
    expect(await pings(h(), 'd1', ip2)).toBe(true);
    expect(await pings(h(), 'd2', ip1)).toBe(true);
    const resolv = await ok(yard(h(), 'exec', 'd1', '--', 'cat', '/etc/resolv.conf'));
    expect(resolv.split('\n').filter((l) => l.startsWith('nameserver'))).toEqual(['nameserver 10.231.0.1']);
  });

  it('joins several networks at run and by connect, and disconnect takes reachability and the interface away', async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '10.61.0.0/24', 'na'));
    await ok(yard(h(), 'network', 'create', '--subnet', '10.62.0.0/24', 'nb'));
    await sleeper('pa', '--network', 'na'); // 10.61.0.2
    await sleeper('pb', '--network', 'nb'); // 10.62.0.2
    await sleeper('multi', '--network', 'na', '--network', 'nb');
    const multi = await inspectSandbox(h(), 'multi');
    expect(Object.keys(multi.NetworkSettings.Networks).sort()).toEqual(['na', 'nb']);
    expect(await addrsOf(h(), multi.Netns, 'eth0')).toEqual(['10.61.0.3/24']);
    expect(await addrsOf(h(), multi.Netns, 'eth1')).toEqual(['10.62.0.3/24']);
    expect(await pings(h(), 'multi', '10.61.0.2')).toBe(true);
    expect(await pings(h(), 'multi', '10.62.0.2')).toBe(true);

    // How a sandbox reaches an address: on-link through an interface, or via a gateway.
    const routeTo = async (netns: string, ip: string) => {
      const [r] = await ipJson(h(), ['route', 'get', ip], netns);
      return r.gateway ? `${r.dev} via ${r.gateway}` : r.dev;
    };
    await sleeper('late', '--network', 'na');
    const lateNs = (await inspectSandbox(h(), 'late')).Netns as string;
    expect(await routeTo(lateNs, '10.62.0.2')).toBe('eth0 via 10.61.0.1');
    // The running process's own view of its /etc/hosts (the file bind-mounted when it started).
    const hostsOfLate = async () => fs.readFileSync(`/proc/${(await inspectSandbox(h(), 'late')).State.Pid}/root/etc/hosts`, 'utf8');
    const hostsBefore = await hostsOfLate();
    await ok(yard(h(), 'network', 'connect', 'nb', 'late'));
    const late = await inspectSandbox(h(), 'late');
    const lateNb = late.NetworkSettings.Networks.nb;
    // It sees its new address in /etc/hosts at once, as a container does.
    const hostsConnected = await hostsOfLate();
    expect(hostsConnected).toContain(`${lateNb.IPAddress}\t`);
    expect(hostsConnected.length).toBeGreaterThan(hostsBefore.length);
    expect(await addrsOf(h(), late.Netns, 'eth1')).toEqual([`${lateNb.IPAddress}/24`]);
    expect(await routeTo(lateNs, '10.62.0.2')).toBe('eth1');
    expect(await pings(h(), 'late', '10.62.0.2')).toBe(true);
    expect(await pings(h(), 'pb', lateNb.IPAddress)).toBe(true);

    await ok(yard(h(), 'network', 'disconnect', 'nb', 'late'));
    // And loses it again: the file is exactly what it was before the connect (no tail left over).
    expect(await hostsOfLate()).toBe(hostsBefore);
    // Its address on nb answers no more. (Whether late still reaches nb THROUGH the host
    // is the firewall's inter-network isolation, tested with the firewall.)
    expect(await pings(h(), 'pb', lateNb.IPAddress, 1)).toBe(false);
    // Positive control: pb itself still reaches a sandbox that stayed on nb.
    expect(await pings(h(), 'pb', '10.62.0.3')).toBe(true);
    expect(await routeTo(lateNs, '10.62.0.2')).toBe('eth0 via 10.61.0.1');
    expect(await linkNames(h(), late.Netns)).toEqual(['eth0', 'lo']);
    expect(await linkNames(h())).not.toContain(lateNb.HostInterface);
    expect(Object.keys((await inspectSandbox(h(), 'late')).NetworkSettings.Networks)).toEqual(['na']);
    expect(await pings(h(), 'late', '10.61.0.2')).toBe(true); // the other network is untouched
  });

  it('runs on the host network (sees lan0) and on none (only lo)', async () => {
    const hostAddr = JSON.parse(await ok(yard(h(), 'run', '--rm', '--network', 'host', '--', 'ip', '-j', '-4', 'addr', 'show', 'lan0')));
    expect(hostAddr[0].addr_info.map((a: { local: string }) => a.local)).toEqual([h().lan4]);
    const noneLinks = JSON.parse(await ok(yard(h(), 'run', '--rm', '--network', 'none', '--', 'ip', '-j', 'link', 'show')));
    expect(noneLinks.map((l: { ifname: string }) => l.ifname)).toEqual(['lo']);
  });

  it('respects a static --ip, an --ip-range (lowest address first) and never hands out an --aux-address', async () => {
    await sleeper('fixed', '--network', 'app', '--ip', '10.50.0.77');
    const fixed = await inspectSandbox(h(), 'fixed');
    expect(fixed.NetworkSettings.Networks.app.IPAMConfig.IPv4Address).toBe('10.50.0.77');
    expect(await addrsOf(h(), fixed.Netns, 'eth0')).toEqual(['10.50.0.77/24']);
    expect(await pings(h(), 'client', '10.50.0.77')).toBe(true);

    await ok(yard(h(), 'network', 'create', '--subnet', '10.51.0.0/24', '--ip-range', '10.51.0.64/28', 'rng'));
    await sleeper('r1', '--network', 'rng');
    await sleeper('r2', '--network', 'rng');
    expect([await ipOf(h(), 'r1', 'rng'), await ipOf(h(), 'r2', 'rng')]).toEqual(['10.51.0.64', '10.51.0.65']);

    // A range of four addresses with one reserved: exactly three sandboxes fit.
    await ok(yard(h(), 'network', 'create', '--subnet', '10.52.0.0/24', '--ip-range', '10.52.0.4/30', '--aux-address', 'router=10.52.0.5', 'aux'));
    const got: string[] = [];
    for (const n of ['a1', 'a2', 'a3']) {
      await sleeper(n, '--network', 'aux');
      got.push(await ipOf(h(), n, 'aux'));
    }
    expect(got).toEqual(['10.52.0.4', '10.52.0.6', '10.52.0.7']);
    expect(await pings(h(), 'a1', '10.52.0.7')).toBe(true); // the three that fit are up
    const full = await yard(h(), 'run', '-d', '--name', 'a4', '--network', 'aux', '--', 'sleep', '600');
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/^error: network aux has no free IPv4 address left in 10\.52\.0\.4\/30/);
    const taken = await yard(h(), 'run', '-d', '--name', 'a4', '--network', 'aux', '--ip', '10.52.0.5', '--', 'sleep', '600');
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/--ip 10\.52\.0\.5 is reserved as aux address router/);
    // Positive control: once an address is free again, the same run succeeds.
    await ok(yard(h(), 'rm', '-f', 'a3'));
    await sleeper('a4', '--network', 'aux');
    expect(await ipOf(h(), 'a4', 'aux')).toBe('10.52.0.7');
  });

  it('creates the bridge named by -o com.docker.network.bridge.name', async () => {
    await ok(yard(h(), 'network', 'create', '-o', 'com.docker.network.bridge.name=br-x', 'named'));
    const [br] = await ipJson(h(), ['-d', 'link', 'show', 'br-x']);
    expect(br.linkinfo.info_kind).toBe('bridge');
    expect(br.flags).toContain('UP');
    const gw = (await yardJson(h(), 'network', 'inspect', 'named'))[0].IPAM.Config[0];
    expect(await addrsOf(h(), undefined, 'br-x')).toEqual([`${gw.Gateway}/${gw.Subnet.split('/')[1]}`]);
    await ok(yard(h(), 'network', 'rm', 'named'));
    expect(await linkNames(h())).not.toContain('br-x');
  });

  it('pings over IPv6 between sandboxes of a dual-stack network', async () => {
    await ok(yard(h(), 'network', 'create', '--ipv6', '--subnet', '10.53.0.0/24', '--subnet', 'fd00:53::/64', 'v6'));
    await sleeper('s6a', '--network', 'v6');
    await sleeper('s6b', '--network', 'v6');
    const b = (await inspectSandbox(h(), 's6b')).NetworkSettings.Networks.v6;
    expect([b.IPAddress, b.GlobalIPv6Address, b.IPv6Gateway]).toEqual(['10.53.0.3', 'fd00:53::3', 'fd00:53::1']);
    expect(await addrsOf(h(), (await inspectSandbox(h(), 's6b')).Netns, 'eth0')).toEqual(['10.53.0.3/24', 'fd00:53::3/64']);
    // Duplicate address detection may hold the new address back for a moment.
    expect(await eventually(() => pings(h(), 's6a', 'fd00:53::3', 1), { timeoutMs: 6_000, intervalMs: 200, tries: 20 })).toBe(true);
    expect(await pings(h(), 's6a', '10.53.0.3')).toBe(true);
  });

  it('gives an IPv4-only endpoint no IPv6 at all and bridge ports no link-local address; a dual-stack endpoint keeps IPv6', async () => {
    // A link's IPv6 addresses (link-local included), whether IPv6 is off on it, and how it makes its link-local address.
    const v6 = async (netns: string | undefined, dev: string) => {
      const [link] = await ipJson<{ addr_info?: { family: string; local: string }[] }[]>(h(), ['addr', 'show', 'dev', dev], netns);
      const conf = `/proc/sys/net/ipv6/conf/${dev}`;
      const read = await ok(exec(h(), [...(netns ? ['ip', 'netns', 'exec', netns] : []), 'sh', '-c', `echo $(cat ${conf}/disable_ipv6) $(cat ${conf}/addr_gen_mode)`]));
      const [disabled, genMode] = read.trim().split(' ');
      return { addrs: (link?.addr_info ?? []).filter((a) => a.family === 'inet6').map((a) => a.local), disabled, genMode };
    };
    await ok(yard(h(), 'network', 'create', '--subnet', '10.57.0.0/24', 'v4only'));
    await sleeper('v4a', '--network', 'v4only');
    await sleeper('v4b', '--network', 'v4only');
    const a = await inspectSandbox(h(), 'v4a');
    // The sandbox's interface: IPv6 off (no link-local, nothing from router advertisements).
    expect(await v6(a.Netns, 'eth0')).toMatchObject({ addrs: [], disabled: '1' });
    // Its loopback keeps ::1, as on any host.
    expect((await v6(a.Netns, 'lo')).addrs).toEqual(['::1']);
    // The host end, a bridge port: no address of its own (link-local generation off).
    expect(await v6(undefined, a.NetworkSettings.Networks.v4only.HostInterface)).toEqual({ addrs: [], disabled: '0', genMode: '1' });
    // IPv4 between them still works.
    expect(await pings(h(), 'v4a', '10.57.0.3')).toBe(true);
    // Positive control: on the dual-stack network the sandbox's eth0 has IPv6, link-local included.
    const s6 = await inspectSandbox(h(), 's6a');
    const dual = await eventually(async () => {
      const r = await v6(s6.Netns, 'eth0');
      return r.addrs.some((x) => x.startsWith('fe80:')) ? r : undefined;
    }, { timeoutMs: 4_000, intervalMs: 100, tries: 40 });
    expect(dual?.disabled).toBe('0');
    expect(dual?.addrs).toContain('fd00:53::2');
    expect((await v6(undefined, s6.NetworkSettings.Networks.v6.HostInterface)).addrs).toEqual([]);
    await ok(yard(h(), 'rm', '-f', 'v4a', 'v4b'));
    await ok(yard(h(), 'network', 'rm', 'v4only'));
  });

  it('lists, inspects, removes and prunes networks with Docker\'s columns and JSON', async () => {
    const ls = (await ok(yard(h(), 'network', 'ls'))).split('\n');
    expect(ls[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    const rows = ls.slice(1).map((l) => l.split(/\s+/));
    for (const r of rows) expect(r[0]).toMatch(/^[0-9a-f]{12}$/);
    const byName = Object.fromEntries(rows.map((r) => [r[1], r]));
    expect(byName.bridge!.slice(2)).toEqual(['bridge', 'local']);
    expect(byName.host!.slice(2)).toEqual(['host', 'local']);
    expect(byName.none!.slice(2)).toEqual(['null', 'local']);
    expect(byName.app!.slice(2)).toEqual(['bridge', 'local']);
    const full = (await ok(yard(h(), 'network', 'ls', '-q', '--no-trunc'))).split('\n');
    for (const id of full) expect(id).toMatch(HEX64);
    expect(full.map((id) => id.slice(0, 12)).sort()).toEqual(rows.map((r) => r[0]).sort());

    const [app] = await yardJson(h(), 'network', 'inspect', 'app');
    // Docker's keys (Switchyard may add its own beside them).
    expect(Object.keys(app)).toEqual(
      expect.arrayContaining(['Attachable', 'ConfigFrom', 'ConfigOnly', 'Containers', 'Created', 'Driver', 'EnableIPv6', 'IPAM', 'Id', 'Ingress', 'Internal', 'Labels', 'Name', 'Options', 'Scope']),
    );
    expect(app).toMatchObject({ Name: 'app', Driver: 'bridge', Scope: 'local', EnableIPv6: false, Internal: false });
    // As Docker's inspect: the gateway of a subnet given without --gateway is left out (the bridge still has it).
    expect(app.IPAM).toEqual({ Driver: 'default', Options: {}, Config: [{ Subnet: '10.50.0.0/24' }] });
    expect(Number.isNaN(Date.parse(app.Created))).toBe(false);
    const web = await inspectSandbox(h(), 'web');
    expect(app.Containers[web.Id]).toEqual({
      Name: 'web',
      EndpointID: web.NetworkSettings.Networks.app.EndpointID,
      MacAddress: web.NetworkSettings.Networks.app.MacAddress,
      IPv4Address: '10.50.0.2/24',
      IPv6Address: '',
    });
    for (const c of Object.values(app.Containers) as { IPv4Address: string }[]) expect(c.IPv4Address).toMatch(/^10\.50\.0\.\d+\/24$/);
    expect(Object.keys(app.Containers)).toHaveLength(3); // web, client, fixed

    await ok(yard(h(), 'network', 'create', 'gone1'));
    await ok(yard(h(), 'network', 'create', 'gone2'));
    await ok(yard(h(), 'network', 'create', 'gone3'));
    expect(await ok(yard(h(), 'network', 'rm', 'gone1'))).toBe('gone1');
    const pruned = (await ok(yard(h(), 'network', 'prune', '-f'))).split('\n');
    expect(pruned[0]).toBe('Deleted Networks:');
    // Only networks without sandboxes go; predefined ones and busy ones stay.
    expect(pruned.slice(1).sort()).toEqual(['gone2', 'gone3']);
    const left = (await ok(yard(h(), 'network', 'ls'))).split('\n').slice(1).map((l) => l.split(/\s+/)[1]);
    expect(left.sort()).toEqual(['app', 'aux', 'bridge', 'host', 'na', 'nb', 'none', 'rng', 'v6'].sort());
    expect(await ok(yard(h(), 'network', 'prune', '-f'))).toBe('');
  });

  it('shows sandboxes in ps and inspect; rm -f stops the process, deletes the namespace and frees the address', async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '10.54.0.0/24', 'reuse'));
    await sleeper('victim', '--network', 'reuse');
    await sleeper('bystander', '--network', 'reuse');
    const [v] = await yardJson(h(), 'inspect', 'victim');
    expect(v.Id).toMatch(HEX64);
    expect(v.Name).toBe('/victim');
    expect(v.State).toMatchObject({ Status: 'running', Running: true });
    expect(v.Config.Cmd).toEqual(['sleep', '600']);
    expect(v.NetworkSettings.Networks.reuse.IPAddress).toBe('10.54.0.2');
    const pid = v.State.Pid as number;
    expect(pidAlive(pid)).toBe(true);
    expect(netnsList()).toContain(v.Netns);
    expect(v.NetworkSettings.SandboxKey).toBe(`/run/netns/${v.Netns}`);

    const ps = (await ok(yard(h(), 'ps'))).split('\n');
    expect(ps[0]).toMatch(/^SANDBOX ID\s+COMMAND\s+CREATED\s+STATUS\s+NETWORKS\s+ADDRESSES\s+NAMES$/);
    const row = ps.find((l) => l.endsWith(' victim'));
    expect(row).toMatch(new RegExp(`^${v.Id.slice(0, 12)}\\s+sleep 600\\s+.*\\s+Up .*\\s+reuse\\s+10\\.54\\.0\\.2\\s+victim$`));
    expect((await ok(yard(h(), 'ps', '-q'))).split('\n')).toContain(v.Id.slice(0, 12));

    expect(await ok(yard(h(), 'rm', '-f', 'victim'))).toBe('victim');
    expect(await eventually(async () => !pidAlive(pid), { timeoutMs: 5_000 })).toBe(true);
    expect(netnsList()).not.toContain(v.Netns);
    const hostIf = v.NetworkSettings.Networks.reuse.HostInterface;
    expect(await eventually(async () => !(await linkNames(h())).includes(hostIf))).toBe(true);
    expect((await ok(yard(h(), 'ps', '-aq', '--no-trunc'))).split('\n')).not.toContain(v.Id);
    const gone = await yard(h(), 'inspect', 'victim');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: sandbox victim not found/);
    // Positive control: its neighbour is still there, and still reachable.
    expect((await yardJson(h(), 'inspect', 'bystander'))[0].State.Running).toBe(true);
    expect(await pings(h(), 'bystander', '10.54.0.1')).toBe(true);
    await sleeper('heir', '--network', 'reuse');
    expect(await ipOf(h(), 'heir', 'reuse')).toBe('10.54.0.2');
  });

  it('returns a foreground command\'s exit code and --rm leaves nothing behind', async () => {
    const before = { ns: netnsList(h()).sort(), links: await linkNames(h()), ps: await ok(yard(h(), 'ps', '-aq', '--no-trunc')) };
    const r = await yard(h(), 'run', '--rm', '--network', 'app', '--', 'sh', '-c', 'ip -4 -o addr show eth0; exit 3');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/inet 10\.50\.0\.\d+\/24/); // it really ran in a sandbox on app
    expect(netnsList(h()).sort()).toEqual(before.ns);
    expect(await eventually(async () => JSON.stringify(await linkNames(h())) === JSON.stringify(before.links))).toBe(true);
    expect(await ok(yard(h(), 'ps', '-aq', '--no-trunc'))).toBe(before.ps);
  });

  it('finds sandboxes and networks by name, full ID and unique ID prefix', async () => {
    const id = await run('--name', 'lookup', '--network', 'app', '--', 'sleep', '600');
    expect(id).toMatch(HEX64);
    for (const ref of ['lookup', id, id.slice(0, 12), id.slice(0, 6)]) {
      expect((await yardJson(h(), 'inspect', ref))[0].Id).toBe(id);
    }
    const netId = (await yardJson(h(), 'network', 'inspect', 'app'))[0].Id as string;
    expect(netId).toMatch(HEX64);
    for (const ref of [netId, netId.slice(0, 12), netId.slice(0, 6)]) {
      expect((await yardJson(h(), 'network', 'inspect', ref))[0].Name).toBe('app');
    }
    const missing = await yard(h(), 'inspect', 'nosuchsandbox');
    expect([missing.code, missing.stderr.split('\n').length]).toEqual([1, 2]); // one line + final newline
    expect(missing.stderr).toMatch(/^error: sandbox nosuchsandbox not found/);
  });
});
