/**
 * The real docker CLI (28.x) against a lab host's daemon, for the network flags beyond the
 * basics: --scope, --config-only / --config-from (a macvlan network's per-host config),
 * connect --link (answered by the embedded DNS to the linking sandbox only) and
 * connect --driver-opt. The refusals and their words are Docker 20.10's, checked against a
 * real dockerd in a lab. Needs root and `npm run build`.
 */
import { describe, expect, it } from 'vitest';
import { docker, exec, inspectSandbox, ipOf, linkNames, ok, settledLinkNames, parseJson, pings, withLab, yard } from './helpers.js';
import { restartDaemon } from '../../src/lab/lab.js';

// One host with the cluster store: overlay networks (global scope) can be created.
const lab = withLab('nf', 1, { cluster: true });
const h = () => lab.host(1);
const sleeper = (name: string, ...args: string[]) => ok(yard(h(), 'run', '-d', '--name', name, ...args, '--', 'sleep', '600'), `yard run ${name}`);
/** A refused docker command: exit 1 and Docker's "Error response from daemon: ..." line. */
async function refused(args: string[], message: RegExp): Promise<void> {
  const r = await docker(h(), ...args);
  expect([r.code, r.stderr.trim()]).toEqual([1, expect.stringMatching(message)]);
}
/** The IPv4 addresses nslookup (from the host's bind9 tools) prints for a name asked from a sandbox; [] when not found. */
async function nslookup(sb: string, name: string): Promise<string[]> {
  const r = await yard(h(), 'exec', sb, '--', 'nslookup', '-timeout=3', '-retry=1', name);
  const answer = r.stdout.split(/Non-authoritative answer:|Name:\s/).slice(1).join('\n');
  return [...answer.matchAll(/Address:\s*([0-9.]+)\s*$/gm)].map((m) => m[1]!);
}

describe('docker network create --scope', () => {
  it('local is kept for bridge; swarm and global-for-bridge are refused naming --scope; overlay is global and cannot be downgraded', async () => {
    await ok(docker(h(), 'network', 'create', '--scope', 'local', 'sl'));
    expect(await ok(docker(h(), 'network', 'inspect', '-f', '{{.Scope}}', 'sl'))).toBe('local');
    await refused(['network', 'create', '--scope', 'swarm', 'ss'], /^Error response from daemon: --scope swarm: cannot create a swarm scoped network when swarm is not active/);
    await refused(['network', 'create', '--scope', 'global', 'sg'], /^Error response from daemon: --scope global: bridge networks exist on one host only/);
    await refused(['network', 'create', '-d', 'overlay', '--scope', 'local', 'ol'], /^Error response from daemon: --scope local: cannot downgrade network scope for overlay networks/);
    await ok(docker(h(), 'network', 'create', '-d', 'overlay', '--scope', 'global', '--subnet', '10.249.0.0/24', 'og'));
    expect(await ok(docker(h(), 'network', 'inspect', '-f', '{{.Scope}} {{.Driver}}', 'og'))).toBe('global overlay');
    const names = (await ok(docker(h(), 'network', 'ls', '--format', '{{.Name}}'))).split('\n');
    expect(names).toEqual(expect.arrayContaining(['sl', 'og']));
    for (const n of ['ss', 'sg', 'ol']) expect(names).not.toContain(n);
    await ok(docker(h(), 'network', 'rm', 'sl', 'og'));
  });
});

