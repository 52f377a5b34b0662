/**
 * The lab's real Docker engine (Debian's dockerd 20.10 with its own containerd) inside a
 * lab host: containers on Docker's own networks reach each other by name, a container on
 * `--network none` reaches nothing, container DNS of `*.lab` is answered by the lab's fake
 * resolver, a network plugin socket in the host's plugin directory is found by name, and
 * taking the lab down leaves no process, mount, cgroup, directory or namespace behind.
 * Needs root, `docker.io` (scripts/setup.sh) and `npm run build` (the fake resolver runs
 * from dist/).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_A } from '../../src/lab/fake-dns.js';
import { labDockerLeftovers, type LabDocker } from '../../src/lab/docker.js';
import { labDocker, labDockerCli, labDown, labUp, type LabInfo } from '../../src/lab/lab.js';
import { processGone } from '../../src/kernel/process.js';
import { namesOnAUserNetwork } from './container-cli-kit.js';

const NAME = `dk${process.pid}`.slice(0, 16);

let info: LabInfo;
let engine: LabDocker;
const timings: Record<string, number> = {};

/** docker CLI against host 1's engine; must succeed; returns trimmed stdout. */
async function dk(...args: string[]): Promise<string> {
  const r = await labDocker(info, 'host1', args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}
const dkRaw = (...args: string[]) => labDocker(info, 'host1', args);

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    timings[label] = Date.now() - t0;
  }
}

const netnsList = () => (fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : []);

