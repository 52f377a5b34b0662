/**
 * Safety check of the machine's real network namespace and of what a test run leaves on
 * the machine: `snapshot` prints its links, addresses, routes, rules, nftables ruleset,
 * the sysctls Switchyard and the lab could touch, the named namespaces (/run/netns),
 * /etc/netns, the entries of /run/switchyard and /var/lib/switchyard, the cgroups of the
 * lab's Docker engines, the places a wrongly started Docker engine would write to
 * (/run/docker, /var/lib/containerd, /etc/docker/key.json, ...), and the processes a
 * test run starts (yard daemons, etcd, the fake resolver, dnsperf, busybox httpd, lab
 * dockerd/containerd, the lab's Podman (conmon, aardvark-dns, its cgroups and the paths a
 * Podman outside the lab would use), and anything carrying the run's YARD_TEST_RUN tag in its
 * environment); `compare FILE` exits 1
 * (printing the difference) when something the run could have caused changed.
 * scripts/test.sh runs it around the whole suite. Run it in the real namespace only (it
 * reads, never writes).
 *
 * Robust against unrelated churn: new namespaces, directories and processes that belong
 * to a lab another run (or a person) has up at the moment (its state file names live
 * processes without this run's tag) are only noted; entries that disappeared are noted,
 * not failed (the run removes only what it created); new processes that match the names
 * above but carry no tag at all are noted too. What fails: any change of links,
 * addresses, routes, rules, nftables or the sysctls, and anything new that this run left.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const RUN_TAG = 'YARD_TEST_RUN';
const RUN_DIR = process.env.YARD_RUN_DIR ?? '/run/switchyard';
const LIB_DIR = process.env.YARD_LIB_DIR ?? '/var/lib/switchyard';

/** Real-namespace sysctls that forwarding, NAT or bridging code could be tempted to write. */
const SYSCTLS = [
  'net/ipv4/ip_forward',
  'net/ipv4/conf/all/forwarding',
  'net/ipv4/conf/default/forwarding',
  'net/ipv6/conf/all/forwarding',
  'net/ipv6/conf/default/forwarding',
  'net/ipv4/conf/all/route_localnet',
  'net/ipv4/conf/all/rp_filter',
  'net/ipv4/conf/default/rp_filter',
  'net/ipv4/conf/all/proxy_arp',
  'net/ipv6/conf/all/disable_ipv6',
  'net/ipv6/conf/all/accept_ra',
  'net/ipv4/ping_group_range',
  'net/ipv4/ip_unprivileged_port_start',
  'net/ipv4/ip_local_port_range',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'net/bridge/bridge-nf-call-arptables',
  'net/netfilter/nf_conntrack_max',
];

/** Processes a test run starts, by command line. */
const SUITE_PROCESS = [
  /\bdist\/cli\/main\.js daemon\b/,
  /(^|\/)yard daemon\b/,
  /(^|\/)etcd( |$)/,
  /(^|\/)dnsperf\b/,
  /\bbusybox httpd\b/,
  /\bfake-dns\.js\b/,
  // The lab's Docker engines (src/lab/docker.ts).
  /(^|\/)dockerd .*--cgroup-parent \/yard-docker-/,
  /(^|\/)containerd --config \S*\/docker\/[^/ ]+\/etc\/containerd\.toml/,
  // The lab's Podman (src/lab/podman.ts): conmon of its containers, aardvark-dns, podman itself.
  /(^|\/)conmon /,
  /(^|\/)aardvark-dns /,
  /(^|\/)podman /,
];

/**
 * Where a Docker engine started the wrong way would leave traces on the machine (the lab's
 * engines keep everything in their own directories): recorded when present.
 */
const DOCKER_PATHS = [
  '/run/docker', '/run/docker.sock', '/run/docker.pid', '/run/containerd', '/var/lib/docker', '/var/lib/containerd', '/opt/containerd', '/etc/docker/key.json', '/etc/docker/daemon.json', '/etc/docker/plugins',
  // ... and a Podman run outside the lab's mount namespace and directories.
  '/run/containers', '/run/libpod', '/run/runc', '/var/lib/containers', '/etc/containers/networks', '/dev/shm/libpod_lock', '/var/lib/cni',
];
const CGROUP_ROOT = '/sys/fs/cgroup';

