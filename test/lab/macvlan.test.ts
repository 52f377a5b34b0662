/**
 * macvlan as a user sees it on this kernel: sandboxes directly on the lab LAN (another
 * host reaches them at their own address and MAC), every mode, the host-access gotcha
 * and its shim, several networks on one parent, IPv6, --internal, and bad input refused
 * with nothing changed. Driven through `yard` inside lab host 1; host 2 plays "another
 * machine on the LAN". (Reachability between sandboxes, connect/disconnect, removal and
 * restart reconcile are the conformance suite's: conformance-macvlan.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/kernel/exec.js';
import { processGone, restartDaemon } from '../../src/lab/lab.js';
import { api, exec, inspectSandbox, ipJson, linkNames, ok, pings, sleep, withLab, yard, yardJson } from './helpers.js';

const lab = withLab('mvl', 2);
const h1 = () => lab.host(1);
const h2 = () => lab.host(2);
const LAN = ['--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27'];
const create = (...args: string[]) => yard(h1(), 'network', 'create', '-d', 'macvlan', ...args);
const sleeper = (name: string, net: string, ...args: string[]) =>
  ok(yard(h1(), 'run', '-d', '--name', name, '--network', net, ...args, '--', 'sleep', '600'), `yard run ${name}`);
const hostPings = async (host: ReturnType<typeof h1>, ip: string) =>
  (await exec(host, ['ping', ...(ip.includes(':') ? ['-6'] : []), '-c1', '-W2', ip])).code === 0;

/** Remove every sandbox and network a test made, so each test starts from a clean host 1. */
afterEach(async () => {
  const sbs = (await yard(h1(), 'ps', '-a', '-q')).stdout.split('\n').filter(Boolean);
  for (const s of sbs) await yard(h1(), 'rm', '-f', s);
  const nets = await yardJson<{ Name: string; Driver: string }[]>(h1(), 'network', 'ls', '--json');
  for (const n of nets.filter((n) => n.Driver === 'macvlan' || n.Driver === 'ipvlan')) await yard(h1(), 'network', 'rm', n.Name);
});

