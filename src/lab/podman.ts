/**
 * A real Podman (Debian's podman 4.3 with conmon, runc, netavark and aardvark-dns) inside a
 * lab host, as the Podman that later runs Switchyard as its network backend. Podman has no
 * daemon: a lab host's "Podman" is its directories, its configuration and a mount
 * namespace of its own; every `podman` command is run into those.
 *
 * How a command runs: `nsenter --net=/run/netns/<host> --mount=<runDir>/mnt podman
 * <globalArgs> ...` with CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and
 * CONTAINERS_REGISTRIES_CONF at the lab's own files (so neither /etc/containers nor
 * /usr/share/containers of the machine is read; only registries.conf.d drop-ins still are).
 *
 * The mount namespace (`<runDir>/mnt`, a bind mount of the namespace like /run/netns/X is of
 * a network namespace) is made once by `unshare --mount=... --propagation slave`: it sees
 * every mount of the machine, and the machine sees none of its own. In it, `<runDir>/root`
 * is bound over /run, because rootful Podman 4.3 keeps paths under /run that no flag moves:
 * netavark's IPAM database and aardvark-dns's configuration (/run/containers/networks), the
 * containers' network namespaces (/run/netns/netns-<uuid>), runc's state (/run/runc), libpod's
 * tmp_dir (/run/libpod). Likewise /var/lib is an overlay there, for /var/lib/containers/cache
 * and CNI's /var/lib/cni (see podmanNsScript). The lab's run directory (`${RUN_DIR}`) is bound back at its own path,
 * so Switchyard daemons' sockets stay visible. Overlay mounts of container root file systems
 * live in that namespace only and vanish with it. Unlike `ip netns exec`, nsenter does not
 * remount /sys, so cgroups are where runc expects them.
 *
 * Fixed choices, each for a reason: `--runtime runc` (crun 1.8 refuses
 * cgroup v1 hybrid hierarchies), `--cgroup-manager cgroupfs` (no systemd), default_ulimits
 * nofile 10000 and nproc 1000 (Podman's default nofile 1048576 exceeds the hard limit),
 * /etc/resolv.conf = the lab's resolver (see podmanContainersConf), pull_policy never and a registries.conf without search
 * registries (nothing is ever pulled), events to a file, lock_type file (the default SHM lock
 * segment /dev/shm/libpod_lock would be shared with any other Podman). Containers created
 * through `runPodman` go under the cgroup parent `/yard-podman-<host>` (there is no
 * containers.conf key for it; `run` and `create` get `--cgroup-parent`).
 *
 * Netavark is found through helper_binaries_dir (first directory holding `netavark` wins);
 * `helperDirs` put directories before Debian's /usr/lib/podman. Podman 4.3 runs
 * `netavark --config /run/containers/networks --rootless=false --aardvark-binary=<dir>/aardvark-dns
 * setup|teardown /run/netns/netns-<uuid>` with the network options as JSON on stdin.
 *
 * Stopping: `podman rm --force --all --time 0`, then every process left in the mount
 * namespace, in the cgroup parent or naming the host's directories is killed by PID, the
 * namespace and the run directory are unmounted, the cgroups and directories removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { YardError } from '../errors.js';
import { run, type RunResult } from '../kernel/exec.js';
import { cgroupDirs, cgroupTreePids, removeCgroupTrees } from '../kernel/cgroups.js';
import { cmdlineOf, findProcesses, mountsUnder, processesInMountNs, processGone, stopProcesses } from '../kernel/process.js';
import { BUSYBOX, LAB_IMAGE, withBusyboxTar } from './image.js';
import { shq } from './docker.js';

export const PODMAN = '/usr/bin/podman';
export const CONMON = '/usr/bin/conmon';
/** Debian's directory of netavark, aardvark-dns and rootlessport. */
export const PODMAN_HELPERS = '/usr/lib/podman';
export const PODMAN_RUNTIME = 'runc';

export type PodmanNetworkBackend = 'netavark' | 'cni';

const SLOWDOWN = Math.max(1, Math.min(50, Number(process.env.YARD_LAB_SLOWDOWN) || 1));
const CMD_TIMEOUT_MS = 60_000 * SLOWDOWN;
const RUN_MARKER = '.yard-podman-run';

