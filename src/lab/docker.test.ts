import { describe, expect, it } from 'vitest';
import { containerdConfig, daemonJson, dockerCli, dockerdArgv, dockerPaths, dockerStartScript, shq } from './docker.js';
import type { CgroupMount } from '../kernel/cgroups.js';

const P = dockerPaths('lab7-host2', '/run/switchyard/lab7-host2', '/var/lib/switchyard/labs/lab7');
const CGROUPS: CgroupMount[] = [
  { mountPoint: '/sys/fs/cgroup', fsType: 'tmpfs', options: ['mode=755'] },
  { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', fsType: 'cgroup', options: ['cpu', 'cpuacct'] },
  { mountPoint: '/sys/fs/cgroup/unified', fsType: 'cgroup2', options: [] },
];

describe('lab Docker engine paths', () => {
  it('keeps everything in the host\'s own directories; the plugin socket directory is what the engine sees as /run/docker/plugins', () => {
    expect(P).toMatchObject({
      runRoot: '/run/switchyard/lab7-host2/docker-run',
      socket: '/run/switchyard/lab7-host2/docker-run/docker.sock',
      pluginDir: '/run/switchyard/lab7-host2/docker-run/docker/plugins',
      dataDir: '/var/lib/switchyard/labs/lab7/docker/lab7-host2',
      specDir: '/var/lib/switchyard/labs/lab7/docker/lab7-host2/etc/plugins',
      cgroupParent: '/yard-docker-lab7-host2',
    });
    // Unix socket paths are limited to 107 bytes; the longest lab and plugin names still fit.
    const long = dockerPaths('abcdefghijklmnop-host16', '/run/switchyard/abcdefghijklmnop-host16', '/var/lib/switchyard/labs/abcdefghijklmnop');
    expect(`${long.pluginDir}/switchyard.sock`.length).toBeLessThan(108);
  });

  it('the CLI command line names the socket and a config directory of its own', () => {
    expect(dockerCli(P)).toEqual(['/usr/bin/docker', '--config', `${P.dataDir}/client`, '-H', `unix://${P.socket}`]);
  });
});

describe('dockerd and containerd configuration', () => {
  it('dockerd: own data-root, exec-root, pidfile, socket, containerd, config file; --dns; cgroup parent', () => {
    const argv = dockerdArgv(P, '10.231.0.1', ['--bip', '172.30.0.1/16']);
    const opt = (f: string) => argv[argv.indexOf(f) + 1];
    expect(opt('--data-root')).toBe(`${P.dataDir}/docker`);
    expect(opt('--exec-root')).toBe('/run/docker');
    expect(opt('--pidfile')).toBe('/run/docker.pid');
    expect(opt('--host')).toBe('unix:///run/docker.sock');
    expect(opt('--containerd')).toBe('/run/containerd/containerd.sock');
    expect(opt('--config-file')).toBe(`${P.etcDir}/daemon.json`);
    expect(opt('--dns')).toBe('10.231.0.1');
    expect(opt('--cgroup-parent')).toBe('/yard-docker-lab7-host2');
    expect(argv).toContain('--iptables=true');
    expect(argv.slice(-2)).toEqual(['--bip', '172.30.0.1/16']);
    expect(JSON.parse(daemonJson(P))).toEqual({ 'deprecated-key-path': `${P.etcDir}/key.json` });
  });

  it('containerd: its own root, state, socket and opt directory, no CRI plugin', () => {
    const toml = containerdConfig(P);
    expect(toml).toContain(`root = "${P.dataDir}/containerd"`);
    expect(toml).toContain('state = "/run/containerd"');
    expect(toml).toContain('address = "/run/containerd/containerd.sock"');
    expect(toml).toContain(`path = "${P.dataDir}/containerd/opt"`);
    expect(toml).toContain('disabled_plugins = ["io.containerd.grpc.v1.cri"]');
    expect(toml).not.toMatch(/\/var\/lib\/containerd|\/opt\/containerd/);
  });
});

describe('the start script', () => {
  const script = dockerStartScript(P, CGROUPS, [{ name: 'cpu', target: 'cpu,cpuacct' }], '10.231.0.1');
  const lines = script.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));

  it('stops at the first failing step', () => {
    expect(lines[1]).toMatch(/^#/);
    expect(at(/^set -eu$/)).toBeGreaterThan(0);
    expect(at(/^set -eu$/)).toBeLessThan(at(/^(mkdir .* && )?mount /));
  });

  it('remounts every cgroup hierarchy and link', () => {
    expect(script).toContain('mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup');
    expect(script).toContain('mkdir -p /sys/fs/cgroup/cpu,cpuacct && mount -t cgroup -o cpu,cpuacct cgroup /sys/fs/cgroup/cpu,cpuacct');
    expect(script).toContain('mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified');
    expect(script).toContain('ln -s cpu,cpuacct /sys/fs/cgroup/cpu');
  });

  it('binds its own /etc/docker and /run and proves both before containerd or dockerd start', () => {
    const bindRun = at(/^mount --rbind \/run\/switchyard\/lab7-host2\/docker-run \/run$/);
    const checkRun = at(/^\[ -e \/run\/\.yard-docker-run \] \|\|/);
    const bindEtc = at(/mount --bind \/var\/lib\/switchyard\/labs\/lab7\/docker\/lab7-host2\/etc \/etc\/docker; \[ -e \/etc\/docker\/\.yard-docker-etc \]/);
    const containerd = at(/^\/usr\/bin\/containerd --config /);
    const dockerd = at(/^exec \/usr\/sbin\/dockerd /);
    expect(Math.min(bindRun, checkRun, bindEtc, containerd, dockerd)).toBeGreaterThan(0);
    expect(bindEtc).toBeLessThan(bindRun);
    expect(bindRun).toBeLessThan(checkRun);
    expect(checkRun).toBeLessThan(containerd);
    expect(containerd).toBeLessThan(dockerd);
    expect(dockerd).toBe(lines.length - 2);
    expect(script).not.toMatch(/\/var\/lib\/docker|\/var\/run\/docker/);
  });

  it('binds a shared run directory back at its own path, inside the engine\'s /run, and checks it', () => {
    const withShared = dockerStartScript(P, CGROUPS, [], '10.231.0.1', [], ['/run/switchyard']).split('\n');
    const bindShared = withShared.indexOf('mount --bind /run/switchyard /run/switchyard/lab7-host2/docker-run/switchyard');
    const bindRun = withShared.indexOf('mount --rbind /run/switchyard/lab7-host2/docker-run /run');
    const check = withShared.findIndex((l) => l.startsWith('[ -e /run/switchyard/lab7-host2/docker-run/.yard-docker-run ] ||'));
    expect(bindShared).toBeGreaterThan(0);
    expect(bindShared).toBeLessThan(bindRun);
    expect(bindRun).toBeLessThan(check);
  });

  it('quotes what the shell would split', () => {
    expect(shq('/a/b-c_d.e')).toBe('/a/b-c_d.e');
    expect(shq("it's here")).toBe(`'it'\\''s here'`);
    expect(shq('CMD ["sh"]')).toBe(`'CMD ["sh"]'`);
  });
});