describe('macvlan on the LAN', () => {
  it('another LAN host reaches the sandbox at its own address and MAC; the sandbox reaches the gateway and that host', async () => {
    await ok(create(...LAN, '-o', 'parent=lan0', 'pub_net'));
    await ok(yard(h1(), 'run', '-d', '--name', 'db', '--network', 'pub_net', '--ip', '10.231.0.200', '--', 'busybox', 'httpd', '-f', '-p', '80'));
    const db = await inspectSandbox(h1(), 'db');
    const mac = db.NetworkSettings.Networks.pub_net.MacAddress as string;
    const [eth] = await ipJson(h1(), ['link', 'show', db.NetworkSettings.Networks.pub_net.Interface], db.Netns);
    expect(eth.address).toBe(mac);
    const [lan0] = await ipJson(h1(), ['link', 'show', 'lan0']);
    expect(mac).not.toBe(lan0.address);

    expect(await hostPings(h2(), '10.231.0.200')).toBe(true);
    const neigh = await ipJson<{ dst: string; lladdr?: string }[]>(h2(), ['neigh', 'show', '10.231.0.200']);
    expect(neigh.map((n) => n.lladdr)).toEqual([mac]);
    // TCP from the other host too (httpd answers 404 for /, which still proves the connection).
    const http = await exec(h2(), ['sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | busybox nc -w 3 10.231.0.200 80']);
    expect(http.stdout).toMatch(/^HTTP\/1\.[01] /);

    expect(await pings(h1(), 'db', '10.231.0.1')).toBe(true);
    expect(await pings(h1(), 'db', h2().lan4)).toBe(true);
  });

  it('modes: bridge lets sandboxes talk, private and vepa do not (the lab switch has no hairpin), all reach the LAN', async () => {
    const expected = { bridge: true, private: false, vepa: false };
    for (const [mode, talk] of Object.entries(expected)) {
      await ok(create(...LAN, '-o', 'parent=lan0', '-o', `macvlan_mode=${mode}`, `m_${mode}`));
      await sleeper(`${mode}1`, `m_${mode}`, '--ip', '10.231.0.210');
      await sleeper(`${mode}2`, `m_${mode}`, '--ip', '10.231.0.211');
      const [link] = await ipJson(h1(), ['-d', 'link', 'show', 'eth0'], (await inspectSandbox(h1(), `${mode}1`)).Netns);
      expect(link.linkinfo.info_data.mode).toBe(mode);
      // Both are up on the LAN: the gateway and the other host answer them.
      expect(await pings(h1(), `${mode}1`, '10.231.0.1'), `${mode}: gateway`).toBe(true);
      expect(await hostPings(h2(), '10.231.0.211'), `${mode}: host2 -> sandbox`).toBe(true);
      expect(await pings(h1(), `${mode}1`, '10.231.0.211'), `${mode}: sandbox -> sandbox`).toBe(talk);
      await ok(yard(h1(), 'rm', '-f', `${mode}1`, `${mode}2`));
      await ok(yard(h1(), 'network', 'rm', `m_${mode}`));
    }
  });

  it('passthru: one sandbox takes a dedicated parent, a second is refused', async () => {
    // A second uplink without addresses, from the LAN switch to host 1, and a second subnet
    // on the switch for it: the host routes 10.231.0.0/24 via lan0 already, and Switchyard
    // refuses a network whose subnet overlaps a host route on another device.
    const lanNs = lab.info.lanNs;
    const up = await run('ip', ['-n', lanNs, 'link', 'add', 'ptl', 'type', 'veth', 'peer', 'name', 'uplink2', 'netns', h1().name]);
    expect(up.code, up.stderr).toBe(0);
    try {
      expect((await run('ip', ['-n', lanNs, 'link', 'set', 'ptl', 'master', 'br0', 'up'])).code).toBe(0);
      expect((await run('ip', ['-n', lanNs, 'addr', 'add', '10.233.0.1/24', 'dev', 'br0'])).code).toBe(0);
      expect((await run('ip', ['-n', h1().name, 'link', 'set', 'uplink2', 'up'])).code).toBe(0);
      await ok(create('--subnet', '10.233.0.0/24', '--gateway', '10.233.0.1', '-o', 'parent=uplink2', '-o', 'macvlan_mode=passthru', 'pt'));
      await sleeper('pt1', 'pt', '--ip', '10.233.0.20');
      const [link] = await ipJson(h1(), ['-d', 'link', 'show', 'eth0'], (await inspectSandbox(h1(), 'pt1')).Netns);
      expect(link.linkinfo.info_data.mode).toBe('passthru');
      expect(await pings(h1(), 'pt1', '10.233.0.1')).toBe(true);
      const second = await yard(h1(), 'run', '-d', '--name', 'pt2', '--network', 'pt', '--', 'sleep', '600');
      expect(second.code).not.toBe(0);
      expect(second.stderr).toMatch(/passthru.*already has its one sandbox/);
      expect((await yardJson<{ Name: string }[]>(h1(), 'ps', '-a', '--json')).map((s) => s.Name)).not.toContain('/pt2');
    } finally {
      await yard(h1(), 'rm', '-f', 'pt1');
      await yard(h1(), 'network', 'rm', 'pt');
      await run('ip', ['-n', h1().name, 'link', 'del', 'uplink2']);
      await run('ip', ['-n', lanNs, 'addr', 'del', '10.233.0.1/24', 'dev', 'br0']);
    }
  });

  it('host access: without the option the host cannot reach its sandbox and is told so; the shim fixes it, survives a restart and leaves with the network', async () => {
    const plain = await create(...LAN, '-o', 'parent=lan0', 'noshim');
    expect(plain.code).toBe(0);
    const warning = plain.stderr.trim().split('\n');
    expect(warning).toHaveLength(1);
    expect(warning[0]).toMatch(/^warning: this host cannot reach sandboxes on noshim .*-o host_access=true/);
    await sleeper('n1', 'noshim', '--ip', '10.231.0.230');
    expect(await hostPings(h2(), '10.231.0.230')).toBe(true); // it is up...
    expect(await hostPings(h1(), '10.231.0.230')).toBe(false); // ...but not for its own host
    await ok(yard(h1(), 'rm', '-f', 'n1'));
    await ok(yard(h1(), 'network', 'rm', 'noshim'));

    const linksBefore = await linkNames(h1());
    const shimmed = await create(...LAN, '-o', 'parent=lan0', '-o', 'host_access=true', 'withshim');
    expect(shimmed.code).toBe(0);
    expect(shimmed.stderr).not.toMatch(/warning/);
    await sleeper('s1', 'withshim', '--ip', '10.231.0.231'); // outside --ip-range: a host route of its own
    await sleeper('s2', 'withshim'); // inside --ip-range: covered by the range route
    const [net] = await yardJson<any[]>(h1(), 'network', 'inspect', 'withshim');
    const shimAddress = net.Switchyard.Driver.shimAddress as string;
    expect(shimAddress).toMatch(/^10\.231\.0\.\d+$/);
    const shim = (await ipJson<any[]>(h1(), ['-d', 'addr', 'show'])).find((l) => l.addr_info?.some((a: any) => a.local === shimAddress));
    expect(shim?.linkinfo?.info_kind).toBe('macvlan');
    expect(shim?.linkinfo?.info_data?.mode).toBe('bridge');
    const s2ip = (await inspectSandbox(h1(), 's2')).NetworkSettings.Networks.withshim.IPAddress as string;
    expect(await hostPings(h1(), '10.231.0.231')).toBe(true);
    expect(await hostPings(h1(), s2ip)).toBe(true);

    // Reconcile: the daemon dies, the shim is deleted by hand, a new daemon puts it back.
    const pid = h1().daemonPid!;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && !processGone(pid); i++) await sleep(50);
    expect((await exec(h1(), ['ip', 'link', 'del', shim.ifname])).code).toBe(0);
    expect(await hostPings(h1(), '10.231.0.231')).toBe(false);
    await restartDaemon(lab.info, h1());
    expect(await linkNames(h1())).toContain(shim.ifname);
    expect(await hostPings(h1(), '10.231.0.231')).toBe(true);
    expect(await hostPings(h1(), s2ip)).toBe(true);
    // And a plain restart keeps it.
    await restartDaemon(lab.info, h1());
    expect(await hostPings(h1(), '10.231.0.231')).toBe(true);

    await ok(yard(h1(), 'rm', '-f', 's1', 's2'));
    await ok(yard(h1(), 'network', 'rm', 'withshim'));
    expect(await linkNames(h1())).toEqual(linksBefore);
    const routes = await ipJson<{ dev?: string }[]>(h1(), ['-4', 'route', 'show']);
    expect(routes.filter((r) => r.dev === shim.ifname)).toEqual([]);
  });

  it('carries several macvlan networks with different subnets on one parent', async () => {
    await ok(create(...LAN, '-o', 'parent=lan0', 'lan_a'));
    await ok(create('--subnet', '10.232.0.0/24', '--gateway', '10.232.0.1', '-o', 'parent=lan0', 'lan_b'));
    await sleeper('a1', 'lan_a', '--ip', '10.231.0.240');
    await sleeper('a2', 'lan_a', '--ip', '10.231.0.241');
    await sleeper('b1', 'lan_b', '--ip', '10.232.0.10');
    await sleeper('b2', 'lan_b', '--ip', '10.232.0.11');
    expect(await pings(h1(), 'a1', '10.231.0.241')).toBe(true);
    expect(await pings(h1(), 'b1', '10.232.0.11')).toBe(true);
    expect(await hostPings(h2(), '10.231.0.240')).toBe(true);
    const parents = await Promise.all(['a1', 'b1'].map(async (s) => {
      const sb = await inspectSandbox(h1(), s);
      const [l] = await ipJson(h1(), ['-d', 'link', 'show', 'eth0'], sb.Netns);
      return l.linkinfo.info_kind;
    }));
    expect(parents).toEqual(['macvlan', 'macvlan']);
  });

  it('IPv6 on macvlan: another LAN host reaches the sandbox over IPv6', async () => {
    await ok(create('--ipv6', ...LAN, '--subnet', 'fd00:231::/64', '--gateway', 'fd00:231::1', '--ip-range', 'fd00:231::c000/116', '-o', 'parent=lan0', 'v6net'));
    await sleeper('v6', 'v6net');
    const ep = (await inspectSandbox(h1(), 'v6')).NetworkSettings.Networks.v6net;
    expect(ep.GlobalIPv6Address).toMatch(/^fd00:231::c/);
    // DAD and neighbour discovery take a moment on a fresh interface.
    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) reached = await hostPings(h2(), ep.GlobalIPv6Address);
    expect(reached).toBe(true);
    expect(await pings(h1(), 'v6', 'fd00:231::1')).toBe(true);
  });

  it('--internal: sandboxes reach each other and nothing of the LAN', async () => {
    await ok(create('--internal', '--subnet', '10.63.0.0/24', 'isolated'));
    await sleeper('i1', 'isolated');
    await sleeper('i2', 'isolated');
    const ip2 = (await inspectSandbox(h1(), 'i2')).NetworkSettings.Networks.isolated.IPAddress as string;
    expect(await pings(h1(), 'i1', ip2)).toBe(true);
    expect(await pings(h1(), 'i1', '10.231.0.1')).toBe(false);
    expect(await pings(h1(), 'i1', h2().lan4)).toBe(false);
    // Positive control: both targets are up and answer from the host.
    expect(await hostPings(h1(), '10.231.0.1')).toBe(true);
    expect(await hostPings(h1(), h2().lan4)).toBe(true);
    const [net] = await yardJson<any[]>(h1(), 'network', 'inspect', 'isolated');
    const [parent] = await ipJson(h1(), ['-d', 'link', 'show', net.Switchyard.Driver.parent]);
    expect(parent.linkinfo.info_kind).toBe('bridge');
    expect(parent.master).toBeUndefined(); // not attached to any uplink
  });
});

