/**
 * Start-up reconcile on the real kernel: the state is the truth and the kernel is made to
 * match it after a `kill -9` in the middle of a burst of operations, after links were
 * deleted by hand, and with leftovers the state does not know. The daemon is restarted
 * exactly as the lab starts it (restartDaemon).
 */
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { restartDaemon, type LabHost } from '../../src/lab/lab.js';
import { sandboxNetnsPrefix } from '../../src/paths.js';
import {
  addrsOf,
  api,
  eventually,
  exec,
  inspectSandbox,
  ipJson,
  linkNames,
  netnsList,
  ok,
  pidAlive,
  pings,
  sh,
  sleep,
  withLab,
  yard,
  yardJson,
} from './helpers.js';
import { findLeaks } from './leaks.js';

const lab = withLab('rec');
const h = () => lab.host(1);

interface Sandbox {
  Id: string;
  Name: string;
  State: { Running: boolean; Pid: number };
  Netns: string | null;
  NetworkSettings: { Networks: Record<string, { IPAddress: string; IPPrefixLen: number; Interface: string; HostInterface: string; NetworkID: string }> };
}

const sandboxes = () => yardJson<Sandbox[]>(h(), 'ps', '-a', '--json');

async function daemonPid(host: LabHost): Promise<number> {
  const r = await api(host, 'GET', '/yard/v1/info');
  expect(r.status).toBe(200);
  return r.body.pid as number;
}

async function killDaemon(host: LabHost): Promise<void> {
  const pid = await daemonPid(host);
  expect(pid).toBe(host.daemonPid); // nsenter execs the daemon: the lab's PID is the daemon's
  process.kill(pid, 'SIGKILL');
  expect(await eventually(async () => !pidAlive(pid), { timeoutMs: 3_000, intervalMs: 20 })).toBe(true);
}

/** The kernel agrees with the state, and nothing of Switchyard's exists that the state does not know. */
async function expectKernelMatchesState(host: LabHost): Promise<Sandbox[]> {
  const sbs = await sandboxes();
  const nets = await yardJson<{ Id: string; Name: string; Driver: string; Options: Record<string, string> }[]>(host, 'network', 'ls', '--json');
  const hostLinks = await ipJson<{ ifname: string; master?: string; ifalias?: string; linkinfo?: { info_kind?: string } }[]>(host, ['-d', 'link', 'show']);
  const bridgeOf = new Map(
    nets.filter((n) => n.Driver === 'bridge').map((n) => [n.Id, n.Options['com.docker.network.bridge.name'] ?? (n.Name === 'bridge' ? 'yard0' : `br-${n.Id.slice(0, 12)}`)]),
  );

  const seenAddrs = new Map<string, string>();
  const knownVeths = new Set<string>();
  for (const sb of sbs) {
    expect(sb.Netns, sb.Name).toBeTruthy();
    expect(netnsList(), `namespace of ${sb.Name}`).toContain(sb.Netns);
    for (const [net, ep] of Object.entries(sb.NetworkSettings.Networks)) {
      expect(await addrsOf(host, sb.Netns!, ep.Interface), `${sb.Name} on ${net}`).toEqual([`${ep.IPAddress}/${ep.IPPrefixLen}`]);
      const veth = hostLinks.find((l) => l.ifname === ep.HostInterface);
      expect(veth?.master, `${sb.Name}'s veth ${ep.HostInterface} on ${net}`).toBe(bridgeOf.get(ep.NetworkID));
      knownVeths.add(ep.HostInterface);
      const key = `${net} ${ep.IPAddress}`;
      expect(seenAddrs.get(key), `${ep.IPAddress} on ${net} held twice`).toBeUndefined();
      seenAddrs.set(key, sb.Name);
    }
  }
  const prefix = sandboxNetnsPrefix(host.name);
  const knownNs = new Set(sbs.map((s) => s.Netns));
  expect(netnsList().filter((ns) => ns.startsWith(prefix) && !knownNs.has(ns)), 'namespaces the state does not know').toEqual([]);
  expect(hostLinks.filter((l) => /^yv/.test(l.ifname) && !knownVeths.has(l.ifname)).map((l) => l.ifname), 'veths without an endpoint').toEqual([]);
  const bridges = new Set(bridgeOf.values());
  expect(
    hostLinks.filter((l) => l.linkinfo?.info_kind === 'bridge' && (/^br-/.test(l.ifname) || l.ifalias?.startsWith(`switchyard:${host.name}:`)) && !bridges.has(l.ifname)).map((l) => l.ifname),
    'bridges without a network',
  ).toEqual([]);
  for (const br of bridges) expect(hostLinks.some((l) => l.ifname === br), `bridge ${br}`).toBe(true);
  return sbs;
}

