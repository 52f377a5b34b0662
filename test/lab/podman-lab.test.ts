/**
 * The lab's real Podman (Debian's podman 4.3, netavark, aardvark-dns, runc) inside a lab
 * host: containers on a Podman network reach each other by name, a container on
 * `--network none` reaches nothing, container DNS of `*.lab` is answered by the lab's fake
 * resolver, a published port is reached from another lab host, and taking the lab down
 * leaves no process, mount, cgroup, namespace or directory behind. Netavark is found
 * through the lab's helper directory, where a recording wrapper stands in front of the real
 * one: the test checks the command line and JSON Podman hands it (with
 * YARD_SAVE_NETAVARK_FIXTURES=1 it also saves them under test/fixtures/netavark/).
 * Needs root, podman (scripts/setup.sh) and `npm run build` (the fake resolver runs from dist/).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_A } from '../../src/lab/fake-dns.js';
import { compareSnapshots, snapshotHost, type HostSnapshot } from '../../src/lab/hostcheck.js';
import { labPodmanLeftovers, PODMAN_HELPERS, type LabPodman } from '../../src/lab/podman.js';
import { labDown, labExec, labPodman, labPodmanCli, labUp, startPodman, type LabInfo } from '../../src/lab/lab.js';
import { findProcesses, processGone } from '../../src/kernel/process.js';
import { namesOnAUserNetwork } from './container-cli-kit.js';

const NAME = `pm${process.pid}`.slice(0, 16);
const FIXTURES = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures/netavark');

let info: LabInfo;
let pm: LabPodman;
let before: HostSnapshot;
let capDir: string;
const timings: Record<string, number> = {};

async function pod(...args: string[]): Promise<string> {
  const r = await labPodman(info, 'host1', args);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}
const podRaw = (...args: string[]) => labPodman(info, 'host1', args);

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    timings[label] = Date.now() - t0;
  }
}

/** A stand-in netavark that records argv, environment, stdin, stdout and exit code of each call, then runs the real one. */
function writeRecorder(dir: string): void {
  fs.writeFileSync(
    path.join(dir, 'netavark'),
    [
      '#!/bin/sh',
      '# Records one netavark call (test/lab/podman-lab.test.ts), then runs the real netavark.',
      `d=${dir}/calls; mkdir -p "$d"; n="$(date +%s%N)-$$"`,
      `printf '%s\\n' "$@" > "$d/$n.argv"; env > "$d/$n.env"; cat > "$d/$n.stdin"`,
      `${PODMAN_HELPERS}/netavark "$@" < "$d/$n.stdin" > "$d/$n.stdout"; rc=$?`,
      'echo "$rc" > "$d/$n.rc"; cat "$d/$n.stdout"; exit "$rc"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
}

interface Call {
  argv: string[];
  env: Record<string, string>;
  stdin: unknown;
  stdout: unknown;
  rc: number;
}

function readCalls(): Call[] {
  const dir = path.join(capDir, 'calls');
  const ids = fs.existsSync(dir) ? [...new Set(fs.readdirSync(dir).map((f) => f.replace(/\.[a-z]+$/, '')))].sort() : [];
  const json = (f: string) => {
    const t = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
    try {
      return t.trim() ? JSON.parse(t) : null;
    } catch {
      return t;
    }
  };
  return ids.map((id) => {
    const env: Record<string, string> = {};
    for (const line of fs.readFileSync(path.join(dir, `${id}.env`), 'utf8').split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
    return {
      argv: fs.readFileSync(path.join(dir, `${id}.argv`), 'utf8').split('\n').filter(Boolean),
      env,
      stdin: json(path.join(dir, `${id}.stdin`)),
      stdout: json(path.join(dir, `${id}.stdout`)),
      rc: Number(fs.readFileSync(path.join(dir, `${id}.rc`), 'utf8').trim()),
    };
  });
}

const netnsList = () => (fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : []);

describe('a real Podman in a lab host', () => {
  beforeAll(async () => {
    await labDown(NAME); // a leftover of an interrupted run with the same PID
    before = snapshotHost();
    capDir = fs.mkdtempSync('/var/tmp/yard-netavark-');
    writeRecorder(capDir);
    info = await timed('lab up (2 hosts, no yard daemon, podman in host 1 + image)', () =>
      labUp({ name: NAME, hosts: 2, daemons: false, podman: { hosts: 1, helperDirs: [capDir] } }),
    );
    pm = info.hosts[0]!.podman!;
    timings['podman setup (dirs, config, mount namespace, podman version)'] = pm.setupMs;
    timings['podman import bb'] = pm.imageMs;
  });

  afterAll(async () => {
    await labDown(NAME);
    if (capDir) fs.rmSync(capDir, { recursive: true, force: true });
    console.log(`podman-lab timings (ms): ${JSON.stringify(timings)}`);
  });

  it('runs podman 4.3 in the lab host with its own storage, configuration and mount namespace, netavark, runc, cgroupfs and the bb image', async () => {
    expect(pm.version).toMatch(/^4\.3\./);
    expect(info.hosts[1]!.podman).toBeUndefined();
    const { argv, env } = labPodmanCli(info, 'host1');
    expect(argv.slice(0, 3)).toEqual(['nsenter', `--net=/run/netns/${info.hosts[0]!.name}`, `--mount=${pm.mountNsFile}`]);
    expect(env.CONTAINERS_CONF).toBe(pm.containersConf);
    const [backend, graphRoot, runtime, cgm, conf] = (
      await pod('info', '--format', '{{.Host.NetworkBackend}}|{{.Store.GraphRoot}}|{{.Host.OCIRuntime.Name}}|{{.Host.CgroupManager}}|{{.Store.ConfigFile}}')
    ).split('|');
    expect([backend, graphRoot, runtime, cgm, conf]).toEqual(['netavark', pm.graphRoot, 'runc', 'cgroupfs', pm.storageConf]);
    expect(pm.mountNs).not.toBe(fs.readlinkSync('/proc/self/ns/mnt'));
    expect(await pod('images', '--format', '{{.Repository}}:{{.Tag}}')).toContain('localhost/bb:latest');
    // The lab's ulimits, and (on the default network, no DNS) the lab's resolver only.
    const out = await timed('podman run --rm bb (default network)', () => pod('run', '--rm', 'bb', 'sh', '-c', 'ulimit -n; cat /etc/resolv.conf'));
    expect(out.split('\n')[0]).toBe('10000');
    expect(out).toContain(`nameserver ${info.dnsAddress}`);
    expect(out).not.toMatch(/nameserver (?!10\.231\.0\.1\b)/);
    // The image cache Podman writes to /var/lib/containers/cache lands in its own mount namespace only.
    expect(fs.existsSync('/var/lib/containers')).toBe(before.dockerPaths?.includes('/var/lib/containers') ?? false);
    expect(fs.existsSync(path.join(pm.runDir, 'var-lib', 'upper', 'containers', 'cache'))).toBe(true);
  });

  it('two containers on a podman network ping each other by name; on --network none a container cannot', async () => {
    await namesOnAUserNetwork({ run: pod, raw: podRaw, timed, name: 'podman' });
  });

  it('container DNS: *.lab is answered by the lab resolver (through aardvark-dns and directly); other names are NXDOMAIN', async () => {
    // Podman network with DNS: aardvark-dns on the network's gateway forwards to the lab's resolver.
    const gw = await pod('network', 'inspect', '-f', '{{range .Subnets}}{{.Gateway}}{{end}}', 'app');
    const viaAardvark = await pod('run', '--rm', '--network', 'app', 'bb', 'nslookup', '-type=a', 'web.lab');
    expect(viaAardvark).toContain(`Server:\t\t${gw}`);
    expect(viaAardvark).toContain(`Address: ${FAKE_A}`);
    // Default network (no DNS): the lab's resolver itself.
    const direct = await pod('run', '--rm', 'bb', 'nslookup', '-type=a', 'db.lab');
    expect(direct).toContain(`Server:\t\t${info.dnsAddress}`);
    expect(direct).toContain(`Address: ${FAKE_A}`);
    // Negative beside them: a name outside *.lab gets no address.
    const other = await podRaw('run', '--rm', '--network', 'app', 'bb', 'nslookup', '-type=a', 'web.example');
    expect(other.code).not.toBe(0);
    expect(other.stdout + other.stderr).toMatch(/NXDOMAIN/);
    expect(other.stdout).not.toContain(FAKE_A);
  });

  it('a port published with -p 8080:80 is reached from lab host 2; an unpublished one is not', async () => {
    await timed('podman run -d -p 8080:80', () =>
      pod('run', '-d', '--name', 'web', '-p', '8080:80', '-p', '8082:81', 'bb', 'sh', '-c', 'mkdir -p /www && echo hello-from-podman > /www/index.html && exec httpd -f -p 80 -h /www'),
    );
    const curl = (port: number) => labExec(info, info.hosts[1]!, ['curl', '--noproxy', '*', '-sS', '-m', '3', `http://${info.hosts[0]!.lan4}:${port}/`]);
    let r = await curl(8080);
    // httpd may need a moment after `run -d` returns.
    for (let i = 0; i < 20 && r.code !== 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await curl(8080);
    }
    expect(r.stdout.trim()).toBe('hello-from-podman');
    // Negative: nothing is published on 8081; and 8082 is published but nothing listens on 81.
    const unpublished = await curl(8081);
    expect(unpublished.code).not.toBe(0);
    expect(unpublished.stderr).toMatch(/Connection refused|Couldn't connect|timed out/i);
    expect((await curl(8082)).stdout).not.toContain('hello-from-podman');
  });

  it('podman finds netavark through helper_binaries_dir and hands it setup and teardown with the network options as JSON on stdin', async () => {
    // One more container life cycle so the recorder holds a teardown of a DNS-enabled network.
    await pod('run', '--rm', '--name', 'once', '--network', 'app', 'bb', 'true');
    const calls = readCalls();
    expect(calls.length).toBeGreaterThanOrEqual(2);
    const setup = calls.filter((c) => c.argv.includes('setup'));
    const teardown = calls.filter((c) => c.argv.includes('teardown'));
    expect(setup.length).toBeGreaterThan(0);
    expect(teardown.length).toBeGreaterThan(0);
    for (const c of calls) {
      expect(c.argv.slice(0, 3)).toEqual(['--config', '/run/containers/networks', '--rootless=false']);
      expect(c.argv[3]).toBe(`--aardvark-binary=${PODMAN_HELPERS}/aardvark-dns`);
      expect(['setup', 'teardown']).toContain(c.argv[4]);
      expect(c.argv[5]).toMatch(/^\/run\/netns\/netns-[0-9a-f-]+$/);
      expect(c.argv).toHaveLength(6);
      expect(c.rc).toBe(0);
      expect(c.env.CONTAINERS_CONF).toBe(pm.containersConf);
    }
    const once = setup.find((c) => (c.stdin as { container_name?: string }).container_name === 'once')!;
    expect(once).toBeDefined();
    const opts = once.stdin as { container_id: string; networks: Record<string, { interface_name: string; static_ips: string[]; aliases: string[] }>; network_info: Record<string, { dns_enabled: boolean; driver: string; network_interface: string }> };
    expect(opts.container_id).toMatch(/^[0-9a-f]{64}$/);
    expect(opts.networks.app!.interface_name).toBe('eth0');
    expect(opts.networks.app!.static_ips).toHaveLength(1);
    expect(opts.network_info.app).toMatchObject({ dns_enabled: true, driver: 'bridge' });
    // Netavark answers setup with the interfaces it made, per network.
    const status = once.stdout as Record<string, { interfaces: Record<string, { mac_address: string; subnets: { ipnet: string; gateway: string }[] }> }>;
    expect(status.app!.interfaces.eth0!.subnets[0]!.ipnet).toBe(`${opts.networks.app!.static_ips[0]}/24`);
    const onceDown = teardown.find((c) => (c.stdin as { container_id?: string }).container_id === opts.container_id);
    expect(onceDown?.argv[5]).toBe(once.argv[5]);

    if (process.env.YARD_SAVE_NETAVARK_FIXTURES) {
      fs.mkdirSync(FIXTURES, { recursive: true });
      const mine = new Set(Object.entries(process.env).map(([k, v]) => `${k}=${v}`));
      const save = (file: string, c: Call) => {
        // Only what Podman set or changed in netavark's environment (the rest is the caller's).
        const env = Object.fromEntries(Object.entries(c.env).filter(([k, v]) => !mine.has(`${k}=${v}`) && k !== '_'));
        fs.writeFileSync(path.join(FIXTURES, file), JSON.stringify({ podman: pm.version, argv: ['netavark', ...c.argv], env, stdin: c.stdin, stdout: c.stdout, exitCode: c.rc }, null, 2) + '\n');
      };
      save('setup-dns-network.json', once);
      save('teardown-dns-network.json', onceDown!);
      const dflt = setup.find((c) => Object.keys((c.stdin as { networks: object }).networks).includes('podman'));
      if (dflt) save('setup-default-network.json', dflt);
      const ports = setup.find((c) => (c.stdin as { port_mappings?: unknown[] }).port_mappings?.length);
      if (ports) save('setup-port-mappings.json', ports);
    }
  });

  it('with the CNI backend (lab host 2), containers get addresses from CNI and its state stays in the lab\'s directories', async () => {
    const cni = await timed('podman setup + image, cni backend', () => startPodman(info, 'host2', { networkBackend: 'cni' }));
    const p2 = (...args: string[]) => labPodman(info, 'host2', args);
    expect((await p2('info', '--format', '{{.Host.NetworkBackend}}')).stdout.trim()).toBe('cni');
    expect((await p2('network', 'create', 'capp')).code).toBe(0);
    expect(fs.existsSync(path.join(cni.networkConfigDir, 'capp.conflist'))).toBe(true);
    expect((await p2('run', '-d', '--name', 'k1', '--network', 'capp', 'bb', 'sleep', '300')).code).toBe(0);
    const k1 = (await p2('inspect', '-f', '{{(index .NetworkSettings.Networks "capp").IPAddress}}', 'k1')).stdout.trim();
    expect(k1).toMatch(/^10\.89\.\d+\.\d+$/);
    // Positive: by address over CNI's bridge.
    expect((await p2('run', '--rm', '--network', 'capp', 'bb', 'ping', '-c1', '-W2', k1)).stdout).toContain('1 packets received');
    // Negative beside it: Debian ships no dnsname plugin, so CNI networks have no container names.
    const byName = await p2('run', '--rm', '--network', 'capp', 'bb', 'ping', '-c1', '-W2', 'k1');
    expect(byName.stdout + byName.stderr).toMatch(/bad address 'k1'/);
    // host-local's leases live under /var/lib/cni of Podman's mount namespace only.
    expect(fs.existsSync('/var/lib/cni')).toBe(before.dockerPaths?.includes('/var/lib/cni') ?? false);
    expect(fs.readdirSync(path.join(cni.runDir, 'var-lib', 'upper', 'cni', 'networks'))).toContain('capp');
  });

  it('teardown removes every container, process, mount, cgroup, namespace and directory; the machine is unchanged', async () => {
    const containerPids = (await pod('inspect', '-f', '{{.State.Pid}}', 'c1', 'c2', 'web')).split('\n').map(Number);
    expect(containerPids.every((p) => p > 0 && !processGone(p))).toBe(true);
    const pm2 = info.hosts[1]!.podman!;
    expect(pm2.networkBackend).toBe('cni');
    const inNs = [...findProcesses({ mountNs: pm.mountNs }), ...findProcesses({ mountNs: pm2.mountNs })];
    // Positive control of the leak check: while containers run, it sees them.
    const running = labPodmanLeftovers(pm, pm);
    expect(running.some((l) => /conmon/.test(l))).toBe(true);
    expect(running.some((l) => /aardvark-dns/.test(l))).toBe(true);
    expect(running.some((l) => l.startsWith('cgroup ') && l.includes(pm.cgroupParent))).toBe(true);
    expect(running.some((l) => l.startsWith('directory '))).toBe(true);

    await timed('lab down (3 running containers)', () => labDown(NAME));

    expect(labPodmanLeftovers(pm, pm)).toEqual([]);
    expect(labPodmanLeftovers(pm2, pm2)).toEqual([]);
    for (const pid of [...containerPids, ...inNs]) expect(processGone(pid), `pid ${pid}`).toBe(true);
    expect(findProcesses({ argv: (a) => /(^|\/)(conmon|aardvark-dns|podman)$/.test(a[0] ?? '') && a.join(' ').includes(NAME) })).toEqual([]);
    expect(netnsList().filter((n) => n.startsWith(`${NAME}-`) || n.startsWith('netns-'))).toEqual([]);
    expect(fs.existsSync(path.dirname(pm.runDir))).toBe(false);
    expect(fs.existsSync(path.dirname(pm.dataDir))).toBe(false);
    expect(fs.existsSync(path.dirname(pm2.runDir))).toBe(false);

    const { changed, notes } = compareSnapshots(before, snapshotHost(), undefined);
    // Changes made by other labs running at the same time are only noted; everything of this
    // test, of Podman, and the machine's own network configuration must be unchanged.
    const ours = changed.filter((c) => /^(links|addrs|routes|rules|nft|sysctl)\b/.test(c) || c.includes(NAME) || /podman|conmon|aardvark|libpod|containers|cni|netns-/.test(c));
    if (changed.length > ours.length || notes.length) console.log(`hostcheck (not this test's): ${JSON.stringify({ changed, notes })}`);
    expect(ours).toEqual([]);
  });
});
