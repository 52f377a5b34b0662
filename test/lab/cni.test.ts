/**
 * The `switchyard` CNI plugin on the real kernel, driven as a CNI runtime drives it: a small
 * conflist runner below executes each plugin of a list the way libcni does (the CNI_*
 * environment, the configuration on stdin with the list's name and cniVersion, prevResult
 * from the plugin before it on ADD and from the ADD's result on CHECK and DEL, DEL in reverse
 * order), finding each plugin by its type in CNI_PATH: the `switchyard` symlink to
 * bin/switchyard-cni, and Debian's reference plugins (portmap, bandwidth, tuning, firewall)
 * after it. The "containers" are bare namespaces made with `ip netns add` inside lab host 1.
 * Needs root, containernetworking-plugins and `npm run build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/kernel/exec.js';
import { BIN_DIR } from '../../src/paths.js';
import { api, eventually, exec, ok, sh, withLab, yard } from './helpers.js';
import { restartDaemon, type LabHost } from '../../src/lab/lab.js';
import { killNetnsProcesses, processGone } from '../../src/kernel/process.js';

const lab = withLab('cni', 2);
const h = () => lab.host(1);
const tag = String(process.pid).slice(-5);
const ns = (n: string) => `cni${n}${tag}`;
const nsPath = (n: string) => `/run/netns/${ns(n)}`;
const NETS = ['A', 'B', 'C', 'D1', 'D2', 'E', 'F1', 'F2', 'X', 'M', 'K1', 'K2'];
let pluginDir: string;
let server: ChildProcess | undefined;

interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [k: string]: unknown;
}
interface Conflist {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}
interface Attachment {
  containerId: string;
  netns?: string;
  ifname: string;
  /** Capability arguments (runtimeConfig), given to the plugins that declare the capability. */
  capabilityArgs?: Record<string, unknown>;
}
interface PluginRun {
  code: number;
  out: any;
  stderr: string;
}

const cniPath = () => `${pluginDir}:/usr/lib/cni`;

function findPlugin(type: string): string {
  for (const dir of cniPath().split(':')) if (fs.existsSync(path.join(dir, type))) return path.join(dir, type);
  throw new Error(`no plugin ${type} in ${cniPath()}`);
}

/** One plugin execution per the CNI spec: CNI_* environment (and nothing of ours), config on stdin. */
async function runPlugin(host: LabHost, command: string, conf: Record<string, unknown>, att?: Partial<Attachment>): Promise<PluginRun> {
  const env = [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `CNI_COMMAND=${command}`,
    `CNI_PATH=${cniPath()}`,
    ...(att?.containerId ? [`CNI_CONTAINERID=${att.containerId}`] : []),
    ...(att?.netns ? [`CNI_NETNS=${att.netns}`] : []),
    ...(att?.ifname ? [`CNI_IFNAME=${att.ifname}`] : []),
  ];
  const r = await exec(host, ['env', '-i', ...env, findPlugin(String(conf.type))], { input: JSON.stringify(conf), timeoutMs: 60_000 });
  let out: unknown;
  try {
    out = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    out = r.stdout;
  }
  return { code: r.code, out, stderr: r.stderr };
}

/** A conflist run as libcni runs it; stops at the first failure. */
async function runList(host: LabHost, command: 'ADD' | 'CHECK' | 'DEL', list: Conflist, att: Attachment, addResult?: unknown): Promise<{ ok: boolean; result?: any; failed?: string; error?: any }> {
  const plugins = command === 'DEL' ? [...list.plugins].reverse() : list.plugins;
  let prev = command === 'ADD' ? undefined : addResult;
  for (const p of plugins) {
    const { capabilities, ...rest } = p;
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(capabilities ?? {})) if (on && att.capabilityArgs?.[cap] !== undefined) rc[cap] = att.capabilityArgs[cap];
    const conf = { ...rest, ...(capabilities ? { capabilities } : {}), cniVersion: list.cniVersion, name: list.name, ...(Object.keys(rc).length ? { runtimeConfig: rc } : {}), ...(prev ? { prevResult: prev } : {}) };
    const r = await runPlugin(host, command, conf, att);
    if (r.code !== 0) return { ok: false, failed: p.type, error: r.out ?? r.stderr };
    if (command === 'ADD') prev = r.out;
  }
  return { ok: true, result: command === 'ADD' ? prev : undefined };
}