/** Where one lab host's Podman keeps everything (outside paths unless said otherwise). */
export interface PodmanPaths {
  host: string;
  /** Data: storage, network definitions, configuration, the events log. */
  dataDir: string;
  etcDir: string;
  containersConf: string;
  storageConf: string;
  registriesConf: string;
  /** Storage graph root (images, container layers). */
  graphRoot: string;
  /** Network definitions (`--network-config-dir`): `<name>.json` for netavark, `<name>.conflist` for CNI. */
  networkConfigDir: string;
  /** A mount of its own (private), holding the mount namespace file and the namespace's /run. */
  runDir: string;
  /** The mount namespace Podman runs in (bind mount of `/proc/<pid>/ns/mnt`). */
  mountNsFile: string;
  /** Bound over /run inside the mount namespace: `/run/X` inside is `runRoot/X` outside. */
  runRoot: string;
  /** Cgroup parent of the containers (cgroupfs). */
  cgroupParent: string;
  eventsLog: string;
}

export interface LabPodman extends PodmanPaths {
  dns: string;
  networkBackend: PodmanNetworkBackend;
  /** helper_binaries_dir, in order (Debian's /usr/lib/podman last). */
  helperDirs: string[];
  /** `mnt:[inode]` of the mount namespace. */
  mountNs: string;
  version: string;
  /** Milliseconds to make the directories, configuration and mount namespace and answer `podman version`. */
  setupMs: number;
  /** Milliseconds the image import took (0 when skipped). */
  imageMs: number;
}

export interface PodmanStartOptions {
  /** Resolver for containers and aardvark-dns (/etc/resolv.conf of Podman's mount namespace), normally the lab's fake resolver. */
  dns: string;
  /** Default netavark. */
  networkBackend?: PodmanNetworkBackend;
  /** Directories searched for netavark/aardvark-dns before Debian's /usr/lib/podman (absolute, visible outside /run or under a shared run directory). */
  helperDirs?: string[];
  /** Import busybox as `bb` (default true). */
  image?: boolean;
  /** Directories under /run that Podman still sees at their own path (the lab passes its run directory). */
  shareRun?: string[];
  onProgress?: (msg: string) => void;
}

/** Pure: every path of a lab host's Podman. `runDir`: the host's run directory; `labDir`: the lab's data/log directory. */
export function podmanPaths(host: string, hostRunDir: string, labDir: string): PodmanPaths {
  const dataDir = path.join(labDir, 'podman', host);
  const etcDir = path.join(dataDir, 'etc');
  const runDir = path.join(hostRunDir, 'podman-run');
  return {
    host,
    dataDir,
    etcDir,
    containersConf: path.join(etcDir, 'containers.conf'),
    storageConf: path.join(etcDir, 'storage.conf'),
    registriesConf: path.join(etcDir, 'registries.conf'),
    graphRoot: path.join(dataDir, 'storage'),
    networkConfigDir: path.join(dataDir, 'networks'),
    runDir,
    mountNsFile: path.join(runDir, 'mnt'),
    runRoot: path.join(runDir, 'root'),
    cgroupParent: `/yard-podman-${host}`,
    eventsLog: path.join(dataDir, 'events.log'),
  };
}

// ---------------------------------------------------------------- configuration (pure)

const tomlList = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;

export function checkHelperDirs(dirs: string[]): string[] {
  for (const d of dirs) {
    if (!path.isAbsolute(d) || d.includes('"') || d.includes('\n')) {
      throw new YardError('INVALID_ARGUMENT', `invalid Podman helper directory ${JSON.stringify(d)}`, {
        field: 'podman.helperDirs',
        hint: 'use absolute paths without quotes or newlines (a directory holding a netavark executable)',
      });
    }
  }
  return [...dirs, PODMAN_HELPERS];
}

export function checkNetworkBackend(b: string | undefined): PodmanNetworkBackend {
  if (b === undefined) return 'netavark';
  if (b !== 'netavark' && b !== 'cni') {
    throw new YardError('INVALID_ARGUMENT', `invalid Podman network backend ${JSON.stringify(b)}`, {
      field: 'podman.networkBackend',
      hint: 'use "netavark" or "cni"',
    });
  }
  return b;
}

/**
 * No dns_servers: Podman 4.3 would then write only those into every container's resolv.conf
 * and drop the network's aardvark-dns (names of other containers stop resolving). The lab's
 * resolver comes from /etc/resolv.conf of Podman's mount namespace instead (bound to
 * `<etcDir>/resolv.conf`): Podman copies it into containers without a DNS-enabled network,
 * and aardvark-dns forwards to it.
 */
