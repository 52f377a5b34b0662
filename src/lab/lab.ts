/**
 * The lab: an isolated LAN and N "hosts", each a network namespace, so that several
 * Switchyard daemons (one per host) can be driven on one machine without touching the
 * machine's real network namespace.
 *
 *   LAN namespace (`yardlan`, or `<name>-lan`)
 *     br0  10.231.0.1/24  fd00:231::1/64   + the fake upstream resolver on :53 (fake-dns.ts)
 *     p<i> -- veth --> host i (`host<i>`, or `<name>-host<i>`)
 *                        lan0  10.231.0.(1+i)/24  fd00:231::(1+i)/64, forwarding on, NO default route
 *
 * Safety: every link is created inside a lab namespace (the veth is created in the LAN
 * namespace with its peer sent straight into the host's), no sysctl is written outside one,
 * and every process is started through `ip netns exec`. Teardown finds everything by name,
 * so it works after a crash half-way through `labUp` or without the state file.
 *
 * State: `${RUN_DIR}/labs/<name>.json`; logs: `${LIB_DIR}/labs/<name>/`. Each host's daemon
 * uses its instance's default state dir and socket (paths.ts), its instance name being the
 * host's namespace name.
 *
 * With `docker`, each host also runs a real Docker engine (src/lab/docker.ts): data under
 * `${LIB_DIR}/labs/<name>/docker/<host>/`, its /run at `${RUN_DIR}/<host>/docker-run/`
 * (socket `docker.sock`, plugin sockets `docker/plugins/<plugin>.sock`), containers in
 * cgroup `/yard-docker-<host>`. `labDown` stops it before anything else in the host.
 *
 * With `podman`, each host also gets a real Podman (src/lab/podman.ts; no daemon): data and
 * configuration under `${LIB_DIR}/labs/<name>/podman/<host>/`, its mount namespace and /run
 * under `${RUN_DIR}/<host>/podman-run/`, containers in cgroup `/yard-podman-<host>`.
 * `labDown` removes its containers and directories first as well.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { YardError } from '../errors.js';
import { ipBatchLines, run } from '../kernel/exec.js';
import { listNetns } from '../kernel/observe.js';
import { cmdlineOf, netnsPids, processGone, stopProcesses as stopPids } from '../kernel/process.js';

export { processGone };
import { spawnDetached } from './spawn.js';
import { DAEMON_GLIBC_TUNABLES } from '../daemon/tunables.js';
import { restartEtcdMember, startLabEtcd, stopLabEtcd, type EtcdMember, type LabEtcd } from './etcd.js';
import { startLabDhcp, stopLabDhcp, type LabDhcp, type LabDhcpOptions } from './dhcp.js';
import { cgroupDirs } from '../kernel/cgroups.js';
import { cleanupLabDocker, dockerCli, dockerPaths, runDocker, shq, startLabDocker, stopLabDocker, type DockerPaths, type LabDocker } from './docker.js';
import { cleanupLabPodman, podmanCli, podmanEnv, podmanPaths, runPodman, startLabPodman, type LabPodman, type PodmanNetworkBackend, type PodmanPaths } from './podman.js';
import {
  BIN_DIR,
  CLI_ENTRY,
  LIB_DIR,
  PACKAGE_ROOT,
  RUN_DIR,
  sandboxNetnsPrefix,
  socketPathFor,
  stateDirFor,
} from '../paths.js';

export interface LabHost {
  /** Network namespace name, also the host daemon's instance name. */
  name: string;
  index: number;
  lan4: string;
  lan6: string;
  socket: string;
  stateDir: string;
  daemonPid?: number;
  logFile: string;
  /** The host's real Docker engine, when the lab was brought up with `docker` (src/lab/docker.ts). */
  docker?: LabDocker;
  /** The host's real Podman, when the lab was brought up with `podman` (src/lab/podman.ts). */
  podman?: LabPodman;
}

export interface LabInfo {
  name: string;
  lanNs: string;
  bridge: 'br0';
  subnet4: '10.231.0.0/24';
  gateway4: '10.231.0.1';
  subnet6: 'fd00:231::/64';
  gateway6: 'fd00:231::1';
  dnsAddress: '10.231.0.1';
  mtu: number;
  hosts: LabHost[];
  fakeDnsPid?: number;
  /** Extra `yard daemon` arguments the hosts' daemons were started with (restartDaemon reuses them). */
  daemonArgs?: string[];
  /** The lab's etcd (cluster store of overlay networks), when started with `cluster`. */
  etcd?: LabEtcd;
  /** The LAN's DHCP server (dnsmasq), when started with `dhcp`. */
  dhcp?: LabDhcp;
  dir: string;
  created: string;
}

