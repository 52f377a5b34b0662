/**
 * A real etcd for the lab: started inside the lab's LAN namespace, listening only on the
 * LAN gateway address (10.231.0.1), data under the lab's directory, stopped by PID with
 * the lab. One member by default; three members (same address, ports 2379/2479/2579) for
 * the member-loss test.
 *
 * Readiness is probed with etcdctl run inside the LAN namespace: nothing is ever sent from
 * the machine's own namespace to a lab address.
 */
import fs from 'node:fs';
import path from 'node:path';
import { YardError } from '../errors.js';
import { run } from '../kernel/exec.js';
import { spawnDetached } from './spawn.js';

export interface EtcdMember {
  name: string;
  pid: number;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
}

export interface LabEtcd {
  members: EtcdMember[];
  /** The `--cluster-store` value the lab's daemons get: etcd://host:port[,host:port...]. */
  store: string;
}

const CLIENT_PORTS = [2379, 2479, 2579];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memberPlan(address: string, count: number, dir: string) {
  return Array.from({ length: count }, (_, i) => ({
    name: `etcd${i + 1}`,
    clientUrl: `http://${address}:${CLIENT_PORTS[i]}`,
    peerUrl: `http://${address}:${CLIENT_PORTS[i]! + 1}`,
    dataDir: path.join(dir, `etcd${i + 1}.data`),
    logFile: path.join(dir, `etcd${i + 1}.log`),
  }));
}

// `ip netns exec` execs the command after setns: the PID is etcd's own.
const spawnInNs = (ns: string, argv: string[], logFile: string) => spawnDetached(['ip', 'netns', 'exec', ns, ...argv], logFile);

function etcdArgv(m: ReturnType<typeof memberPlan>[number], cluster: string): string[] {
  return [
    'etcd',
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', m.clientUrl,
    '--advertise-client-urls', m.clientUrl,
    '--listen-peer-urls', m.peerUrl,
    '--initial-advertise-peer-urls', m.peerUrl,
    '--initial-cluster', cluster,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', 'switchyard-lab',
    // The v2 API too: Docker 20.10's --cluster-store (libkv) speaks only v2.
    '--enable-v2',
    // A LAN of veths: short timeouts make leader loss and recovery quick in tests.
    '--heartbeat-interval', '50',
    '--election-timeout', '500',
    '--logger', 'zap',
    '--log-level', 'warn',
  ];
}

/** Start etcd (1 or 3 members) in `lanNs`, wait until every member is healthy. */
export async function startLabEtcd(lanNs: string, address: string, dir: string, count: 1 | 3 = 1): Promise<LabEtcd> {
  if (!fs.existsSync('/usr/bin/etcd')) {
    throw new YardError('INTERNAL', 'etcd is not installed (/usr/bin/etcd is missing)', {
      hint: 'install it: apt-get install etcd-server etcd-client (scripts/setup.sh does)',
    });
  }
  const plan = memberPlan(address, count, dir);
  const cluster = plan.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const members: EtcdMember[] = [];
  for (const m of plan) {
    fs.rmSync(m.dataDir, { recursive: true, force: true });
    members.push({ ...m, pid: await spawnInNs(lanNs, etcdArgv(m, cluster), m.logFile) });
  }
  const etcd = { members, store: `etcd://${plan.map((m) => m.clientUrl.slice('http://'.length)).join(',')}` };
  const ok = await waitHealthy(lanNs, members.map((m) => m.clientUrl), 15_000);
  if (!ok) {
    await stopLabEtcd(etcd);
    throw new YardError('KERNEL_FAILED', `etcd did not become healthy in ${lanNs} within 15 s (log: ${plan[0]!.logFile})`, {
      hint: 'check that etcd-server is installed and the LAN namespace is up',
    });
  }
  return etcd;
}

export async function etcdHealthy(lanNs: string, endpoints: string[]): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', lanNs, 'etcdctl', '--endpoints', endpoints.join(','), '--command-timeout=1s', 'endpoint', 'health'], {
    timeoutMs: 5_000,
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  return r.code === 0;
}

async function waitHealthy(lanNs: string, endpoints: string[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 200 && Date.now() < deadline; i++) {
    if (await etcdHealthy(lanNs, endpoints)) return true;
    await sleep(100);
  }
  return false;
}

function isEtcd(pid: number): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat[stat.lastIndexOf(')') + 2];
    return cmd[0] === 'etcd' && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Stop one member by PID (SIGKILL with `hard`, for failure tests); waits until it is gone. */
export async function stopEtcdMember(m: EtcdMember, hard = false): Promise<void> {
  if (!isEtcd(m.pid)) return;
  try {
    process.kill(m.pid, hard ? 'SIGKILL' : 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 200 && isEtcd(m.pid); i++) await sleep(25);
  if (isEtcd(m.pid)) process.kill(m.pid, 'SIGKILL');
  for (let i = 0; i < 80 && isEtcd(m.pid); i++) await sleep(25);
}

/** Start a stopped member again with its existing data directory (it rejoins its cluster). */
export async function restartEtcdMember(lanNs: string, etcd: LabEtcd, m: EtcdMember): Promise<void> {
  const cluster = etcd.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
  const argv = etcdArgv(m, cluster).map((a) => (a === 'new' ? 'existing' : a));
  m.pid = await spawnInNs(lanNs, argv, m.logFile);
  if (!(await waitHealthy(lanNs, [m.clientUrl], 15_000))) {
    throw new YardError('KERNEL_FAILED', `etcd member ${m.name} did not come back (log: ${m.logFile})`, { hint: 'see the member log' });
  }
}

export async function stopLabEtcd(etcd: LabEtcd): Promise<void> {
  await Promise.all(etcd.members.map((m) => stopEtcdMember(m)));
}