describe('reconcile', () => {
  it('recovers from kill -9 in the middle of a burst: kernel matches state, running sandboxes keep their PIDs', async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '10.70.0.0/24', 'burst'));
    await ok(yard(h(), 'run', '-d', '--name', 'early1', '--network', 'burst', '--', 'sleep', '600'));
    await ok(yard(h(), 'run', '-d', '--name', 'early2', '--network', 'burst', '--', 'sleep', '600'));
    const before = await sandboxes();
    const pids = new Map(before.map((s) => [s.Name, s.State.Pid]));

    // 20 sandboxes and 5 networks at once, from the lab host; the clients fail once the daemon is gone.
    const burst = sh(
      h(),
      'for i in $(seq 1 20); do yard run -d --name b$i --network burst -- sleep 600 >/dev/null 2>&1 & done; ' +
        'for i in $(seq 1 5); do yard network create n$i >/dev/null 2>&1 & done; wait',
      60_000,
    );
    // Kill once the burst is under way (some sandboxes committed), after a random extra delay.
    const underway = await eventually(async () => ((await api(h(), 'GET', '/yard/v1/sandboxes?all=1')).body as unknown[]).length >= 2 + 3, {
      timeoutMs: 20_000,
      intervalMs: 30,
      tries: 1_000,
    });
    expect(underway, 'three burst sandboxes within 20 s').toBe(true);
    const delay = Math.floor(Math.random() * 400);
    await sleep(delay);
    await killDaemon(h());
    await burst;

    const t0 = Date.now();
    await restartDaemon(lab.info, h());
    const restartMs = Date.now() - t0;
    const info = (await api(h(), 'GET', '/yard/v1/info')).body;
    const context = `killed ${delay} ms after the 3rd burst sandbox; reconcile: ${JSON.stringify(info.reconcile)}`;
    expect(info.reconcile.errors, context).toEqual([]);
    expect(restartMs, context).toBeLessThan(10_000);

    const after = await expectKernelMatchesState(h());
    expect(after.length, context).toBeGreaterThanOrEqual(5);
    for (const sb of after) {
      expect(sb.State.Running, `${sb.Name} ${context}`).toBe(true);
      expect(pidAlive(sb.State.Pid), `${sb.Name} pid ${sb.State.Pid}`).toBe(true);
      if (pids.has(sb.Name)) expect(sb.State.Pid, sb.Name).toBe(pids.get(sb.Name));
    }
    // Traffic, not just read-back: the survivors reach each other.
    const ipOfName = (n: string) => after.find((s) => s.Name === `/${n}`)!.NetworkSettings.Networks.burst!.IPAddress;
    const last = after.filter((s) => /^\/b\d+$/.test(s.Name)).at(-1)!.Name.slice(1);
    expect(await pings(h(), 'early1', ipOfName(last))).toBe(true);
    expect(await pings(h(), last, ipOfName('early2'))).toBe(true);
    // And the daemon takes new work.
    await ok(yard(h(), 'run', '-d', '--name', 'postcrash', '--network', 'burst', '--', 'sleep', '600'));
    await expectKernelMatchesState(h());
    // The full leak check: firewall, DNS (burst names not in state are NXDOMAIN), sockets, processes.
    const gone = Array.from({ length: 20 }, (_, i) => `b${i + 1}`);
    expect((await findLeaks(lab.info, h(), { goneNames: gone })).leaks, context).toEqual([]);
  });

  it('re-creates a veth and a bridge deleted by hand, and traffic flows again', async () => {
    const netId = await ok(yard(h(), 'network', 'create', '--subnet', '10.71.0.0/24', 'heal'));
    await ok(yard(h(), 'run', '-d', '--name', 'h1', '--network', 'heal', '--', 'sleep', '600'));
    await ok(yard(h(), 'run', '-d', '--name', 'h2', '--network', 'heal', '--', 'sleep', '600'));
    const h1 = await inspectSandbox(h(), 'h1');
    const veth = h1.NetworkSettings.Networks.heal.HostInterface as string;
    const bridge = `br-${netId.slice(0, 12)}`;
    expect(await pings(h(), 'h2', '10.71.0.2')).toBe(true);

    await ok(exec(h(), ['ip', 'link', 'del', veth]));
    await ok(exec(h(), ['ip', 'link', 'del', bridge]));
    expect(await linkNames(h(), h1.Netns)).toEqual(['lo']); // the sandbox side went with its peer
    expect(await pings(h(), 'h2', '10.71.0.2', 1)).toBe(false);

    await restartDaemon(lab.info, h());
    const info = (await api(h(), 'GET', '/yard/v1/info')).body;
    expect(info.reconcile.repaired.join('\n')).toMatch(/network heal/);
    expect(info.reconcile.repaired.join('\n')).toMatch(/sandbox h1/);
    expect(await addrsOf(h(), undefined, bridge)).toEqual(['10.71.0.1/24']);
    expect(await addrsOf(h(), h1.Netns, 'eth0')).toEqual(['10.71.0.2/24']);
    const [route] = await ipJson(h(), ['-4', 'route', 'show', 'default'], h1.Netns);
    expect(route.gateway).toBe('10.71.0.1');
    expect(await pings(h(), 'h2', '10.71.0.2')).toBe(true);
    expect(await pings(h(), 'h1', '10.71.0.1')).toBe(true);
    expect((await inspectSandbox(h(), 'h1')).State.Pid).toBe(h1.State.Pid);
    await expectKernelMatchesState(h());
  });

  it('removes leftovers it owns at start (namespace, veth, marked bridge) and leaves what is not its own', async () => {
    const host = h();
    const ghost = `${sandboxNetnsPrefix(host.name)}0123456789ab`;
    // Added from here, not from inside the host: `ip netns exec` runs in a private mount
    // namespace, and the namespace's bind mount would not be seen by anyone else.
    execFileSync('ip', ['netns', 'add', ghost], { timeout: 10_000 });
    const child = spawn('ip', ['netns', 'exec', ghost, 'sleep', '600'], { detached: true, stdio: 'ignore' });
    child.unref();
    const ghostPid = child.pid!;
    await ok(exec(host, ['ip', 'link', 'add', 'yv0123456789ab', 'type', 'veth', 'peer', 'name', 'yvpeer0']));
    await ok(exec(host, ['ip', 'link', 'add', 'br-0123456789a', 'type', 'bridge']));
    await ok(exec(host, ['ip', 'link', 'set', 'br-0123456789a', 'alias', `switchyard:${host.name}:${'f'.repeat(64)}`]));
    // Not Switchyard's: no mark, or another instance's mark.
    await ok(exec(host, ['ip', 'link', 'add', 'br-mine', 'type', 'bridge']));
    await ok(exec(host, ['ip', 'link', 'add', 'br-other', 'type', 'bridge']));
    await ok(exec(host, ['ip', 'link', 'set', 'br-other', 'alias', `switchyard:someone-else:${'e'.repeat(64)}`]));
    expect(await eventually(async () => pidAlive(ghostPid))).toBe(true);

    await restartDaemon(lab.info, host);
    const info = (await api(host, 'GET', '/yard/v1/info')).body;
    expect(info.reconcile.leftoversRemoved.join('\n')).toMatch(new RegExp(`namespace ${ghost}`));
    expect(netnsList()).not.toContain(ghost);
    expect(await eventually(async () => !pidAlive(ghostPid), { timeoutMs: 5_000 })).toBe(true);
    const links = await linkNames(host);
    expect(links).not.toContain('yv0123456789ab');
    expect(links).not.toContain('yvpeer0');
    expect(links).not.toContain('br-0123456789a');
    expect(links).toContain('br-mine');
    expect(links).toContain('br-other');
    await ok(exec(host, ['ip', 'link', 'del', 'br-mine']));
    await ok(exec(host, ['ip', 'link', 'del', 'br-other']));
    await expectKernelMatchesState(host);
    expect((await findLeaks(lab.info, host)).leaks).toEqual([]);
  });
});
