/**
 * Sandboxes in a namespace a container runtime owns (the base of the CNI and Podman front
 * doors): the daemon attaches the runtime's namespace file, makes and configures the
 * interface in it, and on removal takes out only what it made. It never stops a process
 * there, never deletes the namespace, and releases the endpoint by itself when the runtime
 * deletes its namespace without saying so. The "runtime" here is `ip netns add` and a
 * sleeping process in that namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/kernel/exec.js';
import { api, eventually, ok, pidAlive, pings, sleep, withLab, yard } from './helpers.js';

const lab = withLab('rtns');
const h = () => lab.host(1);
const NS = `rtc${process.pid}`.slice(0, 15);
const NS_PATH = `/run/netns/${NS}`;
let container: ChildProcess | undefined;

const linksIn = async (ns: string) => JSON.parse((await run('ip', ['-n', ns, '-j', 'addr', 'show'])).stdout || '[]') as { ifname: string; addr_info: { local: string }[] }[];

describe('a sandbox in a runtime-owned namespace', () => {
  beforeAll(async () => {
    await run('ip', ['netns', 'del', NS]);
    expect((await run('ip', ['netns', 'add', NS])).code).toBe(0);
    // The runtime's "container": a process living in its namespace.
    container = spawn('ip', ['netns', 'exec', NS, 'sleep', '600'], { detached: true, stdio: 'ignore' });
    await sleep(200);
    await ok(yard(h(), 'network', 'create', '--subnet', '10.60.0.0/24', 'app'));
    await ok(yard(h(), 'run', '-d', '--name', 'peer', '--network', 'app', '--', 'sleep', '600'));
  });
  afterAll(async () => {
    container?.kill('SIGKILL');
    await run('ip', ['netns', 'del', NS]);
  });

  it('joins the runtime\'s namespace to a network under the interface name the runtime asks for', async () => {
    const r = await api(h(), 'POST', '/yard/v1/sandboxes', { name: 'rt1', networks: [{ network: 'app', ifname: 'net1', aliases: ['svc'] }], runtime: { kind: 'cni', netns: NS_PATH, container: 'c0ffee' } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const ip = r.body.Sandbox.NetworkSettings.Networks.app.IPAddress as string;
    expect(ip).toMatch(/^10\.60\.0\.\d+$/);
    // Attached under our name while it is ours (the control for the checks that it goes).
    expect((await run('ip', ['netns', 'list'])).stdout).toContain(`yard-${h().name}-rt-`);
    const net1 = (await linksIn(NS)).find((l) => l.ifname === 'net1');
    expect(net1?.addr_info.map((a) => a.local)).toContain(ip);
    // Traffic: a Switchyard sandbox reaches the runtime's container (and the runtime's own process is in there).
    expect(await pings(h(), 'peer', ip)).toBe(true);
    const inside = await run('ip', ['netns', 'exec', NS, 'ping', '-c1', '-W2', '10.60.0.1']);
    expect(inside.code).toBe(0);
  });

  it('only the runtime removes it; removal leaves the namespace and its process, without our interface', async () => {
    const refused = await api(h(), 'DELETE', '/yard/v1/sandboxes/rt1?force=1');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('RUNTIME_OWNED');
    const wrongRuntime = await api(h(), 'DELETE', '/yard/v1/sandboxes/rt1?force=1&runtime=netavark');
    expect(wrongRuntime.status).toBe(403);
    const done = await api(h(), 'DELETE', '/yard/v1/sandboxes/rt1?force=1&runtime=cni');
    expect(done.status).toBe(204);
    expect((await linksIn(NS)).map((l) => l.ifname)).toEqual(['lo']);
    expect(pidAlive(container!.pid!)).toBe(true);
    expect((await run('ip', ['netns', 'list'])).stdout).toContain(NS);
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(`yard-${h().name}-rt-`);
  });

  it('is released by the daemon when the runtime deletes its namespace without a word', async () => {
    const r = await api(h(), 'POST', '/yard/v1/sandboxes', { name: 'rt2', networks: [{ network: 'app' }], runtime: { kind: 'cni', netns: NS_PATH } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const ip = r.body.Sandbox.NetworkSettings.Networks.app.IPAddress as string;
    expect(await pings(h(), 'peer', ip)).toBe(true);
    container?.kill('SIGKILL');
    expect((await run('ip', ['netns', 'del', NS])).code).toBe(0);
    const gone = await eventually(async () => (await api(h(), 'GET', '/yard/v1/sandboxes/rt2')).status === 404, { timeoutMs: 10_000, intervalMs: 250, tries: 60 });
    expect(gone).toBe(true);
    expect(await pings(h(), 'peer', ip, 1)).toBe(false);
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(`yard-${h().name}-rt-`);
  });

  it('refuses a path that is not a network namespace, naming it, and changes nothing', async () => {
    const r = await api(h(), 'POST', '/yard/v1/sandboxes', { name: 'rt3', networks: [{ network: 'app' }], runtime: { kind: 'cni', netns: '/etc/hostname' } });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.body.message).toMatch(/\/etc\/hostname is not a network namespace/);
    expect((await api(h(), 'GET', '/yard/v1/sandboxes/rt3')).status).toBe(404);
    const rel = await api(h(), 'POST', '/yard/v1/sandboxes', { name: 'rt4', networks: [{ network: 'app' }], runtime: { kind: 'cni', netns: 'relative/ns' } });
    expect(rel.status).toBe(400);
    expect(rel.body.field).toBe('netns');
  });
});