export function podmanContainersConf(p: PodmanPaths, o: { networkBackend: PodmanNetworkBackend; helperDirs: string[] }): string {
  return [
    `# Podman of Switchyard lab host ${p.host}: nothing here is the machine's configuration.`,
    '[containers]',
    // The machine's hard limit is below Podman's default of 1048576 open files.
    'default_ulimits = ["nofile=10000:10000", "nproc=1000:1000"]',
    '',
    '[network]',
    `network_backend = ${JSON.stringify(o.networkBackend)}`,
    `network_config_dir = ${JSON.stringify(p.networkConfigDir)}`,
    'cni_plugin_dirs = ["/usr/lib/cni"]',
    '',
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    `runtime = ${JSON.stringify(PODMAN_RUNTIME)}`,
    `conmon_path = ${tomlList([CONMON])}`,
    `helper_binaries_dir = ${tomlList(o.helperDirs)}`,
    // Inside the mount namespace /run is runRoot.
    'tmp_dir = "/run/libpod"',
    `static_dir = ${JSON.stringify(path.join(p.graphRoot, 'libpod'))}`,
    `volume_path = ${JSON.stringify(path.join(p.graphRoot, 'volumes'))}`,
    'events_logger = "file"',
    `events_logfile_path = ${JSON.stringify(p.eventsLog)}`,
    'lock_type = "file"',
    'pull_policy = "never"',
    '',
  ].join('\n');
}

export function podmanStorageConf(p: PodmanPaths): string {
  return [
    `# Storage of Podman in Switchyard lab host ${p.host}.`,
    '[storage]',
    'driver = "overlay"',
    `graphroot = ${JSON.stringify(p.graphRoot)}`,
    'runroot = "/run/storage"',
    '',
  ].join('\n');
}

/** No search registries: a short name resolves only to local images (`bb` = localhost/bb). */
export function podmanRegistriesConf(): string {
  return ['# Nothing is ever pulled in the lab.', 'unqualified-search-registries = []', 'short-name-mode = "enforcing"', ''].join('\n');
}

/** Global podman flags for this host (they repeat the configuration, so no other file can override them). */
export function podmanGlobalArgs(p: PodmanPaths): string[] {
  return [
    '--root', p.graphRoot,
    '--runroot', '/run/storage',
    '--tmpdir', '/run/libpod',
    '--cgroup-manager', 'cgroupfs',
    '--runtime', PODMAN_RUNTIME,
    '--conmon', CONMON,
    '--network-config-dir', p.networkConfigDir,
    '--events-backend', 'file',
  ];
}

export function podmanEnv(p: PodmanPaths, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, CONTAINERS_CONF: p.containersConf, CONTAINERS_STORAGE_CONF: p.storageConf, CONTAINERS_REGISTRIES_CONF: p.registriesConf };
}

/** The full command line (without the environment of podmanEnv): nsenter into the host's network and Podman's mount namespace. */
export function podmanCli(p: PodmanPaths): string[] {
  return ['nsenter', `--net=/run/netns/${p.host}`, `--mount=${p.mountNsFile}`, '--', PODMAN, ...podmanGlobalArgs(p)];
}

/** `run` and `create` get the host's cgroup parent unless the caller chose one. */
export function withCgroupParent(p: PodmanPaths, args: string[]): string[] {
  const [cmd, ...rest] = args;
  const sub = cmd === 'container' ? rest[0] : cmd;
  if ((sub !== 'run' && sub !== 'create') || args.some((a) => a === '--cgroup-parent' || a.startsWith('--cgroup-parent='))) return args;
  const at = cmd === 'container' ? 2 : 1;
  return [...args.slice(0, at), '--cgroup-parent', p.cgroupParent, ...args.slice(at)];
}