describe('macvlan bad input: a clear error and nothing changed', () => {
  const snapshot = async () => ({
    links: JSON.stringify(await ipJson(h1(), ['-d', 'link', 'show']), (k, v) => (k.endsWith('_timer') ? undefined : v)),
    networks: (await yardJson<{ Name: string }[]>(h1(), 'network', 'ls', '--json')).map((n) => n.Name).sort(),
    sandboxes: (await yard(h1(), 'ps', '-a', '-q')).stdout,
  });
  const refused = async (args: string[], message: RegExp) => {
    const r = await yard(h1(), ...args);
    expect(r.code, `yard ${args.join(' ')}`).toBe(1);
    expect(r.stderr.trim()).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  };

  it('refuses bad parents, modes, kernels without ipvlan or 802.1q', async () => {
    const before = await snapshot();
    await refused(['network', 'create', '-d', 'macvlan', ...LAN, 'x'], /^error: -d macvlan needs a parent interface.*interfaces here: .*lan0/);
    await refused(['network', 'create', '-d', 'macvlan', ...LAN, '-o', 'parent=nosuch0', 'x'], /^error: parent interface nosuch0 does not exist on this host.*lan0/);
    await refused(['network', 'create', '-d', 'macvlan', ...LAN, '-o', 'parent=lan0', '-o', 'macvlan_mode=passthru', 'x'], /^error: parent lan0 carries this host's addresses \(10\.231\.0\.2\/24.*passthru/);
    await refused(['network', 'create', '-d', 'macvlan', ...LAN, '-o', 'parent=lan0', '-o', 'macvlan_mode=hairpin', 'x'], /^error: macvlan_mode hairpin is not a macvlan mode.*bridge, private, vepa, passthru/);
    await refused(['network', 'create', '-d', 'ipvlan', ...LAN, '-o', 'parent=lan0', 'x'], /^error: this kernel has no ipvlan support.*-d macvlan/);
    const viaApi = await api(h1(), 'POST', '/networks/create', { Name: 'x', Driver: 'ipvlan', Options: { parent: 'lan0' } });
    expect(viaApi.status).toBe(400);
    expect(viaApi.body.code).toBe('DRIVER_UNSUPPORTED');
    await refused(['network', 'create', '-d', 'macvlan', ...LAN, '-o', 'parent=lan0.100', 'x'], /^error: this kernel has no 802\.1q VLAN support.*lan0\.100/);
    expect(await snapshot()).toEqual(before);
    // Positive control: the same network with a good parent and mode is created.
    await ok(create(...LAN, '-o', 'parent=lan0', '-o', 'macvlan_mode=bridge', 'x'));
  });

  it('refuses an overlapping subnet on the same parent and --ip outside the subnet', async () => {
    await ok(create(...LAN, '-o', 'parent=lan0', 'first'));
    const before = await snapshot();
    await refused(['network', 'create', '-d', 'macvlan', '--subnet', '10.231.0.128/25', '-o', 'parent=lan0', 'second'], /10\.231\.0\.(0\/24|128\/25)/);
    await refused(['run', '-d', '--name', 'far', '--network', 'first', '--ip', '10.99.0.5', '--', 'sleep', '60'], /10\.99\.0\.5/);
    expect(await snapshot()).toEqual(before);
    // Positive controls: a subnet that does not overlap, and an --ip inside the subnet.
    await ok(create('--subnet', '10.232.0.0/24', '-o', 'parent=lan0', 'second'));
    await sleeper('near', 'first', '--ip', '10.231.0.205');
    expect(await pings(h1(), 'near', '10.231.0.1')).toBe(true);
  });
});