export interface LabUpOptions {
  name?: string;
  /** 1..16, default 3. */
  hosts?: number;
  /** Start a `yard daemon` in every host (default true). */
  daemons?: boolean;
  /**
   * Start daemons only in the first N hosts (default: all); the others are plain machines
   * on the LAN. The VM lab's second host needs none, and every Node start costs ~1 min
   * under TCG on one vCPU.
   */
  daemonHosts?: number;
  /** Extra arguments for every host's `yard daemon`. */
  daemonArgs?: string[];
  /** MTU of the LAN (bridge and veths), default 1500. */
  mtu?: number;
  /**
   * Run etcd in the LAN namespace and start the daemons with `--cluster-store` and
   * `--cluster-advertise lan0` (overlay networks). Default off here (fast labs for tests);
   * `yard lab up` turns it on. `{ members: 3 }` starts a 3-member etcd cluster.
   */
  cluster?: boolean | { members: 1 | 3 };
  /**
   * Run a DHCP server (dnsmasq) on the LAN, handing out 10.231.0.100-199 with the lab's
   * gateway and resolver, for `--ipam-driver dhcp` networks. Default off.
   */
  dhcp?: boolean | LabDhcpOptions;
  /**
   * Also run a real Docker engine (Debian's dockerd 20.10 and its own containerd) in the
   * hosts, with `--dns` at the lab's resolver and the image `bb` (busybox) imported.
   * `true`: every host; `{ hosts: N }`: the first N. Default off.
   */
  docker?: boolean | LabDockerOptions;
  /**
   * Also set up a real Podman (Debian's podman 4.3, netavark, aardvark-dns, runc) in the
   * hosts, with dns_servers at the lab's resolver and the image `bb` imported.
   * `true`: every host; `{ hosts: N }`: the first N. Default off.
   */
  podman?: boolean | LabPodmanOptions;
  onProgress?: (msg: string) => void;
}

export interface LabPodmanOptions {
  /** Set up Podman in the first N hosts (default: all). */
  hosts?: number;
  /** netavark (default) or cni. */
  networkBackend?: PodmanNetworkBackend;
  /** Directories searched for netavark and aardvark-dns before Debian's /usr/lib/podman. */
  helperDirs?: string[];
  /**
   * Switchyard is Podman's network backend: its netavark-compatible executable, talking to
   * the host's daemon, comes first in helper_binaries_dir (netavark backend only).
   */
  switchyard?: boolean;
  /** Import the `bb` image (default true). */
  image?: boolean;
}

export interface LabDockerOptions {
  /** Start engines in the first N hosts (default: all). */
  hosts?: number;
  /** Extra dockerd arguments, e.g. `--bip 172.30.0.1/16`. */
  dockerdArgs?: string[];
  /** Import the `bb` image (default true). */
  image?: boolean;
}

export interface LabDownOptions {
  onProgress?: (msg: string) => void;
  /** Keep the lab's log directory (labUp keeps it when it tears down after a failure). */
  keepLogs?: boolean;
}

export const DEFAULT_LAB = 'lab';
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,15}$/;
const MAX_HOSTS = 16;
const FAKE_DNS_ENTRY = path.join(PACKAGE_ROOT, 'dist', 'lab', 'fake-dns.js');
// A lab outlives no working day: the resolver exits by itself even if nobody takes the lab down.
const FAKE_DNS_MAX_SECONDS = 14_400;
// Under software emulation (the VM lab, src/lab/vm.ts) a Node start-up takes seconds, not
// 100 ms: the runner sets YARD_LAB_SLOWDOWN so the lab's start-up waits stretch to match.
const SLOWDOWN = Math.max(1, Math.min(50, Number(process.env.YARD_LAB_SLOWDOWN) || 1));
const PING_TIMEOUT_MS = 20_000 * SLOWDOWN;
const NETNS_DIR = '/run/netns';

const LAN = {
  bridge: 'br0',
  subnet4: '10.231.0.0/24',
  gateway4: '10.231.0.1',
  subnet6: 'fd00:231::/64',
  gateway6: 'fd00:231::1',
  dnsAddress: '10.231.0.1',
} as const;

const lanNsOf = (lab: string) => (lab === DEFAULT_LAB ? 'yardlan' : `${lab}-lan`);
const hostNsOf = (lab: string, i: number) => (lab === DEFAULT_LAB ? `host${i}` : `${lab}-host${i}`);
const hostNsRe = (lab: string) => new RegExp(`^${lab === DEFAULT_LAB ? '' : `${lab}-`}host([0-9]+)$`);
const statePath = (lab: string) => path.join(RUN_DIR, 'labs', `${lab}.json`);
const labDirOf = (lab: string) => path.join(LIB_DIR, 'labs', lab);

// ---------------------------------------------------------------- validation

function checkName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new YardError('INVALID_ARGUMENT', `invalid lab --name ${JSON.stringify(name)}`, {
      field: '--name',
      hint: 'use 1 to 16 characters of [a-z0-9-], starting with a letter or digit (namespace and link names must stay short)',
    });
  }
  // `host<N>` would make the default lab's host N claim this lab's sandbox namespaces
  // (both start with `yard-host<N>-`) at teardown.
  if (/^host[0-9]+$/.test(name)) {
    throw new YardError('INVALID_ARGUMENT', `invalid lab --name ${name}: host<N> is the name of a default lab host`, {
      field: '--name',
      hint: 'choose another name',
    });
  }
  return name;
}