/** The script run under `unshare --mount=<mnt> --propagation slave`: Podman's own /run with shared directories bound back. */
export function podmanNsScript(p: PodmanPaths, shared: string[], backend: PodmanNetworkBackend = 'netavark'): string {
  const q = shq;
  const resolv = path.join(p.etcDir, 'resolv.conf');
  // Paths under /var/lib that no Podman setting moves: the image blob-info cache
  // (/var/lib/containers/cache, written by every import or pull) and, with CNI, host-local's
  // IPAM leases and CNI's result cache (/var/lib/cni). In this namespace /var/lib is an
  // overlay whose writes land in runDir, with the lab's own data directory (where the
  // storage lives) bound back through it.
  const varLib = path.join(p.runDir, 'var-lib');
  const keep = p.dataDir.startsWith('/var/lib/') ? path.join('/var/lib', p.dataDir.split('/')[3]!) : undefined;
  const overlay = [
    `mkdir -p ${q(`${varLib}/upper`)} ${q(`${varLib}/work`)}`,
    ...(keep ? [`mkdir -p ${q(`${varLib}/keep`)}`, `mount --bind ${q(keep)} ${q(`${varLib}/keep`)}`] : []),
    `mount -t overlay overlay -o ${q(`lowerdir=/var/lib,upperdir=${varLib}/upper,workdir=${varLib}/work`)} /var/lib`,
    ...(keep ? [`mount --bind ${q(`${varLib}/keep`)} ${q(keep)}`, `[ -d ${q(p.dataDir)} ] || { echo "yard: ${p.dataDir} is not visible" >&2; exit 1; }`] : []),
    ...(backend === 'cni' ? ['mkdir -p /var/lib/cni'] : []),
  ];
  return [
    'set -eu',
    ...overlay,
    // What `ip netns exec` does with /etc/netns/<host>/resolv.conf: the lab's resolver only.
    `mount --bind ${q(resolv)} /etc/resolv.conf`,
    `grep -q '^nameserver' /etc/resolv.conf || { echo "yard: /etc/resolv.conf is not ${resolv}" >&2; exit 1; }`,
    ...shared.flatMap((dir) => {
      const inRoot = path.join(p.runRoot, path.relative('/run', dir));
      return [`mkdir -p ${q(inRoot)}`, `mount --bind ${q(dir)} ${q(inRoot)}`];
    }),
    `mount --rbind ${q(p.runRoot)} /run`,
    `[ -e /run/${RUN_MARKER} ] || { echo "yard: /run is not ${p.runRoot}" >&2; exit 1; }`,
    ...shared.map((dir) => `[ -d ${q(dir)} ] || { echo "yard: ${dir} is not visible" >&2; exit 1; }`),
  ].join('\n');
}

// ---------------------------------------------------------------- start

function requirePodman(backend: PodmanNetworkBackend): void {
  const need = [PODMAN, CONMON, BUSYBOX, 'nsenter', 'unshare'].filter((f) => f.startsWith('/'));
  if (backend === 'netavark') need.push(path.join(PODMAN_HELPERS, 'netavark'), path.join(PODMAN_HELPERS, 'aardvark-dns'));
  else need.push('/usr/lib/cni/bridge');
  const missing = need.filter((f) => !fs.existsSync(f));
  if (!['/usr/sbin/runc', '/usr/bin/runc'].some((f) => fs.existsSync(f))) missing.push('runc');
  if (missing.length) {
    throw new YardError('INTERNAL', `the lab's Podman needs ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} missing`, {
      hint: 'install Debian\'s podman, conmon, runc, netavark, aardvark-dns, containernetworking-plugins and busybox-static: bash scripts/setup.sh',
    });
  }
}

const nsIdentity = (file: string): string | undefined => {
  try {
    const st = fs.statSync(file);
    // A bound namespace file lives on nsfs (its device differs from the directory's).
    return st.dev !== fs.statSync(path.dirname(file)).dev ? `mnt:[${st.ino}]` : undefined;
  } catch {
    return undefined;
  }
};

const isMountPoint = (dir: string): boolean => {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
  } catch {
    return false;
  }
};

async function must(cmd: string, args: string[], what: string): Promise<void> {
  const r = await run(cmd, args, { timeoutMs: 15_000 });
  if (r.code !== 0) throw new YardError('KERNEL_FAILED', `${what}: ${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`, { hint: 'the lab host\'s Podman was removed again; run it once more' });
}

/**
 * Prepare Podman in lab host `p.host` (a network namespace that exists): configuration,
 * directories, its mount namespace; check `podman version` and import `bb`. On failure
 * everything made is removed again before the error is thrown.
 */