/**
 * CHECK of a list. Debian's portmap (1.1.1) fails CHECK of every IPv4-only attachment with
 * port mappings (it looks for an IPv6 chain it never made at ADD, "could not check ipv6
 * dnat"); when that is the only failure, the rest of the list is checked without portmap.
 */
async function checkList(host: LabHost, list: Conflist, a: Attachment, addResult: unknown): Promise<{ ok: boolean; failed?: string; error?: any }> {
  const full = await runList(host, 'CHECK', list, a, addResult);
  if (full.ok || full.failed !== 'portmap' || !/ipv6 dnat/.test(String(full.error?.msg))) return full;
  return runList(host, 'CHECK', { ...list, plugins: list.plugins.filter((p) => p.type !== 'portmap') }, a, addResult);
}

const plain = (net = 'cninet', extra: Record<string, unknown> = {}): Conflist => ({ cniVersion: '1.0.0', name: net, plugins: [{ type: 'switchyard', socket: h().socket, ...extra }] });
const chained = (): Conflist => ({
  cniVersion: '1.0.0',
  name: 'cninet',
  plugins: [
    { type: 'switchyard', socket: h().socket },
    { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    { type: 'bandwidth', ingressRate: 8_000_000, ingressBurst: 1_000_000 },
    { type: 'tuning', sysctl: { 'net.core.somaxconn': '512' } },
    { type: 'firewall', backend: 'iptables' },
  ],
});
const att = (n: string, ifname = 'eth0', extra: Partial<Attachment> = {}): Attachment => ({ containerId: `ctr-${n}-${tag}`, netns: nsPath(n), ifname, ...extra });

async function addrsIn(n: string): Promise<Record<string, string[]>> {
  const r = await exec(h(), ['ip', '-n', ns(n), '-j', 'addr', 'show']);
  const out: Record<string, string[]> = {};
  for (const l of JSON.parse(r.stdout || '[]') as { ifname: string; addr_info: { local: string; prefixlen: number; scope: string }[] }[]) {
    out[l.ifname] = l.addr_info.filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
  }
  return out;
}
const pingFrom = async (n: string, ip: string) => (await exec(h(), ['ip', 'netns', 'exec', ns(n), 'ping', '-c1', '-W2', ip])).code === 0;
const cniSandboxes = async () => ((await api(h(), 'GET', '/yard/v1/sandboxes?all=1')).body as { Name: string }[]).filter((s) => s.Name.startsWith('/cni-'));
const ipOfResult = (r: any) => String(r.ips[0].address).split('/')[0]!;

describe('the switchyard CNI plugin under a CNI runtime', () => {
  beforeAll(async () => {
    pluginDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-cni-'));
    fs.symlinkSync(path.join(BIN_DIR, 'switchyard-cni'), path.join(pluginDir, 'switchyard'));
    for (const n of NETS) {
      // The runtime's namespaces, made as a runtime makes them (a bind mount under /run/netns).
      await run('ip', ['netns', 'del', ns(n)]);
      await ok(run('ip', ['netns', 'add', ns(n)]));
      await ok(run('ip', ['-n', ns(n), 'link', 'set', 'lo', 'up']));
    }
    await ok(yard(h(), 'network', 'create', '--subnet', '10.77.0.0/24', 'cninet'));
    await ok(yard(h(), 'network', 'create', '--subnet', '10.78.0.0/24', 'cniback'));
  });
  afterAll(async () => {
    // SIGTERM: `timeout` passes it on to the server (a SIGKILL would orphan the server).
    if (server?.pid) process.kill(server.pid, 'SIGTERM');
    for (const n of NETS) {
      // Whatever still runs in the test's namespaces (the server, if it outlived timeout) goes by PID first.
      await killNetnsProcesses(ns(n));
      await run('ip', ['netns', 'del', ns(n)]);
    }
    fs.rmSync(pluginDir, { recursive: true, force: true });
  });

  it('answers VERSION with the versions it supports', async () => {
    const r = await runPlugin(h(), 'VERSION', { cniVersion: '1.0.0', type: 'switchyard' });
    expect(r.code).toBe(0);
    expect(r.out).toEqual({ cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']) });
  });

  let resA: any;
  let resB: any;
  it('ADD into two namespaces (one through portmap, bandwidth, tuning and firewall): the result is what the interface has, and they reach each other', async () => {
    const a = await runList(h(), 'ADD', chained(), att('A', 'eth0', { capabilityArgs: { portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }] } }));
    expect(a.ok, JSON.stringify(a)).toBe(true);
    const b = await runList(h(), 'ADD', plain(), att('B'));
    expect(b.ok, JSON.stringify(b)).toBe(true);
    [resA, resB] = [a.result, b.result];
    for (const [n, r] of [['A', resA], ['B', resB]] as const) {
      expect(r.cniVersion).toBe('1.0.0');
      const inside = r.interfaces[r.ips[0].interface];
      expect(inside).toMatchObject({ name: 'eth0', sandbox: nsPath(n), mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) });
      expect(r.ips[0]).toMatchObject({ address: expect.stringMatching(/^10\.77\.0\.\d+\/24$/), gateway: '10.77.0.1' });
      expect(r.routes).toContainEqual({ dst: '0.0.0.0/0', gw: '10.77.0.1' });
      expect((await addrsIn(n)).eth0).toEqual([r.ips[0].address]);
      expect((await exec(h(), ['ip', 'netns', 'exec', ns(n), 'cat', '/sys/class/net/eth0/address'])).stdout.trim()).toBe(inside.mac);
    }
    expect(ipOfResult(resA)).not.toBe(ipOfResult(resB));
    expect(await pingFrom('A', ipOfResult(resB))).toBe(true);
    expect(await pingFrom('B', ipOfResult(resA))).toBe(true);
  });

  it('ADD again for the same container and ifname answers the same result and changes nothing', async () => {
    const again = await runList(h(), 'ADD', plain(), att('B'));
    expect(again.ok, JSON.stringify(again)).toBe(true);
    expect(again.result).toEqual(resB);
    expect((await cniSandboxes()).length).toBe(2);
  });

  it('the chained plugins accepted the result: portmap publishes the port to another lab host, bandwidth shapes the host side, tuning set the sysctl', async () => {
    server = spawn('ip', ['netns', 'exec', ns('A'), 'timeout', '300', 'python3', '-m', 'http.server', '8080', '--bind', '0.0.0.0'], { stdio: 'ignore', detached: false, cwd: pluginDir });
    const reached = await eventually(async () => (await exec(lab.host(2), ['curl', '-sS', '--max-time', '3', '-o', '/dev/null', '-w', '%{http_code}', `http://${h().lan4}:18080/`])).stdout === '200', { timeoutMs: 20_000, intervalMs: 500, tries: 40 });
    expect(reached).toBe(true);
    // Positive control for the port: one nobody published is not answered.
    expect((await exec(lab.host(2), ['curl', '-sS', '--max-time', '3', '-o', '/dev/null', `http://${h().lan4}:18081/`])).code).not.toBe(0);
    const hostSide = resA.interfaces.find((i: any) => !i.sandbox);
    expect(hostSide?.name).toBeTruthy();
    const qdisc = (await exec(h(), ['tc', 'qdisc', 'show', 'dev', hostSide.name])).stdout;
    expect(qdisc).toMatch(/tbf/);
    expect((await exec(h(), ['tc', 'qdisc', 'show', 'dev', resB.interfaces.find((i: any) => !i.sandbox).name])).stdout).not.toMatch(/tbf/);
    expect((await exec(h(), ['ip', 'netns', 'exec', ns('A'), 'sysctl', '-n', 'net.core.somaxconn'])).stdout.trim()).toBe('512');
  });

  it('CHECK passes on a healthy attachment, then detects a changed address and a deleted interface', async () => {
    const good = await checkList(h(), chained(), att('A', 'eth0', { capabilityArgs: { portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }] } }), resA);
    expect(good.ok, JSON.stringify(good)).toBe(true);
    const goodB = await runList(h(), 'CHECK', plain(), att('B'), resB);
    expect(goodB.ok, JSON.stringify(goodB)).toBe(true);
    // An address that is not the one given.
    await ok(exec(h(), ['ip', '-n', ns('B'), 'addr', 'flush', 'dev', 'eth0']));
    await ok(exec(h(), ['ip', '-n', ns('B'), 'addr', 'add', '10.77.0.99/24', 'dev', 'eth0']));
    const moved = await runList(h(), 'CHECK', plain(), att('B'), resB);
    expect(moved.ok).toBe(false);
    expect(moved.error).toMatchObject({ code: 101, msg: expect.stringContaining(`does not have address ${resB.ips[0].address}`) });
    await ok(exec(h(), ['ip', '-n', ns('B'), 'link', 'del', 'eth0']));
    const bad = await runList(h(), 'CHECK', plain(), att('B'), resB);
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatchObject({ cniVersion: '1.0.0', code: 101, msg: expect.stringMatching(/interface eth0 is missing/) });
  });

  it('DEL (in reverse order through the chain) twice succeeds, the interface and the published port are gone', async () => {
    for (let i = 0; i < 2; i++) {
      const d = await runList(h(), 'DEL', chained(), att('A', 'eth0', { capabilityArgs: { portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }] } }), resA);
      expect(d.ok, `DEL #${i + 1}: ${JSON.stringify(d)}`).toBe(true);
    }
    expect(Object.keys(await addrsIn('A'))).toEqual(['lo']);
    expect((await exec(lab.host(2), ['curl', '-sS', '--max-time', '3', '-o', '/dev/null', `http://${h().lan4}:18080/`])).code).not.toBe(0);
    const d = await runList(h(), 'DEL', plain(), att('B'), resB);
    expect(d.ok, JSON.stringify(d)).toBe(true);
    expect(await cniSandboxes()).toEqual([]);
  });

  it('DEL after the runtime deleted the namespace succeeds, and DEL without CNI_NETNS too', async () => {
    const c = await runList(h(), 'ADD', plain(), att('C'));
    expect(c.ok, JSON.stringify(c)).toBe(true);
    expect((await cniSandboxes()).length).toBe(1);
    await ok(run('ip', ['netns', 'del', ns('C')]));
    const d = await runList(h(), 'DEL', plain(), att('C'), c.result);
    expect(d.ok, JSON.stringify(d)).toBe(true);
    const d2 = await runList(h(), 'DEL', plain(), { containerId: att('C').containerId, ifname: 'eth0' }, c.result);
    expect(d2.ok, JSON.stringify(d2)).toBe(true);
    expect(await eventually(async () => (await cniSandboxes()).length === 0, { timeoutMs: 10_000, intervalMs: 250, tries: 40 })).toBe(true);
    await ok(run('ip', ['netns', 'add', ns('C')]));
  });

  it('a second interface on another network joins the same container, and its DEL leaves the first', async () => {
    const e0 = await runList(h(), 'ADD', plain(), att('E'));
    const e1 = await runList(h(), 'ADD', plain('cniback'), att('E', 'net1'));
    expect(e0.ok && e1.ok, JSON.stringify([e0, e1])).toBe(true);
    const addrs = await addrsIn('E');
    expect(addrs.eth0).toEqual([e0.result.ips[0].address]);
    expect(addrs.net1).toEqual([e1.result.ips[0].address]);
    expect(e1.result.ips[0].address).toMatch(/^10\.78\.0\./);
    expect(e1.result.routes).toEqual([]); // the default route stays on eth0
    expect((await cniSandboxes()).length).toBe(1);
    // The same container on the same network under another name is refused.
    const dup = await runList(h(), 'ADD', plain('cniback'), att('E', 'net2'));
    expect(dup.error).toMatchObject({ code: 102 });
    const d = await runList(h(), 'DEL', plain('cniback'), att('E', 'net1'), e1.result);
    expect(d.ok).toBe(true);
    expect(Object.keys(await addrsIn('E')).sort()).toEqual(['eth0', 'lo']);
    expect((await runList(h(), 'DEL', plain(), att('E'), e0.result)).ok).toBe(true);
    expect(await cniSandboxes()).toEqual([]);
  });

  it('ADD for a container ID whose namespace changed without a DEL moves it to the new namespace', async () => {
    const id = `ctr-F-${tag}`;
    const first = await runList(h(), 'ADD', plain(), { containerId: id, netns: nsPath('F1'), ifname: 'eth0' });
    expect(first.ok, JSON.stringify(first)).toBe(true);
    expect((await addrsIn('F1')).eth0).toEqual([first.result.ips[0].address]);
    const second = await runList(h(), 'ADD', plain(), { containerId: id, netns: nsPath('F2'), ifname: 'eth0' });
    expect(second.ok, JSON.stringify(second)).toBe(true);
    expect(second.result.interfaces.find((i: any) => i.sandbox).sandbox).toBe(nsPath('F2'));
    expect((await addrsIn('F2')).eth0).toEqual([second.result.ips[0].address]);
    expect(Object.keys(await addrsIn('F1'))).toEqual(['lo']);
    expect((await cniSandboxes()).length).toBe(1);
    expect((await runList(h(), 'DEL', plain(), { containerId: id, netns: nsPath('F2'), ifname: 'eth0' }, second.result)).ok).toBe(true);
    expect(await cniSandboxes()).toEqual([]);
  });

  it('answers a 0.4.0 conflist in the 0.4.0 shape, which the reference plugins after it accept', async () => {
    const list: Conflist = { cniVersion: '0.4.0', name: 'cninet', plugins: [{ type: 'switchyard', socket: h().socket }, { type: 'tuning', sysctl: { 'net.core.somaxconn': '256' } }, { type: 'portmap', capabilities: { portMappings: true } }] };
    const a = att('F1', 'eth0', { capabilityArgs: { portMappings: [{ hostPort: 18090, containerPort: 80, protocol: 'tcp' }] } });
    const r = await runList(h(), 'ADD', list, a);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.result.cniVersion).toBe('0.4.0');
    expect(r.result.ips[0]).toMatchObject({ version: '4', address: expect.stringMatching(/^10\.77\.0\./) });
    const c = await checkList(h(), list, a, r.result);
    expect(c.ok, JSON.stringify(c)).toBe(true);
    expect((await runList(h(), 'DEL', list, a, r.result)).ok).toBe(true);
    expect(Object.keys(await addrsIn('F1'))).toEqual(['lo']);
  });

  it('GC releases the attachments the runtime no longer lists and keeps the listed ones', async () => {
    const d1 = await runList(h(), 'ADD', plain(), att('D1'));
    const d2 = await runList(h(), 'ADD', plain(), att('D2'));
    expect(d1.ok && d2.ok).toBe(true);
    const gc = await runPlugin(h(), 'GC', { cniVersion: '1.1.0', name: 'cninet', type: 'switchyard', socket: h().socket, 'cni.dev/valid-attachments': [{ containerID: att('D1').containerId, ifname: 'eth0' }] });
    expect(gc.code, JSON.stringify(gc)).toBe(0);
    expect(Object.keys(await addrsIn('D2'))).toEqual(['lo']);
    expect((await addrsIn('D1')).eth0).toEqual([d1.result.ips[0].address]);
    expect(await pingFrom('D1', '10.77.0.1')).toBe(true);
    expect((await cniSandboxes()).length).toBe(1);
    const all = await runPlugin(h(), 'GC', { cniVersion: '1.1.0', name: 'cninet', type: 'switchyard', socket: h().socket, 'cni.dev/valid-attachments': [] });
    expect(all.code).toBe(0);
    expect(await cniSandboxes()).toEqual([]);
  });

  it('refuses a bad configuration with the CNI code naming the field, and creates nothing', async () => {
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ type: 'switchyard', network: 'nosuchnet' }, 7, /network "nosuchnet" names no Switchyard network/],
      [{ type: 'switchyard', ipam: { type: 'host-local' } }, 7, /ipam/],
      [{ type: 'switchyard', runtimeConfig: { ips: ['10.99.0.5/24'] } }, 7, /10\.99\.0\.5/],
      [{ type: 'switchyard', cniVersion: '2.0.0' }, 1, /CNI version "2.0.0"/],
    ];
    for (const [extra, code, msg] of cases) {
      const r = await runPlugin(h(), 'ADD', { cniVersion: '1.0.0', name: 'cninet', socket: h().socket, ...extra }, att('X'));
      expect(r.code, JSON.stringify(r)).toBe(1);
      expect(r.out).toMatchObject({ code, msg: expect.stringMatching(msg) });
      expect(typeof r.out.details).toBe('string');
    }
    const env = await runPlugin(h(), 'ADD', { cniVersion: '1.0.0', name: 'cninet', type: 'switchyard', socket: h().socket }, { containerId: 'x', ifname: 'eth0' });
    expect(env.out).toMatchObject({ code: 4, msg: expect.stringMatching(/CNI_NETNS/) });
    expect(Object.keys(await addrsIn('X'))).toEqual(['lo']);
    expect(await cniSandboxes()).toEqual([]);
    // Positive control: the same namespace with a good configuration and an asked-for address.
    const good = await runList(h(), 'ADD', plain('cninet', { runtimeConfig: { ips: ['10.77.0.50/24'] } }), att('X'));
    expect(good.ok, JSON.stringify(good)).toBe(true);
    expect((await addrsIn('X')).eth0).toEqual(['10.77.0.50/24']);
    expect((await runList(h(), 'DEL', plain(), att('X'), good.result)).ok).toBe(true);
  });

  it('STATUS succeeds with the daemon up and answers 50 when it cannot be reached', async () => {
    const up = await runPlugin(h(), 'STATUS', { cniVersion: '1.1.0', name: 'cninet', type: 'switchyard', socket: h().socket });
    expect(up.code, JSON.stringify(up)).toBe(0);
    const noNet = await runPlugin(h(), 'STATUS', { cniVersion: '1.1.0', name: 'nosuchnet', type: 'switchyard', socket: h().socket });
    expect(noNet.out).toMatchObject({ code: 50, msg: expect.stringMatching(/nosuchnet/) });
    const down = await runPlugin(h(), 'STATUS', { cniVersion: '1.1.0', name: 'cninet', type: 'switchyard', socket: '/run/switchyard/no-such-instance/yard.sock' });
    expect(down.code).toBe(1);
    expect(down.out).toMatchObject({ cniVersion: '1.1.0', code: 50, msg: expect.stringMatching(/cannot be reached/) });
  });

  it('a macvlan network on the LAN: the container reaches another lab host; DEL releases it', async () => {
    await ok(yard(h(), 'network', 'create', '-d', 'macvlan', '-o', 'parent=lan0', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', 'cnilan'));
    const a = att('M');
    const added = await runList(h(), 'ADD', plain('cnilan'), a);
    expect(added.ok, JSON.stringify(added.error)).toBe(true);
    const ip = ipOfResult(added.result);
    expect(ip).toMatch(/^10\.231\.0\.(19[2-9]|2[0-2]\d)$/);
    expect((await addrsIn('M')).eth0).toContain(`${ip}/24`);
    expect(await pingFrom('M', lab.host(2).lan4)).toBe(true);
    expect((await runList(h(), 'DEL', plain('cnilan'), a, added.result)).ok).toBe(true);
    expect((await addrsIn('M')).eth0).toBeUndefined();
    expect(await pingFrom('M', lab.host(2).lan4)).toBe(false);
  });

  it('containers keep talking while the daemon is killed with -9; after a restart CHECK and DEL work', async () => {
    const [k1, k2] = [att('K1'), att('K2')];
    const r1 = await runList(h(), 'ADD', plain(), k1);
    const r2 = await runList(h(), 'ADD', plain(), k2);
    expect(r1.ok && r2.ok).toBe(true);
    const pid = h().daemonPid!;
    process.kill(pid, 'SIGKILL');
    expect(await eventually(async () => processGone(pid), { timeoutMs: 3_000, intervalMs: 10, tries: 300 })).toBe(true);
    expect(await pingFrom('K1', ipOfResult(r2.result))).toBe(true);
    // Without the daemon a new ADD is "try again later" (11), and creates nothing.
    const down = await runPlugin(h(), 'ADD', { cniVersion: '1.0.0', name: 'cninet', type: 'switchyard', socket: h().socket }, att('K1', 'eth5'));
    expect(down.code).not.toBe(0);
    expect(down.out.code).toBe(11);
    await restartDaemon(lab.info, h());
    expect((await checkList(h(), plain(), k1, r1.result)).ok).toBe(true);
    expect(await pingFrom('K2', ipOfResult(r1.result))).toBe(true);
    expect((await runList(h(), 'DEL', plain(), k1, r1.result)).ok).toBe(true);
    expect((await runList(h(), 'DEL', plain(), k2, r2.result)).ok).toBe(true);
    expect(await pingFrom('K2', ipOfResult(r1.result))).toBe(false);
  });

  it('leaves no attached runtime namespace behind', async () => {
    // Only this lab host's daemon's names (other labs may share /run/netns).
    const list = (await sh(h(), 'ip netns list')).stdout;
    expect(list).toContain(ns('A')); // the runtime's own namespaces are still there
    expect(list).not.toContain(`yard-${h().name}-rt-`);
  });
});