function checkInt(value: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new YardError('INVALID_ARGUMENT', `invalid ${field} ${value}`, {
      field,
      hint: `use a whole number from ${min} to ${max}`,
    });
  }
  return value;
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new YardError('NOT_ROOT', 'the lab creates network namespaces and needs root', {
      hint: 'run it as root (e.g. sudo yard lab ...)',
    });
  }
}

// ---------------------------------------------------------------- small helpers

async function ipBatch(globalArgs: string[], lines: string[], force = false): Promise<void> {
  const r = await ipBatchLines(globalArgs, lines, force);
  if (r.code !== 0 && !force) {
    throw new YardError('KERNEL_FAILED', `ip ${globalArgs.join(' ')} -batch failed: ${r.stderr.trim()}`, {
      hint: 'the lab was taken down again; check `ip netns list` for leftovers and run `yard lab down`',
    });
  }
}

async function mustRun(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args, { timeoutMs: 15_000 });
  if (r.code !== 0) {
    throw new YardError('KERNEL_FAILED', `${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`, {
      hint: 'the lab was taken down again; run `yard lab up` once more',
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function logTail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `  | ${l}`).join('\n');
  } catch {
    return '  | (no log)';
  }
}

function writeState(info: LabInfo): void {
  const file = statePath(info.name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(info, null, 2) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

function readState(name: string): LabInfo | null {
  try {
    return JSON.parse(fs.readFileSync(statePath(name), 'utf8')) as LabInfo;
  } catch {
    return null;
  }
}

function ping(socket: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: '/_ping', timeout: 1_000, headers: { Host: 'switchyard' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

// ---------------------------------------------------------------- up

export async function labUp(opts: LabUpOptions = {}): Promise<LabInfo> {
  const name = checkName(opts.name ?? DEFAULT_LAB);
  const count = checkInt(opts.hosts ?? 3, '--hosts', 1, MAX_HOSTS);
  // IPv6 needs 1280; 9000 is the usual jumbo ceiling.
  const mtu = checkInt(opts.mtu ?? 1500, '--mtu', 1280, 9000);
  const daemons = opts.daemons !== false;
  const progress = opts.onProgress ?? (() => {});
  requireRoot();
  for (const [file, what] of [[FAKE_DNS_ENTRY, 'the fake resolver'], ...(daemons ? [[CLI_ENTRY, 'the yard CLI']] : [])]) {
    if (!fs.existsSync(file)) {
      throw new YardError('INTERNAL', `${what} is not built: ${file} is missing`, { hint: 'build first: npm run build' });
    }
  }

  const lanNs = lanNsOf(name);
  const existing = listNetns().filter((ns) => ns === lanNs || hostNsRe(name).test(ns));
  if (readState(name) || existing.length) {
    throw new YardError('LAB_EXISTS', `lab ${name} is already up${existing.length ? ` (namespaces: ${existing.join(', ')})` : ''}`, {
      hint: `take it down first: yard lab down${name === DEFAULT_LAB ? '' : ` --name ${name}`}`,
    });
  }

  const dir = labDirOf(name);
  const hosts: LabHost[] = Array.from({ length: count }, (_, k) => {
    const index = k + 1;
    const host = hostNsOf(name, index);
    return {
      name: host,
      index,
      lan4: `10.231.0.${1 + index}`,
      // Same digits as the IPv4 address (host 9 is ...::10 and 10.231.0.10), for readability.
      lan6: `fd00:231::${1 + index}`,
      socket: socketPathFor(host),
      stateDir: stateDirFor(host),
      logFile: path.join(dir, `${host}.log`),
    };
  });
  const info: LabInfo = { name, lanNs, ...LAN, mtu, hosts, dir, created: new Date().toISOString() };

  try {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    writeState(info);
    await buildNetwork(info, progress);

    const dnsLog = path.join(dir, 'fake-dns.log');
    info.fakeDnsPid = await spawnDetached(
      ['ip', 'netns', 'exec', lanNs, process.execPath, FAKE_DNS_ENTRY,
        '--listen', `${LAN.gateway4},${LAN.gateway6}`, '--max-seconds', String(FAKE_DNS_MAX_SECONDS)],
      dnsLog,
      process.env,
    );
    writeState(info);
    await waitFakeDns(info.fakeDnsPid, dnsLog);
    progress(`fake resolver on ${LAN.dnsAddress}:53 and [${LAN.gateway6}]:53 (pid ${info.fakeDnsPid})`);

    if (opts.cluster) {
      const members = typeof opts.cluster === 'object' ? opts.cluster.members : 1;
      info.etcd = await startLabEtcd(lanNs, LAN.gateway4, dir, members);
      writeState(info);
      progress(`etcd (${members} member${members > 1 ? 's' : ''}) at ${info.etcd.store} (pid ${info.etcd.members.map((m) => m.pid).join(', ')})`);
    }

    if (opts.dhcp) {
      info.dhcp = await startLabDhcp(lanNs, LAN.bridge, LAN.dnsAddress, dir, opts.dhcp === true ? {} : opts.dhcp);
      writeState(info);
      progress(`DHCP server (dnsmasq, pid ${info.dhcp.pid}) on ${LAN.bridge}: ${info.dhcp.range.join('-')}, leases of ${info.dhcp.leaseSeconds} s`);
    }

    if (daemons) {
      const clusterArgs = info.etcd ? ['--cluster-store', info.etcd.store, '--cluster-advertise', 'lan0'] : [];
      if (opts.daemonArgs?.length || clusterArgs.length) info.daemonArgs = [...clusterArgs, ...(opts.daemonArgs ?? [])];
      const withDaemon = hosts.slice(0, opts.daemonHosts ?? count);
      for (const h of withDaemon) {
        h.daemonPid = await spawnHostDaemon(info, h);
        progress(`${h.name}: daemon started (pid ${h.daemonPid}), waiting for GET /_ping`);
      }
      writeState(info);
      await Promise.all(withDaemon.map((h) => waitDaemon(h, progress)));
    }
    if (opts.docker) {
      const d = opts.docker === true ? {} : opts.docker;
      const n = checkInt(d.hosts ?? count, 'docker.hosts', 1, count);
      // One at a time: each start is CPU-bound for a few seconds.
      for (const h of hosts.slice(0, n)) {
        await startDocker(info, h, { dockerdArgs: d.dockerdArgs, image: d.image, onProgress: progress });
      }
    }
    if (opts.podman) {
      const o = opts.podman === true ? {} : opts.podman;
      const n = checkInt(o.hosts ?? count, 'podman.hosts', 1, count);
      for (const h of hosts.slice(0, n)) await startPodman(info, h, { ...o, onProgress: progress });
    }
    writeState(info);
    return info;
  } catch (e) {
    progress(`lab up failed; taking lab ${name} down again (logs kept in ${dir})`);
    await labDown(name, { keepLogs: true }).catch(() => {});
    throw e;
  }
}

function spawnHostDaemon(info: LabInfo, h: LabHost): Promise<number> {
  return spawnDetached(
    // nsenter switches only the network namespace. `ip netns exec` would also give the
    // daemon a private mount namespace, and the sandbox namespaces it then mounts
    // under /run/netns would be invisible to every other process.
    ['nsenter', `--net=/run/netns/${h.name}`, process.execPath, CLI_ENTRY,
      'daemon', '--instance', h.name, '--dns', LAN.dnsAddress,
      // The plugin sockets where this host's dockerd (if any) sees /run/docker/plugins.
      '--docker-plugin-dir', dockerPathsOf(info.name, h.name).pluginDir, ...(info.daemonArgs ?? [])],
    h.logFile,
    // One malloc arena from the start, as `bin/yard daemon` does (daemon/tunables.ts).
    { ...labEnv(info, h), ...(process.env.GLIBC_TUNABLES === undefined ? { GLIBC_TUNABLES: DAEMON_GLIBC_TUNABLES } : {}) },
  );
}

/** Stop the lab's DHCP server (a server outage); its lease file stays. */
export async function labDhcpStop(info: LabInfo): Promise<void> {
  requireRoot();
  if (info.dhcp) await stopLabDhcp(info.dhcp);
}

/** Start the lab's DHCP server again with the same settings and lease file (it remembers its leases). */
export async function labDhcpStart(info: LabInfo): Promise<LabDhcp> {
  requireRoot();
  if (!info.dhcp) throw new YardError('INVALID_ARGUMENT', `lab ${info.name} was brought up without a DHCP server`, { field: '--dhcp', hint: 'bring the lab up with --dhcp' });
  const { leaseSeconds, renewSeconds } = info.dhcp;
  info.dhcp = await startLabDhcp(info.lanNs, LAN.bridge, LAN.dnsAddress, info.dir, { leaseSeconds, renewSeconds }, true);
  writeState(info);
  return info.dhcp;
}

/**
 * Start a host's daemon again exactly as labUp did (same command, same log file, appended),
 * after stopping the recorded one if it still runs; waits for GET /_ping. For crash and
 * restart tests: kill the daemon any way you like first, then call this.
 */
export async function restartDaemon(info: LabInfo, host: LabHost | string, opts: { onProgress?: (msg: string) => void } = {}): Promise<LabHost> {
  requireRoot();
  // The record inside `info` is the one written back to the lab state.
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  if (h.daemonPid && !processGone(h.daemonPid)) {
    const cmd = cmdlineOf(h.daemonPid);
    if (cmd.includes('daemon') && cmd.includes(h.name)) await stopPids([h.daemonPid], 5_000);
  }
  h.daemonPid = await spawnHostDaemon(info, h);
  writeState(info);
  if (typeof host !== 'string') host.daemonPid = h.daemonPid;
  await waitDaemon(h, opts.onProgress ?? (() => {}));
  return h;
}

async function buildNetwork(info: LabInfo, progress: (msg: string) => void): Promise<void> {
  const t0 = Date.now();
  const { lanNs, hosts, mtu } = info;
  await ipBatch([], [`netns add ${lanNs}`, ...hosts.map((h) => `netns add ${h.name}`)]);

  // Everything below runs inside the lab's namespaces: the veth is born in the LAN
  // namespace and its peer goes straight into the host's, never through the real one.
  await ipBatch(['-n', lanNs], [
    'link set lo up',
    // No STP delay, and no multicast snooping: the LAN should behave like a dumb switch,
    // so neighbour discovery and VXLAN multicast never wait on MLD/IGMP state.
    `link add ${LAN.bridge} mtu ${mtu} type bridge forward_delay 0 stp_state 0 mcast_snooping 0`,
    `addr add ${LAN.gateway4}/24 dev ${LAN.bridge}`,
    `addr add ${LAN.gateway6}/64 dev ${LAN.bridge} nodad`,
    `link set ${LAN.bridge} up`,
    ...hosts.flatMap((h) => [
      `link add p${h.index} mtu ${mtu} type veth peer name lan0 mtu ${mtu} netns ${h.name}`,
      `link set p${h.index} master ${LAN.bridge} up`,
    ]),
  ]);

  await Promise.all(
    hosts.map(async (h) => {
      await ipBatch(['-n', h.name], [
        'link set lo up',
        `addr add ${h.lan4}/24 dev lan0`,
        `addr add ${h.lan6}/64 dev lan0 nodad`,
        'link set lan0 up',
      ]);
      // Hosts route for their containers. Written inside the host namespace only.
      await mustRun('ip', ['netns', 'exec', h.name, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      // `ip netns exec` bind-mounts this over /etc/resolv.conf: whatever runs in a host
      // (the daemon included) resolves through the lab's fake upstream, never the real one.
      fs.mkdirSync(`/etc/netns/${h.name}`, { recursive: true });
      fs.writeFileSync(`/etc/netns/${h.name}/resolv.conf`, `nameserver ${LAN.dnsAddress}\n`);
    }),
  );
  progress(`LAN ${lanNs}: ${LAN.bridge} ${LAN.subnet4} ${LAN.subnet6}, hosts ${hosts.map((h) => h.name).join(', ')} (mtu ${mtu}, ${Date.now() - t0} ms)`);
}

async function waitFakeDns(pid: number, log: string): Promise<void> {
  const deadline = Date.now() + 5_000 * SLOWDOWN;
  for (let i = 0; i < 500 * SLOWDOWN && Date.now() < deadline; i++) {
    if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('ready')) return;
    if (processGone(pid)) break;
    await sleep(10);
  }
  throw startError('KERNEL_FAILED', `the lab's fake resolver (pid ${pid}) did not start`, log);
}

async function waitDaemon(h: LabHost, progress: (msg: string) => void): Promise<void> {
  const t0 = Date.now();
  let nextReport = t0 + 2_000;
  for (let i = 0; i < 1_000 && Date.now() - t0 < PING_TIMEOUT_MS; i++) {
    if (h.daemonPid && processGone(h.daemonPid)) {
      throw startError('DAEMON_UNREACHABLE', `the daemon of lab host ${h.name} exited`, h.logFile);
    }
    if ((await ping(h.socket)) === 200) {
      progress(`${h.name}: daemon ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      return;
    }
    if (Date.now() >= nextReport) {
      progress(`${h.name}: still waiting for the daemon (${Math.round((Date.now() - t0) / 1000)} s)`);
      nextReport += 2_000;
    }
    await sleep(100);
  }
  throw startError(
    'DAEMON_UNREACHABLE',
    `the daemon of lab host ${h.name} did not answer GET /_ping on ${h.socket} within ${PING_TIMEOUT_MS / 1000} s`,
    h.logFile,
  );
}

/** The log's tail goes last, so the one-line error stays readable above it. */
function startError(code: 'KERNEL_FAILED' | 'DAEMON_UNREACHABLE', what: string, log: string): YardError {
  return new YardError(code, `${what} (log: ${log})`, {
    hint: `the lab was taken down again; fix the cause and run \`yard lab up\` again. The log ends with:\n${logTail(log)}`,
  });
}

// ---------------------------------------------------------------- down

/**
 * Idempotent. Finds the lab's hosts from the state file AND by namespace/directory names,
 * so it also cleans up after a crashed `labUp` or a lost state file.
 */
/**
 * Start a stopped etcd member of the lab again (it rejoins with its data) and record its
 * new PID in the lab's state, so that `labDown` stops it.
 */
export async function restartLabEtcdMember(info: LabInfo, m: EtcdMember): Promise<void> {
  requireRoot();
  if (!info.etcd?.members.includes(m)) throw new Error(`etcd member ${m.name} does not belong to lab ${info.name}`);
  try {
    await restartEtcdMember(info.lanNs, info.etcd, m);
  } finally {
    writeState(info);
  }
}

export async function labDown(name: string = DEFAULT_LAB, opts: LabDownOptions = {}): Promise<void> {
  checkName(name);
  requireRoot();
  const progress = opts.onProgress ?? (() => {});
  const saved = readState(name);
  const lanNs = lanNsOf(name);
  const re = hostNsRe(name);
  const found = [...listNetns(), ...readdirSafe(RUN_DIR), ...readdirSafe(LIB_DIR)].filter((n) => re.test(n));
  const hostNames = [...new Set([...(saved?.hosts ?? []).map((h) => h.name), ...found])];

  // 0. The hosts' Docker engines (recorded PIDs, or found by their directories), before
  //    anything in the hosts is stopped in no particular order.
  await Promise.all(
    hostNames.map(async (host) => {
      const rec = saved?.hosts.find((h) => h.name === host)?.docker;
      const p = dockerPathsOf(name, host);
      // (Not runRoot alone: every host's daemon serves its Docker plugin sockets there.)
      if (!rec && !fs.existsSync(p.dataDir) && !cgroupDirs(p.cgroupParent).length) return;
      progress(`${host}: stopping the Docker engine${rec ? ` (dockerd ${rec.pid}, containerd ${rec.containerdPid})` : ''}`);
      const problems = await cleanupLabDocker(p, rec ?? {});
      for (const pr of problems) progress(`${host}: ${pr}`);
    }),
  );
  // The hosts' Podman (containers, conmon, aardvark-dns, its mount namespace), while the
  // host's network namespace still exists for `podman rm`.
  await Promise.all(
    hostNames.map(async (host) => {
      const p = podmanPathsOf(name, host);
      if (!fs.existsSync(p.runDir) && !fs.existsSync(p.dataDir) && !cgroupDirs(p.cgroupParent).length) return;
      progress(`${host}: removing Podman's containers and directories`);
      for (const pr of await cleanupLabPodman(p)) progress(`${host}: ${pr}`);
    }),
  );

  // 1. Daemons first (by recorded PID, checked against its command line), so that none
  //    creates a sandbox while we remove them.
  await Promise.all(
    (saved?.hosts ?? []).map(async (h) => {
      if (!h.daemonPid || processGone(h.daemonPid)) return;
      const cmd = cmdlineOf(h.daemonPid);
      if (!cmd.includes('daemon') || !cmd.includes(h.name)) return;
      progress(`${h.name}: stopping daemon (pid ${h.daemonPid})`);
      await stopPids([h.daemonPid], 5_000);
    }),
  );
  // Whatever else still runs in a host (a daemon of an unrecorded PID, a client) stops too.
  await Promise.all(hostNames.filter(nsExists).map(async (ns) => stopPids(await netnsPids(ns), 5_000)));

  // 2. The sandboxes the hosts' daemons created.
  const all = listNetns();
  const sandboxes = all.filter((ns) => hostNames.some((h) => ns.startsWith(sandboxNetnsPrefix(h))));
  if (sandboxes.length) progress(`removing ${sandboxes.length} sandbox namespace(s)`);
  await removeNamespaces(sandboxes);

  if (saved?.etcd) await stopLabEtcd(saved.etcd);
  if (saved?.dhcp) await stopLabDhcp(saved.dhcp);
  // 3. The fake resolver, then the hosts and the LAN (deleting a namespace deletes its links).
  if (saved?.fakeDnsPid && !processGone(saved.fakeDnsPid) && cmdlineOf(saved.fakeDnsPid).some((a) => a.endsWith('fake-dns.js'))) {
    await stopPids([saved.fakeDnsPid], 2_000);
  }
  const labNs = [...hostNames, lanNs].filter(nsExists);
  if (labNs.length) progress(`removing namespaces ${labNs.join(', ')}`);
  await removeNamespaces([...hostNames, lanNs]);

  // 4. Files: each host daemon's state dir and socket dir, the lab's state and logs.
  for (const h of hostNames) {
    for (const p of [stateDirFor(h), path.dirname(socketPathFor(h))]) {
      // Guard: only ever a directory named after the host itself.
      if (path.basename(p) === h) fs.rmSync(p, { recursive: true, force: true });
    }
  }
  fs.rmSync(statePath(name), { force: true });
  if (!opts.keepLogs) fs.rmSync(labDirOf(name), { recursive: true, force: true });
}

function readdirSafe(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

const nsExists = (ns: string) => fs.existsSync(path.join(NETNS_DIR, ns));

async function removeNamespaces(names: string[]): Promise<void> {
  const present = names.filter(nsExists);
  await Promise.all(present.map(async (ns) => stopPids(await netnsPids(ns), 2_000)));
  if (present.length) await ipBatch([], present.map((ns) => `netns del ${ns}`), true);
  for (const ns of names) fs.rmSync(path.join('/etc/netns', ns), { recursive: true, force: true });
}

// ---------------------------------------------------------------- queries

export function labList(): LabInfo[] {
  return readdirSafe(path.join(RUN_DIR, 'labs'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => readState(f.slice(0, -'.json'.length)))
    .filter((l): l is LabInfo => l !== null)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function labInfo(name: string = DEFAULT_LAB): LabInfo {
  checkName(name);
  const info = readState(name);
  if (!info) {
    throw new YardError('LAB_NOT_FOUND', `lab ${name} is not up`, {
      hint: `start it with yard lab up${name === DEFAULT_LAB ? '' : ` --name ${name}`} (yard lab ls lists the labs)`,
    });
  }
  return info;
}

/**
 * The lab a host argument belongs to: the one `--name` gives; without it, the lab named in
 * a full namespace name (`eco-host1` is lab eco's host1) when that lab is up, else the
 * default lab.
 */
export function labOfHostArg(name: string | undefined, host: string): LabInfo {
  if (name) return labInfo(name);
  const m = /^(.+)-host\d+$/.exec(host);
  if (m && m[1] !== DEFAULT_LAB) {
    checkName(m[1]!);
    const info = readState(m[1]!);
    if (info) return info;
  }
  return labInfo(DEFAULT_LAB);
}

/** `host2`, `2` or the full namespace name (`<lab>-host2`). */
export function labHost(info: LabInfo, host: string): LabHost {
  const found = info.hosts.find(
    (h) => h.name === host || String(h.index) === host || `host${h.index}` === host,
  );
  if (!found) {
    throw new YardError('LAB_HOST_NOT_FOUND', `lab ${info.name} has no host ${JSON.stringify(host)}`, {
      field: 'HOST',
      hint: `use one of ${info.hosts.map((h) => h.name).join(', ')} (or its number)`,
    });
  }
  return found;
}

/** The environment for a command run in a lab host: the repo's `yard` first, talking to that host's daemon. */
export function labEnv(_info: LabInfo, host: LabHost): NodeJS.ProcessEnv {
  const socket = `unix://${host.socket}`;
  return {
    ...process.env,
    PATH: `${BIN_DIR}:${process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}`,
    DOCKER_HOST: socket,
    YARD_HOST: socket,
    YARD_INSTANCE: host.name,
    // The host's real Docker engine, when it runs one: `docker -H $YARD_LAB_DOCKER_HOST ...`.
    ...(host.docker ? { YARD_LAB_DOCKER_HOST: `unix://${host.docker.socket}` } : {}),
  };
}

export function labExecArgs(_info: LabInfo, host: LabHost, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', host.name, ...argv];
}

/** Run a command inside a lab host, always with a timeout (default 30 s). */
export async function labExec(
  info: LabInfo,
  host: LabHost,
  argv: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, ...args] = labExecArgs(info, host, argv);
  return run(cmd, args, { input: opts.input, timeoutMs: opts.timeoutMs ?? 30_000 * SLOWDOWN, env: labEnv(info, host) });
}

// ---------------------------------------------------------------- the hosts' Docker engines

function dockerPathsOf(lab: string, host: string): DockerPaths {
  return dockerPaths(host, path.dirname(socketPathFor(host)), labDirOf(lab));
}

/**
 * Start a real Docker engine in a lab host (stopping a recorded one first) and record it in
 * the lab's state; `labDown` stops it. See src/lab/docker.ts for what it is made of.
 */
export async function startDocker(
  info: LabInfo,
  host: LabHost | string,
  opts: { dockerdArgs?: string[]; image?: boolean; onProgress?: (msg: string) => void } = {},
): Promise<LabDocker> {
  requireRoot();
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  if (h.docker) await stopDocker(info, h);
  const d = await startLabDocker(dockerPathsOf(info.name, h.name), {
    dns: info.dnsAddress,
    // The engine's /run is its own; the lab's run directory stays visible at its path.
    shareRun: [RUN_DIR],
    dockerdArgs: opts.dockerdArgs,
    image: opts.image,
    onProgress: opts.onProgress,
  });
  h.docker = d;
  if (typeof host !== 'string') host.docker = d;
  writeState(info);
  return d;
}

/**
 * Restart a host's engine on its own data, as after a crash: containers, dockerd and
 * containerd are stopped (`kill` first kills dockerd with SIGKILL, so it says nothing to
 * its plugins), then the engine starts again and finds its networks and containers.
 */
export async function restartDocker(info: LabInfo, host: LabHost | string, opts: { kill?: boolean; onProgress?: (msg: string) => void } = {}): Promise<LabDocker> {
  requireRoot();
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  const old = requireDocker(info, h);
  if (opts.kill && !processGone(old.pid)) process.kill(old.pid, 'SIGKILL');
  const p = dockerPathsOf(info.name, h.name);
  const problems = await cleanupLabDocker(p, old, { keepPlugins: true, keepData: true });
  if (problems.length) throw new YardError('INTERNAL', `lab host ${h.name}: the Docker engine did not stop cleanly: ${problems.join('; ')}`, { hint: 'take the lab down (yard lab down)' });
  const d = await startLabDocker(p, { dns: info.dnsAddress, shareRun: [RUN_DIR], dockerdArgs: old.args, image: false, keepData: true, onProgress: opts.onProgress });
  h.docker = d;
  if (typeof host !== 'string') host.docker = d;
  writeState(info);
  return d;
}

/** Stop a lab host's Docker engine (containers, dockerd, containerd, cgroups, directories); returns what could not be removed. */
export async function stopDocker(info: LabInfo, host: LabHost | string): Promise<string[]> {
  requireRoot();
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  const problems = h.docker ? await stopLabDocker(h.docker) : await cleanupLabDocker(dockerPathsOf(info.name, h.name));
  delete h.docker;
  if (typeof host !== 'string') delete host.docker;
  writeState(info);
  return problems;
}

function requireDocker(info: LabInfo, h: LabHost): LabDocker {
  if (!h.docker) {
    throw new YardError('DAEMON_UNREACHABLE', `lab host ${h.name} runs no Docker engine`, {
      field: 'HOST',
      hint: `bring the lab up with --docker (yard lab down${info.name === DEFAULT_LAB ? '' : ` --name ${info.name}`}; yard lab up --docker)`,
    });
  }
  return h.docker;
}

/**
 * The docker command line for a lab host's engine: `/usr/bin/docker --config DIR -H
 * unix://SOCKET`; append the command's own arguments.
 */
export function labDockerCli(info: LabInfo, host: LabHost | string): string[] {
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  return dockerCli(requireDocker(info, h));
}

/** Run the docker CLI against a lab host's engine, inside that host, always with a timeout (default 60 s). */
export function labDocker(info: LabInfo, host: LabHost | string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  return runDocker(requireDocker(info, h), args, opts);
}

// ---------------------------------------------------------------- the hosts' Podman

function podmanPathsOf(lab: string, host: string): PodmanPaths {
  return podmanPaths(host, path.dirname(socketPathFor(host)), labDirOf(lab));
}

/**
 * Set up a real Podman in a lab host (removing a recorded one first) and record it in the
 * lab's state; `labDown` removes it. See src/lab/podman.ts for what it is made of.
 */
export async function startPodman(
  info: LabInfo,
  host: LabHost | string,
  opts: Omit<LabPodmanOptions, 'hosts'> & { onProgress?: (msg: string) => void } = {},
): Promise<LabPodman> {
  requireRoot();
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  if (h.podman) await stopPodman(info, h);
  const pm = await startLabPodman(podmanPathsOf(info.name, h.name), {
    dns: info.dnsAddress,
    // Podman's /run is its own; the lab's run directory stays visible at its path.
    shareRun: [RUN_DIR],
    networkBackend: opts.networkBackend,
    helperDirs: [...(opts.switchyard ? [switchyardPodmanHelpers(h.name)] : []), ...(opts.helperDirs ?? [])],
    image: opts.image,
    onProgress: opts.onProgress,
  });
  h.podman = pm;
  if (typeof host !== 'string') host.podman = pm;
  writeState(info);
  return pm;
}

/**
 * A directory holding `netavark` for one lab host's Podman: Switchyard's executable, told
 * the host daemon's socket (Podman passes its own environment through, which has none).
 */
function switchyardPodmanHelpers(host: string): string {
  const dir = path.join(path.dirname(socketPathFor(host)), 'podman-helpers');
  fs.mkdirSync(dir, { recursive: true });
  const script = `#!/bin/sh\nYARD_HOST=${shq(`unix://${socketPathFor(host)}`)} exec ${shq(path.join(BIN_DIR, 'switchyard-netavark'))} "$@"\n`;
  fs.writeFileSync(path.join(dir, 'netavark'), script, { mode: 0o755 });
  return dir;
}

/** Remove a lab host's Podman (containers, processes, mount namespace, cgroups, directories); returns what could not be removed. */
export async function stopPodman(info: LabInfo, host: LabHost | string): Promise<string[]> {
  requireRoot();
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  const problems = await cleanupLabPodman(podmanPathsOf(info.name, h.name));
  delete h.podman;
  if (typeof host !== 'string') delete host.podman;
  writeState(info);
  return problems;
}

function requirePodmanOf(info: LabInfo, h: LabHost): LabPodman {
  if (!h.podman) {
    throw new YardError('DAEMON_UNREACHABLE', `lab host ${h.name} has no Podman`, {
      field: 'HOST',
      hint: `bring the lab up with --podman (yard lab down${info.name === DEFAULT_LAB ? '' : ` --name ${info.name}`}; yard lab up --podman)`,
    });
  }
  return h.podman;
}

/**
 * The podman command line for a lab host: `nsenter --net=... --mount=... -- /usr/bin/podman
 * <global flags>`; append the command's own arguments and run it with `podman.env`.
 */
export function labPodmanCli(info: LabInfo, host: LabHost | string): { argv: string[]; env: Record<string, string> } {
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  const pm = requirePodmanOf(info, h);
  return { argv: podmanCli(pm), env: podmanEnv(pm, {}) as Record<string, string> };
}

/** Run podman for a lab host (inside that host, in its Podman's mount namespace), always with a timeout (default 60 s). */
export function labPodman(info: LabInfo, host: LabHost | string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const h = labHost(info, typeof host === 'string' ? host : host.name);
  return runPodman(requirePodmanOf(info, h), args, opts);
}