function read(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

interface Proc {
  pid: number;
  start: string;
  cmd: string;
  tag?: string;
}

/** A live process (not a zombie): start time, command line and run tag. */
function procInfo(pid: number): Proc | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  const cmd = (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').join(' ').trim();
  const env = (readText(`/proc/${pid}/environ`) ?? '').split('\0');
  const tag = env.find((kv) => kv.startsWith(`${RUN_TAG}=`))?.slice(RUN_TAG.length + 1);
  return { pid, start: rest[19] ?? '?', cmd, ...(tag ? { tag } : {}) };
}

function suiteProcesses(): Proc[] {
  const out: Proc[] = [];
  for (const e of readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const p = procInfo(Number(e));
    if (p && (p.tag || SUITE_PROCESS.some((re) => re.test(p.cmd)))) out.push(p);
  }
  return out.sort((a, b) => a.pid - b.pid);
}

const procKey = (p: Proc) => `${p.pid} ${p.start} ${p.cmd.slice(0, 160)}${p.tag ? ` [${RUN_TAG}=${p.tag}]` : ''}`;

export interface HostSnapshot {
  links: string[];
  addrs: string[];
  routes: string[];
  rules: string[];
  nft: string;
  sysctls: Record<string, string>;
  netns: string[];
  etcNetns: string[];
  runDir: string[];
  libDir: string[];
  processes: string[];
  /** Cgroups of lab Docker engines (`yard-docker-<host>`), as `<hierarchy>/<name>`. */
  cgroups?: string[];
  /** Which of DOCKER_PATHS exist. */
  dockerPaths?: string[];
}

function labDockerCgroups(): string[] {
  const out: string[] = [];
  for (const h of readdir(CGROUP_ROOT)) {
    for (const c of readdir(path.join(CGROUP_ROOT, h))) if (c.startsWith('yard-docker-') || c.startsWith('yard-podman-') || c === 'libpod_parent') out.push(`${h}/${c}`);
  }
  return out.sort();
}

export function snapshotHost(): HostSnapshot {
  const links = (JSON.parse(read('ip', ['-j', 'link', 'show']) || '[]') as { ifname: string; flags: string[]; mtu: number; master?: string }[]).map(
    (l) => `${l.ifname} mtu ${l.mtu} ${l.master ? `master ${l.master} ` : ''}${[...l.flags].filter((f) => f !== 'LOWER_UP' && f !== 'NO-CARRIER').sort().join(',')}`,
  );
  const addrs = (JSON.parse(read('ip', ['-j', 'addr', 'show']) || '[]') as { ifname: string; addr_info: { local: string; prefixlen: number }[] }[]).flatMap((l) =>
    l.addr_info.map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`),
  );
  const routes = ['-4', '-6'].flatMap((f) => read('ip', [f, 'route', 'show', 'table', 'all']).split('\n').filter(Boolean)).filter((r) => !/ linkdown| expires /.test(r));
  const rules = ['-4', '-6'].flatMap((f) => read('ip', [f, 'rule', 'show']).split('\n').filter(Boolean));
  const nft = read('nft', ['list', 'ruleset']);
  const sysctls: Record<string, string> = {};
  for (const s of SYSCTLS) {
    const v = readText(`/proc/sys/${s}`);
    if (v !== undefined) sysctls[s.replace(/\//g, '.')] = v.trim().replace(/\s+/g, ' ');
  }
  const entries = (dir: string) => readdir(dir).flatMap((e) => [e, ...(e === 'labs' ? readdir(path.join(dir, e)).map((f) => `labs/${f}`) : [])]);
  return {
    links: links.sort(),
    addrs: addrs.sort(),
    routes: routes.sort(),
    rules,
    nft,
    sysctls,
    netns: readdir('/run/netns'),
    etcNetns: readdir('/etc/netns'),
    runDir: entries(RUN_DIR),
    libDir: entries(LIB_DIR),
    processes: suiteProcesses().map(procKey),
    cgroups: labDockerCgroups(),
    dockerPaths: DOCKER_PATHS.filter((p) => fs.existsSync(p)),
  };
}

/**
 * Labs up right now that do not belong to this run: a state file whose recorded
 * processes are alive and do not carry this run's tag. Their names, to attribute new
 * namespaces and directories to them.
 */
function foreignLabs(runTag: string | undefined): string[] {
  const out: string[] = [];
  for (const f of readdir(path.join(RUN_DIR, 'labs'))) {
    if (!f.endsWith('.json')) continue;
    let lab: { name: string; fakeDnsPid?: number; hosts?: { daemonPid?: number }[]; etcd?: { members?: { pid?: number }[] } };
    try {
      lab = JSON.parse(fs.readFileSync(path.join(RUN_DIR, 'labs', f), 'utf8'));
    } catch {
      continue;
    }
    const pids = [lab.fakeDnsPid, ...(lab.hosts ?? []).map((h) => h.daemonPid), ...(lab.etcd?.members ?? []).map((m) => m.pid)].filter((p): p is number => !!p);
    const live = pids.map(procInfo).filter((p): p is Proc => !!p);
    if (live.length && live.every((p) => !runTag || p.tag !== runTag)) out.push(lab.name);
  }
  return out;
}

/** Whether a namespace, /etc/netns or state entry name belongs to one of these labs. */
function ofLab(entry: string, labs: string[]): boolean {
  const name = entry.replace(/^labs\//, '').replace(/\.json$/, '').replace(/^[^/]+\/yard-(docker|podman)-/, '');
  return labs.some((l) => {
    const hostRe = l === 'lab' ? '(host\\d+|yardlan)' : `${l}-(host\\d+|lan)`;
    return new RegExp(`^(yard-)?${hostRe}(-|$)`).test(name) || name === l;
  });
}

export interface Comparison {
  /** Changes this run caused: the check fails. */
  changed: string[];
  /** Differences attributed to something else (another lab, an entry removed): shown, not failed. */
  notes: string[];
}

export function compareSnapshots(before: HostSnapshot, after: HostSnapshot, runTag = process.env[RUN_TAG]): Comparison {
  const changed: string[] = [];
  const notes: string[] = [];
  for (const k of ['links', 'addrs', 'routes', 'rules', 'nft'] as const) {
    const a = JSON.stringify(before[k]);
    const b = JSON.stringify(after[k]);
    if (a !== b) changed.push(`${k}\n  before: ${a}\n  after:  ${b}`);
  }
  for (const k of new Set([...Object.keys(before.sysctls ?? {}), ...Object.keys(after.sysctls)])) {
    if (before.sysctls?.[k] !== after.sysctls[k]) changed.push(`sysctl ${k}: ${before.sysctls?.[k] ?? '(absent)'} -> ${after.sysctls[k] ?? '(absent)'}`);
  }
  const foreign = foreignLabs(runTag);
  const lists: [keyof HostSnapshot, string][] = [
    ['netns', '/run/netns'],
    ['etcNetns', '/etc/netns'],
    ['runDir', RUN_DIR],
    ['libDir', LIB_DIR],
    ['cgroups', CGROUP_ROOT],
    ['dockerPaths', ''],
  ];
  for (const [k, where] of lists) {
    const was = new Set((before[k] as string[] | undefined) ?? []);
    const now = new Set((after[k] as string[] | undefined) ?? []);
    const at = (e: string) => (where ? `${where}/${e}` : e);
    for (const e of now) {
      if (was.has(e)) continue;
      if (ofLab(e, foreign)) notes.push(`${at(e)} is new but belongs to lab ${foreign.find((l) => ofLab(e, [l]))}, which another run has up`);
      else changed.push(`${at(e)} was left behind`);
    }
    for (const e of was) if (!now.has(e)) notes.push(`${at(e)} was there before and is gone now`);
  }
  const wasProcs = new Set(before.processes ?? []);
  for (const p of after.processes) {
    if (wasProcs.has(p)) continue;
    const tag = /\[YARD_TEST_RUN=([^\]]+)\]$/.exec(p)?.[1];
    if (runTag && tag === runTag) changed.push(`process left running: ${p}`);
    else if (tag) notes.push(`process of another test run: ${p}`);
    else if (!runTag) changed.push(`process left running: ${p}`);
    else notes.push(`new process not started by this run (no ${RUN_TAG}=${runTag}): ${p}`);
  }
  return { changed, notes };
}

function main(argv: string[]): number {
  if (argv[0] === 'snapshot') {
    process.stdout.write(JSON.stringify(snapshotHost(), null, 1));
    return 0;
  }
  if (argv[0] === 'compare' && argv[1]) {
    const before = JSON.parse(fs.readFileSync(argv[1], 'utf8')) as HostSnapshot;
    const { changed, notes } = compareSnapshots(before, snapshotHost());
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    for (const c of changed) process.stderr.write(`machine changed by the run: ${c}\n`);
    return changed.length ? 1 : 0;
  }
  process.stderr.write('usage: hostcheck snapshot | hostcheck compare FILE\n');
  return 2;
}

if (process.argv[1]?.endsWith('hostcheck.js')) process.exitCode = main(process.argv.slice(2));
