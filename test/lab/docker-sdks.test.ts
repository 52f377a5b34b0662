/**
 * Real Docker SDKs against a lab host's Switchyard daemon, unmodified: docker-py (Debian's
 * python3-docker 5.0.3, run with Debian's /usr/bin/python3) and dockerode (npm). Each runs
 * a script (test/lab/sdk/) that does what an application does with networks: create with
 * the library's own IPAM objects (nulls included), a refused duplicate, list with filters,
 * connect with an alias and a static address, disconnect, not-found, an endpoint Switchyard
 * does not serve, prune and remove; the test checks what the library saw and what the
 * kernel has. Needs root, python3-docker (scripts/setup.sh) and npm ci.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exec, ok, pings, withLab, yard } from './helpers.js';

const lab = withLab('sdk');
const h = () => lab.host(1);
const SDK = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'sdk');
const env = () => ['env', `DOCKER_HOST=unix://${h().socket}`];

describe('Docker SDKs against Switchyard', () => {
  beforeAll(async () => {
    await ok(yard(h(), 'run', '-d', '--name', 'target', '--', 'sleep', '600'));
    await ok(yard(h(), 'run', '-d', '--name', 'peer1', '--', 'sleep', '600'));
  });

  it('docker-py: create with IPAMPool, refused duplicate, filters, connect with alias, address, IPv6 and a link, events, errors, prune', async () => {
    const r = JSON.parse(await ok(exec(h(), [...env(), '/usr/bin/python3', path.join(SDK, 'docker_py_flow.py'), 'target', '10.91.0.0/24'], { timeoutMs: 60_000 }), 'docker-py script'));
    expect(r.api_version).toBe('1.41');
    expect(r.created).toEqual({ name: 'pynet', driver: 'bridge', subnet: '10.91.0.0/24', gateway: '10.91.0.1', labels: { app: 'py' } });
    expect(r.duplicate.status).toBe(409);
    expect(r.duplicate.explanation).toMatch(/network with name pynet already exists/);
    expect(r.by_label).toEqual(['pynet']);
    expect(r.by_label_other).toEqual([]);
    expect(r.names).toEqual(['bridge', 'host', 'none', 'pynet']);
    expect(r.connected).toEqual([{ ipv4: '10.91.0.50/24', name: 'target' }]);
    expect(r.after_disconnect).toBe(0);
    expect(r.ipv6).toEqual({ enabled: true, address: 'fd00:91::50/64' });
    expect(r.links).toEqual(['peer1:pl']);
    expect(r.events).toEqual(['create', 'connect', 'disconnect', 'destroy']);
    expect(r.not_found).toEqual({ status: 404 });
    expect(r.containers.status).toBe(501);
    expect(r.containers.explanation).toMatch(/yard run/);
    expect(r.pruned_by_label).toEqual(['pynet']);
    expect(r.pruned).toEqual(['pyidle']);
    expect(r.left).toEqual(['bridge', 'host', 'none']);
  });

  it('dockerode: create with nulls, refused duplicate, filters in both shapes, connect with alias, address, IPv6 and a link, events, prune, errors, remove', async () => {
    // Traffic while connected is checked from the kernel's side: connect through the SDK, ping, then let the script go on.
    const r = JSON.parse(await ok(exec(h(), [...env(), 'node', path.join(SDK, 'dockerode-flow.mjs'), 'target', '10.92.0.0/24'], { timeoutMs: 60_000 }), 'dockerode script'));
    expect(r.version).toBe('1.41');
    expect(r.created).toEqual({ name: 'nodenet', subnet: '10.92.0.0/24', labels: { app: 'node' }, id: true });
    expect(r.duplicate.status).toBe(409);
    expect(r.byLabel).toEqual(['nodenet']);
    expect(r.byName).toEqual(['nodenet']);
    expect(r.connected).toEqual(['10.92.0.60/24']);
    expect(r.afterDisconnect).toBe(0);
    expect(r.ipv6).toEqual(['fd00:92::60/64']);
    expect(r.events).toEqual(['create', 'connect', 'disconnect', 'destroy']);
    expect(r.pruned).toEqual(['nodeidle']);
    expect(r.notFound.status).toBe(404);
    expect(r.containers.status).toBe(501);
    expect(r.removed).toBe('ok');
    expect(r.left).toEqual(['bridge', 'host', 'none']);
  });

  it.each([
    ['20.10 (Debian docker.io)', '/usr/bin/docker', 94],
    ['28.x', '/usr/local/bin/docker', 95],
  ])('the docker CLI %s: create, inspect, ls --filter, connect with alias, addresses and a link, disconnect, events, prune', async (_v, cli, octet) => {
    const dk = async (...args: string[]) => ok(exec(h(), [cli, '-H', `unix://${h().socket}`, ...args], { timeoutMs: 60_000 }), `${cli} ${args.join(' ')}`);
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const net = `cli${octet}`;
    await dk('network', 'create', '--subnet', `10.${octet}.0.0/24`, '--gateway', `10.${octet}.0.1`, '--ipv6', '--subnet', `fd00:${octet}::/64`, '--label', 'via=cli', net);
    expect(await dk('network', 'inspect', '-f', '{{.Driver}} {{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}{{.Labels.via}}', net)).toBe(`bridge true 10.${octet}.0.0/24 fd00:${octet}::/64 cli`);
    expect(await dk('network', 'ls', '--filter', 'label=via=cli', '--format', '{{.Name}}')).toBe(net);
    await dk('network', 'connect', '--alias', 'cal', '--ip', `10.${octet}.0.7`, '--ip6', `fd00:${octet}::7`, '--link', 'peer1:pl', net, 'target');
    expect(await dk('network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{.IPv4Address}} {{.IPv6Address}}{{end}}', net)).toBe(`target 10.${octet}.0.7/24 fd00:${octet}::7/64`);
    expect(await pings(h(), 'peer1', `10.${octet}.0.7`)).toBe(false); // peer1 is not on the network (the control below is)
    await dk('network', 'connect', net, 'peer1');
    expect(await pings(h(), 'peer1', `10.${octet}.0.7`)).toBe(true);
    await dk('network', 'disconnect', net, 'target');
    await dk('network', 'disconnect', net, 'peer1');
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const events = await dk('events', '--since', since, '--until', until, '--filter', 'type=network', '--filter', `network=${net}`, '--format', '{{.Action}}');
    expect(events.split('\n')).toEqual(['create', 'connect', 'connect', 'disconnect', 'disconnect']);
    expect(await dk('network', 'prune', '-f', '--filter', 'label=via=cli')).toContain(net);
    expect(await dk('network', 'ls', '--format', '{{.Name}}')).not.toContain(net);
  });

  it('an SDK-made network carries traffic: connect two sandboxes through the API, they ping; after disconnect they do not', async () => {
    const script = [
      'import docker, sys',
      'c = docker.from_env(version="auto")',
      'n = c.networks.create("traffic", ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.93.0.0/24")]))',
      'n.connect("target", ipv4_address="10.93.0.10")',
      'n.connect("peer1", ipv4_address="10.93.0.11")',
    ].join('\n');
    await ok(exec(h(), [...env(), '/usr/bin/python3', '-c', script], { timeoutMs: 60_000 }), 'docker-py connect');
    expect(await pings(h(), 'peer1', '10.93.0.10')).toBe(true);
    await ok(exec(h(), [...env(), '/usr/bin/python3', '-c', 'import docker; c = docker.from_env(version="auto"); c.networks.get("traffic").disconnect("target")'], { timeoutMs: 60_000 }), 'docker-py disconnect');
    expect(await pings(h(), 'peer1', '10.93.0.10', 1)).toBe(false);
  });
});
