import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import {
  checkHelperDirs,
  checkNetworkBackend,
  podmanCli,
  podmanContainersConf,
  podmanEnv,
  podmanNsScript,
  podmanPaths,
  podmanRegistriesConf,
  podmanStorageConf,
  withCgroupParent,
} from './podman.js';

const p = podmanPaths('lab-host1', '/run/switchyard/lab-host1', '/var/lib/switchyard/labs/lab');

describe('lab Podman configuration', () => {
  it('keeps everything in the host\'s own directories', () => {
    expect(p.dataDir).toBe('/var/lib/switchyard/labs/lab/podman/lab-host1');
    expect(p.graphRoot).toBe(`${p.dataDir}/storage`);
    expect(p.networkConfigDir).toBe(`${p.dataDir}/networks`);
    expect(p.runDir).toBe('/run/switchyard/lab-host1/podman-run');
    expect(p.mountNsFile).toBe(`${p.runDir}/mnt`);
    expect(p.runRoot).toBe(`${p.runDir}/root`);
    expect(p.cgroupParent).toBe('/yard-podman-lab-host1');
  });

  it('writes a containers.conf with the lab\'s limits, runtime, helper directories and backend, and no dns_servers', () => {
    const conf = podmanContainersConf(p, { networkBackend: 'netavark', helperDirs: checkHelperDirs(['/opt/yard/helpers']) });
    expect(conf).toContain('default_ulimits = ["nofile=10000:10000", "nproc=1000:1000"]');
    expect(conf).toContain('network_backend = "netavark"');
    expect(conf).toContain(`network_config_dir = "${p.networkConfigDir}"`);
    expect(conf).toContain('cgroup_manager = "cgroupfs"');
    expect(conf).toContain('runtime = "runc"');
    expect(conf).toContain('helper_binaries_dir = ["/opt/yard/helpers", "/usr/lib/podman"]');
    expect(conf).toContain('pull_policy = "never"');
    expect(conf).toContain('lock_type = "file"');
    // dns_servers would replace aardvark-dns in every container's resolv.conf.
    expect(conf).not.toContain('dns_servers');
    expect(podmanContainersConf(p, { networkBackend: 'cni', helperDirs: checkHelperDirs([]) })).toContain('network_backend = "cni"');
    expect(podmanStorageConf(p)).toContain(`graphroot = "${p.graphRoot}"`);
    expect(podmanRegistriesConf()).toContain('unqualified-search-registries = []');
  });

  it('runs podman through nsenter into the host and its mount namespace, with the lab\'s configuration files', () => {
    const argv = podmanCli(p);
    expect(argv.slice(0, 5)).toEqual(['nsenter', '--net=/run/netns/lab-host1', `--mount=${p.mountNsFile}`, '--', '/usr/bin/podman']);
    expect(argv).toContain('--root');
    expect(argv[argv.indexOf('--root') + 1]).toBe(p.graphRoot);
    expect(argv[argv.indexOf('--runtime') + 1]).toBe('runc');
    const env = podmanEnv(p, { PATH: '/bin' });
    expect(env).toEqual({ PATH: '/bin', CONTAINERS_CONF: p.containersConf, CONTAINERS_STORAGE_CONF: p.storageConf, CONTAINERS_REGISTRIES_CONF: p.registriesConf });
    const script = podmanNsScript(p, ['/run/switchyard']);
    expect(script).toContain(`mount --bind /run/switchyard ${p.runRoot}/switchyard`);
    expect(script).toContain(`mount --rbind ${p.runRoot} /run`);
    expect(script).toContain(`mount --bind ${p.etcDir}/resolv.conf /etc/resolv.conf`);
    // /var/lib/containers/cache and /var/lib/cni of this namespace are an overlay's, written under runDir.
    expect(script).toContain(`lowerdir=/var/lib,upperdir=${p.runDir}/var-lib/upper`);
    expect(script).toContain(`mount --bind ${p.runDir}/var-lib/keep /var/lib/switchyard`);
    expect(script).not.toContain('/var/lib/cni');
    expect(podmanNsScript(p, [], 'cni')).toContain('mkdir -p /var/lib/cni');
  });

  it('gives run and create the host\'s cgroup parent, and nothing else', () => {
    expect(withCgroupParent(p, ['run', '--rm', 'bb', 'true'])).toEqual(['run', '--cgroup-parent', p.cgroupParent, '--rm', 'bb', 'true']);
    expect(withCgroupParent(p, ['container', 'create', 'bb'])).toEqual(['container', 'create', '--cgroup-parent', p.cgroupParent, 'bb']);
    expect(withCgroupParent(p, ['run', '--cgroup-parent=/x', 'bb'])).toEqual(['run', '--cgroup-parent=/x', 'bb']);
    expect(withCgroupParent(p, ['ps', '-a'])).toEqual(['ps', '-a']);
    // An argument that merely reads "run" later on is no subcommand.
    expect(withCgroupParent(p, ['exec', 'c1', 'run'])).toEqual(['exec', 'c1', 'run']);
  });

  it('rejects a bad backend or helper directory, naming the field', () => {
    expect(checkNetworkBackend(undefined)).toBe('netavark');
    expect(() => checkNetworkBackend('slirp')).toThrow(YardError);
    try {
      checkNetworkBackend('slirp');
    } catch (e) {
      expect((e as YardError).field).toBe('podman.networkBackend');
    }
    expect(() => checkHelperDirs(['relative/dir'])).toThrow(/invalid Podman helper directory/);
    expect(() => checkHelperDirs(['/a"b'])).toThrow(YardError);
  });
});