describe('a real Docker engine in a lab host', () => {
  beforeAll(async () => {
    await labDown(NAME); // a leftover of an interrupted run with the same PID
    info = await timed('lab up (1 host, no yard daemon, dockerd + image)', () => labUp({ name: NAME, hosts: 1, daemons: false, docker: true }));
    engine = info.hosts[0]!.docker!;
    timings['dockerd start (spawn to GET /_ping)'] = engine.startMs;
    timings['docker import bb'] = engine.imageMs;
  });

  afterAll(async () => {
    await labDown(NAME);
    console.log(`docker-lab timings (ms): ${JSON.stringify(timings)}`);
  });

  it('runs its own dockerd and containerd inside the lab host, with the lab resolver and the bb image', async () => {
    expect(engine.socket.startsWith('/run/switchyard/')).toBe(true);
    expect(labDockerCli(info, 'host1')).toEqual(['/usr/bin/docker', '--config', engine.clientDir, '-H', `unix://${engine.socket}`]);
    const [version, root, driver] = (await dk('info', '--format', '{{.ServerVersion}}|{{.DockerRootDir}}|{{.CgroupDriver}}')).split('|');
    expect(version).toMatch(/^20\.10\./);
    expect(root).toBe(path.join(engine.dataDir, 'docker'));
    expect(driver).toBe('cgroupfs');
    // Both daemons live in the host's network namespace, in a mount namespace of their own.
    const hostNet = `net:[${fs.statSync(`/run/netns/${info.hosts[0]!.name}`).ino}]`;
    for (const pid of [engine.pid, engine.containerdPid]) {
      expect(fs.readlinkSync(`/proc/${pid}/ns/net`)).toBe(hostNet);
      expect(fs.readlinkSync(`/proc/${pid}/ns/mnt`)).toBe(engine.mountNs);
    }
    expect(engine.mountNs).not.toBe(fs.readlinkSync('/proc/self/ns/mnt'));
    expect(await dk('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}')).toContain('bb:latest');
    // The daemon's --dns reaches containers on the default bridge as their resolver.
    expect(await timed('docker run --rm bb (default bridge)', () => dk('run', '--rm', 'bb', 'cat', '/etc/resolv.conf'))).toContain(`nameserver ${info.dnsAddress}`);
  });

  it('two containers on a user-defined network ping each other by name; on --network none a container cannot', async () => {
    await namesOnAUserNetwork({ run: dk, raw: dkRaw, timed, name: 'docker' });
  });

  it('container DNS: *.lab is answered by the lab resolver (through the embedded DNS and directly); other names are NXDOMAIN', async () => {
    // User network: 127.0.0.11 forwards to the daemon's --dns.
    const viaEmbedded = await dk('run', '--rm', '--network', 'app', 'bb', 'nslookup', '-type=a', 'web.lab');
    expect(viaEmbedded).toContain('127.0.0.11');
    expect(viaEmbedded).toContain(`Address: ${FAKE_A}`);
    // Default bridge: the resolver itself.
    const direct = await dk('run', '--rm', 'bb', 'nslookup', '-type=a', 'db.lab');
    expect(direct).toContain(`Server:\t\t${info.dnsAddress}`);
    expect(direct).toContain(`Address: ${FAKE_A}`);
    // Negative beside them: a name outside *.lab gets no address.
    const other = await dkRaw('run', '--rm', '--network', 'app', 'bb', 'nslookup', '-type=a', 'web.example');
    expect(other.code).not.toBe(0);
    expect(other.stdout + other.stderr).toMatch(/NXDOMAIN/);
    expect(other.stdout).not.toContain(FAKE_A);
  });

  it('finds a network plugin by its socket in the host\'s plugin directory, and by a spec file', async () => {
    const calls: string[] = [];
    const servers: http.Server[] = [];
    const serve = (socket: string) =>
      new Promise<void>((resolve, reject) => {
        const server = http.createServer((req, res) => {
          req.resume();
          req.on('end', () => {
            calls.push(`${path.basename(socket)} ${req.url}`);
            const body = req.url === '/Plugin.Activate' ? { Implements: ['NetworkDriver'] } : req.url === '/NetworkDriver.GetCapabilities' ? { Scope: 'local' } : {};
            res.writeHead(200, { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json' });
            res.end(JSON.stringify(body));
          });
        });
        servers.push(server);
        server.once('error', reject);
        server.listen(socket, () => resolve());
      });
    try {
      // 1. `<pluginDir>/<name>.sock` is plugin <name> (the engine sees it as /run/docker/plugins/<name>.sock).
      await serve(path.join(engine.pluginDir, 'yardprobe.sock'));
      await dk('network', 'create', '-d', 'yardprobe', 'pnet');
      expect(calls).toContain('yardprobe.sock /Plugin.Activate');
      expect(calls).toContain('yardprobe.sock /NetworkDriver.CreateNetwork');
      expect(await dk('network', 'ls', '--filter', 'driver=yardprobe', '--format', '{{.Name}}')).toBe('pnet');
      await dk('network', 'rm', 'pnet');
      expect(calls).toContain('yardprobe.sock /NetworkDriver.DeleteNetwork');

      // 2. A spec file in the host's specDir naming a socket in the lab's run directory.
      const specSocket = path.join(path.dirname(engine.runRoot), 'yardspec.sock');
      await serve(specSocket);
      fs.writeFileSync(path.join(engine.specDir, 'yardspec.spec'), `unix://${specSocket}\n`);
      await dk('network', 'create', '-d', 'yardspec', 'snet');
      expect(calls).toContain('yardspec.sock /NetworkDriver.CreateNetwork');
      await dk('network', 'rm', 'snet');

      // Negative beside them: a name with neither socket nor spec file is not found (Docker
      // keeps looking for an absent plugin for about 15 s before it says so).
      const absent = await timed('network create -d <absent plugin>', () => dkRaw('network', 'create', '-d', 'yardabsent', 'anet'));
      expect(absent.code).not.toBe(0);
      expect(absent.stderr).toMatch(/plugin "yardabsent" not found|plugin not found/);
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  });

  it('teardown stops every process and leaves no mount, cgroup, directory or namespace', async () => {
    const containerPids = (await dk('inspect', '-f', '{{.State.Pid}}', 'c1', 'c2')).split('\n').map(Number);
    expect(containerPids.every((p) => p > 0 && !processGone(p))).toBe(true);
    // Positive control of the leak check: while the engine runs, it sees it.
    const running = labDockerLeftovers(engine, engine);
    expect(running.some((l) => l.startsWith(`process ${engine.pid} `))).toBe(true);
    expect(running.some((l) => l.startsWith('cgroup '))).toBe(true);
    expect(running.some((l) => l.startsWith('directory '))).toBe(true);

    await timed('lab down (2 running containers)', () => labDown(NAME));

    expect(labDockerLeftovers(engine, engine)).toEqual([]);
    for (const pid of [engine.pid, engine.containerdPid, ...containerPids]) expect(processGone(pid), `pid ${pid}`).toBe(true);
    expect(netnsList().filter((n) => n.startsWith(`${NAME}-`))).toEqual([]);
    expect(fs.existsSync(path.dirname(engine.runRoot))).toBe(false);
  });
});