describe('docker network create --config-only / --config-from', () => {
  it('a macvlan network takes its per-host config from a config-only network; the config network has no kernel objects, takes no endpoints, survives a restart and cannot be removed while used', async () => {
    const linksBefore = (await settledLinkNames(h())).sort();
    await ok(docker(h(), 'network', 'create', '--config-only', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', '-o', 'parent=lan0', 'lancfg'));
    const [cfg] = parseJson(await docker(h(), 'network', 'inspect', 'lancfg'));
    expect(cfg).toMatchObject({ Driver: 'null', Scope: 'local', ConfigOnly: true, ConfigFrom: { Network: '' }, Options: { parent: 'lan0' } });
    expect(cfg.IPAM.Config).toEqual([{ Subnet: '10.231.0.0/24', IPRange: '10.231.0.192/27', Gateway: '10.231.0.1' }]);
    expect((await linkNames(h())).sort()).toEqual(linksBefore);

    await refused(['network', 'create', '--config-only', '--internal', '--subnet', '10.231.1.0/24', 'cfg2'], /^Error response from daemon: configuration network can only contain network specific fields/);
    await refused(['network', 'create', '-d', 'macvlan', '--config-from', 'lancfg', '--subnet', '10.231.2.0/24', 'lanx'], /^Error response from daemon: user specified configurations are not supported if the network depends on a configuration network/);
    await refused(['network', 'create', '-d', 'macvlan', '--config-from', 'lancfg', '-o', 'parent=lan0', 'lanx'], /^Error response from daemon: network driver options are not supported if the network depends on a configuration network/);
    await refused(['network', 'create', '-d', 'macvlan', '--config-from', 'nosuch', 'lanx'], /^Error response from daemon: configuration network "nosuch" does not exist/);

    const id = await ok(docker(h(), 'network', 'create', '-d', 'macvlan', '--config-from', 'lancfg', 'lan'));
    const [lan] = parseJson(await docker(h(), 'network', 'inspect', 'lan'));
    expect(lan).toMatchObject({ Id: id, Driver: 'macvlan', ConfigOnly: false, ConfigFrom: { Network: 'lancfg' }, Options: { parent: 'lan0' } });
    expect(lan.IPAM.Config).toEqual([{ Subnet: '10.231.0.0/24', IPRange: '10.231.0.192/27', Gateway: '10.231.0.1' }]);

    // The network works as a macvlan network on lan0: a sandbox gets an address of the range and reaches the LAN.
    await sleeper('m1', '--network', 'lan');
    const m1 = await inspectSandbox(h(), 'm1');
    expect(m1.NetworkSettings.Networks.lan.IPAddress).toBe('10.231.0.192');
    const link = JSON.parse((await ok(exec(h(), ['ip', '-j', '-d', '-n', m1.Netns, 'link', 'show', m1.NetworkSettings.Networks.lan.Interface]))))[0];
    expect(link.linkinfo.info_kind).toBe('macvlan');
    expect(await pings(h(), 'm1', '10.231.0.1')).toBe(true);

    // The config network takes no endpoint (positive control: m1 is on lan).
    await sleeper('m2', '--network', 'none');
    await refused(['network', 'connect', 'lancfg', 'm1'], /^Error response from daemon: cannot create endpoint on configuration-only network/);
    expect(Object.keys((await inspectSandbox(h(), 'm1')).NetworkSettings.Networks)).toEqual(['lan']);
    await refused(['network', 'rm', 'lancfg'], /^Error response from daemon: error while removing network: configuration network "lancfg" is in use/);

    // The store keeps both records; reconcile makes nothing for the config network.
    const linksWithLan = (await linkNames(h())).sort();
    await restartDaemon(lab.info, h());
    const [cfgAfter] = parseJson(await docker(h(), 'network', 'inspect', 'lancfg'));
    const [lanAfter] = parseJson(await docker(h(), 'network', 'inspect', 'lan'));
    expect([cfgAfter.ConfigOnly, lanAfter.ConfigFrom]).toEqual([true, { Network: 'lancfg' }]);
    expect((await linkNames(h())).sort()).toEqual(linksWithLan);
    expect(await pings(h(), 'm1', '10.231.0.1')).toBe(true);

    await ok(yard(h(), 'rm', '-f', 'm1', 'm2'));
    await ok(docker(h(), 'network', 'rm', 'lan'));
    const rm = await docker(h(), 'network', 'rm', 'lancfg');
    expect([rm.code, rm.stdout.trim()]).toEqual([0, 'lancfg']);
    expect((await linkNames(h())).sort()).toEqual(linksBefore);
  });
});

describe('docker network connect --link and --driver-opt', () => {
  it('--link db:dbalias: the linking sandbox resolves dbalias to db; another sandbox on the network does not; Links shows it', async () => {
    await ok(docker(h(), 'network', 'create', '--subnet', '10.81.0.0/24', 'lk'));
    await ok(docker(h(), 'network', 'create', '--subnet', '10.82.0.0/24', 'lkside'));
    await sleeper('db', '--network', 'lk');
    await sleeper('other', '--network', 'lk');
    await sleeper('web', '--network', 'lkside');
    const dbIp = await ipOf(h(), 'db', 'lk');

    const c = await docker(h(), 'network', 'connect', '--link', 'db:dbalias', 'lk', 'web');
    expect([c.code, c.stderr]).toEqual([0, '']);
    const ep = (await inspectSandbox(h(), 'web')).NetworkSettings.Networks.lk;
    expect(ep.Links).toEqual(['db:dbalias']);
    const tmpl = await ok(docker(h(), 'network', 'inspect', '-f', '{{len .Containers}}', 'lk'));
    expect(tmpl).toBe('3');

    // Positive and negative pair: the alias answers db's address to web only.
    expect(await nslookup('web', 'dbalias')).toEqual([dbIp]);
    expect(await nslookup('other', 'dbalias')).toEqual([]);
    expect(await nslookup('other', 'db')).toEqual([dbIp]);

    // The default bridge has no embedded DNS: a link there is refused, naming the flag.
    await sleeper('lone', '--network', 'lkside');
    await refused(['network', 'connect', '--link', 'db:x', 'bridge', 'lone'], /^Error response from daemon: --link on network bridge: links are answered by the embedded DNS of user-defined networks/);
    expect(Object.keys((await inspectSandbox(h(), 'lone')).NetworkSettings.Networks)).toEqual(['lkside']);
  });

  it('--driver-opt is kept and shown as DriverOpts; com.docker.network.endpoint.ifname names the interface in the sandbox', async () => {
    await ok(docker(h(), 'network', 'create', '--subnet', '10.83.0.0/24', 'dop'));
    await sleeper('d1', '--network', 'lkside');
    await sleeper('d2', '--network', 'lkside');
    await ok(docker(h(), 'network', 'connect', '--driver-opt', 'com.docker.network.endpoint.ifname=dop0', '--driver-opt', 'foo=bar', 'dop', 'd1'));
    await ok(docker(h(), 'network', 'connect', 'dop', 'd2'));
    const d1 = await inspectSandbox(h(), 'd1');
    const d2 = await inspectSandbox(h(), 'd2');
    expect(d1.NetworkSettings.Networks.dop).toMatchObject({ Interface: 'dop0', DriverOpts: { 'com.docker.network.endpoint.ifname': 'dop0', foo: 'bar' } });
    expect(d2.NetworkSettings.Networks.dop).toMatchObject({ Interface: 'eth1' });
    expect(d2.NetworkSettings.Networks.dop.DriverOpts ?? {}).toEqual({});
    expect(await linkNames(h(), d1.Netns)).toContain('dop0');
    expect(await linkNames(h(), d2.Netns)).not.toContain('dop0');
    expect(await pings(h(), 'd2', d1.NetworkSettings.Networks.dop.IPAddress)).toBe(true);
    const bad = await docker(h(), 'network', 'connect', '--driver-opt', 'com.docker.network.endpoint.ifname=much-too-long-name', 'dop', 'web');
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/much-too-long-name is 18 characters long; the kernel allows 15/)]);
    expect(Object.keys((await inspectSandbox(h(), 'web')).NetworkSettings.Networks).sort()).toEqual(['lk', 'lkside']);
  });
});