export async function startLabPodman(p: PodmanPaths, opts: PodmanStartOptions): Promise<LabPodman> {
  const networkBackend = checkNetworkBackend(opts.networkBackend);
  const helperDirs = checkHelperDirs(opts.helperDirs ?? []);
  requirePodman(networkBackend);
  const progress = opts.onProgress ?? (() => {});
  if (!fs.existsSync(`/run/netns/${p.host}`)) {
    throw new YardError('LAB_HOST_NOT_FOUND', `lab host ${p.host} has no network namespace`, { field: 'HOST', hint: 'bring the lab up first: yard lab up' });
  }
  if (fs.existsSync(p.runDir) || fs.existsSync(p.dataDir)) await cleanupLabPodman(p);
  const t0 = Date.now();
  try {
    for (const d of [p.etcDir, p.graphRoot, p.networkConfigDir, p.runDir]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(p.containersConf, podmanContainersConf(p, { networkBackend, helperDirs }));
    fs.writeFileSync(path.join(p.etcDir, 'resolv.conf'), `nameserver ${opts.dns}\n`);
    fs.writeFileSync(p.storageConf, podmanStorageConf(p));
    fs.writeFileSync(p.registriesConf, podmanRegistriesConf());
    // A namespace file can only be bound on a mount that does not propagate (as /run/netns).
    await must('mount', ['--bind', p.runDir, p.runDir], 'Podman\'s run directory');
    await must('mount', ['--make-private', p.runDir], 'Podman\'s run directory');
    fs.mkdirSync(p.runRoot, { recursive: true });
    fs.writeFileSync(path.join(p.runRoot, RUN_MARKER), '');
    fs.writeFileSync(p.mountNsFile, '');
    const shared = (opts.shareRun ?? []).map((d) => path.resolve(d)).filter((d) => d.startsWith('/run/'));
    for (const d of shared) fs.mkdirSync(d, { recursive: true });
    await must('unshare', [`--mount=${p.mountNsFile}`, '--propagation', 'slave', '/bin/sh', '-c', podmanNsScript(p, shared, networkBackend)], 'Podman\'s mount namespace');
    const mountNs = nsIdentity(p.mountNsFile);
    if (!mountNs) throw new YardError('KERNEL_FAILED', `Podman's mount namespace of lab host ${p.host} was not bound at ${p.mountNsFile}`, { hint: 'check that unshare --mount=FILE works here' });
    const v = await runPodman(p, ['version', '--format', '{{.Client.Version}}']);
    if (v.code !== 0) throw new YardError('INTERNAL', `podman does not run in lab host ${p.host}: ${v.stderr.trim()}`, { hint: 'run `yard lab podman HOST -- info` to see why' });
    const pm: LabPodman = { ...p, dns: opts.dns, networkBackend, helperDirs, mountNs, version: v.stdout.trim(), setupMs: Date.now() - t0, imageMs: 0 };
    progress(`${p.host}: podman ${pm.version} ready (${networkBackend}, ${pm.setupMs} ms), data ${p.dataDir}`);
    if (opts.image !== false) {
      const t1 = Date.now();
      await importPodmanBusybox(pm);
      pm.imageMs = Date.now() - t1;
      progress(`${p.host}: image ${LAB_IMAGE} imported into podman (${pm.imageMs} ms)`);
    }
    return pm;
  } catch (e) {
    await cleanupLabPodman(p).catch(() => {});
    throw e;
  }
}

/** busybox as the image `bb` (localhost/bb), through `podman import`. */
export async function importPodmanBusybox(p: PodmanPaths): Promise<void> {
  await withBusyboxTar(p.dataDir, async (tar) => {
    const r = await runPodman(p, ['import', '--quiet', '--change', 'CMD ["sh"]', tar, LAB_IMAGE]);
    if (r.code !== 0) {
      throw new YardError('INTERNAL', `podman import of ${LAB_IMAGE} into lab host ${p.host} failed: ${r.stderr.trim()}`, { hint: 'run `yard lab podman HOST -- info` to see why' });
    }
  });
}

/** Run podman for this host (inside its network and mount namespace), always with a timeout. */
export function runPodman(p: PodmanPaths, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const [cmd, ...rest] = podmanCli(p);
  return run(cmd!, [...rest, ...withCgroupParent(p, args)], { input: opts.input, timeoutMs: opts.timeoutMs ?? CMD_TIMEOUT_MS, env: podmanEnv(p, opts.env) });
}

// ---------------------------------------------------------------- stop

/** Processes that can only be this Podman's: in its mount namespace, its cgroup parent, or naming its directories. */
function podmanPids(p: PodmanPaths, mountNs: string | undefined): number[] {
  const names = (a: string[]) => a.some((x) => x.includes(`${p.dataDir}/`) || x.includes(`${p.runDir}/`));
  const pids = new Set<number>([...findProcesses({ argv: names }), ...cgroupTreePids(cgroupDirs(p.cgroupParent))]);
  // (Only processes that see this Podman's /run: a mount namespace's number is soon reused.)
  if (mountNs) for (const pid of processesInMountNs(mountNs, `/${path.basename(path.dirname(p.runDir))}/${path.basename(p.runDir)}/${path.basename(p.runRoot)}`)) pids.add(pid);
  return [...pids];
}

/**
 * Remove one host's Podman: its containers (through podman), then by PID whatever of it
 * still runs (conmon, container processes, aardvark-dns), the mount namespace, the cgroups
 * and the directories. Works without a record (after a crash). Returns what could not be
 * removed (empty = clean). Idempotent.
 */
export async function cleanupLabPodman(p: PodmanPaths): Promise<string[]> {
  const problems: string[] = [];
  const mountNs = nsIdentity(p.mountNsFile);
  if (mountNs && fs.existsSync(`/run/netns/${p.host}`) && fs.existsSync(PODMAN)) {
    const r = await runPodman(p, ['rm', '--force', '--all', '--time', '0'], { timeoutMs: 60_000 * SLOWDOWN });
    if (r.code !== 0) problems.push(`podman rm --all: ${r.stderr.trim().split('\n').slice(-1)[0]}`);
  }
  // Whatever is left runs without anyone waiting for it: SIGTERM then SIGKILL, by PID.
  await stopProcesses(podmanPids(p, mountNs), 3_000);
  if (fs.existsSync(p.mountNsFile) && nsIdentity(p.mountNsFile)) {
    const r = await run('umount', [p.mountNsFile], { timeoutMs: 10_000 });
    if (r.code !== 0) problems.push(`umount ${p.mountNsFile}: ${r.stderr.trim()}`);
  }
  // The self-bind of the run directory (possibly stacked after an interrupted start).
  for (let i = 0; i < 5 && isMountPoint(p.runDir); i++) {
    const r = await run('umount', [p.runDir], { timeoutMs: 10_000 });
    if (r.code !== 0) {
      problems.push(`umount ${p.runDir}: ${r.stderr.trim()}`);
      break;
    }
  }
  for (const d of await removeCgroupTrees(cgroupDirs(p.cgroupParent))) problems.push(`cgroup ${d} could not be removed`);
  const remove = (target: string) => {
    try {
      fs.rmSync(target, { recursive: true, force: true });
    } catch (e) {
      problems.push(`${target}: ${(e as Error).message}`);
    }
  };
  // Guarded: only directories named after this host's Podman.
  if (path.basename(p.dataDir) === p.host) remove(p.dataDir);
  if (path.basename(p.runDir) === 'podman-run' && !isMountPoint(p.runDir)) remove(p.runDir);
  return problems;
}

/**
 * What of this host's Podman is still on the machine: processes (in its mount namespace,
 * its cgroup parent, naming its directories), cgroups, mounts anywhere involving its
 * directories, the directories. Empty after a clean stop.
 */
export function labPodmanLeftovers(p: PodmanPaths, rec: Partial<Pick<LabPodman, 'mountNs'>> = {}): string[] {
  const out: string[] = [];
  for (const pid of podmanPids(p, rec.mountNs ?? nsIdentity(p.mountNsFile))) {
    out.push(`process ${pid} (${cmdlineOf(pid).join(' ').slice(0, 120)}) is Podman's of ${p.host}`);
  }
  for (const d of cgroupDirs(p.cgroupParent)) out.push(`cgroup ${d} exists`);
  for (const m of mountsUnder([p.runDir, p.dataDir])) out.push(`mount ${m}`);
  for (const d of [p.runDir, p.dataDir]) if (fs.existsSync(d)) out.push(`directory ${d} exists`);
  return [...new Set(out)].filter((l) => !l.startsWith('process ') || !processGone(Number(l.split(' ')[1])));
}
