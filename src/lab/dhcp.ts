/**
 * A real DHCP server for the lab's LAN: Debian's dnsmasq (dnsmasq-base), started by PID
 * inside the LAN namespace with DNS off (`--port=0`), its own configuration on the
 * command line (`--conf-file=/dev/null`, nothing read from /etc), its lease file, PID file
 * and log in the lab's directory, serving only a range of the lab's LAN subnet on the
 * LAN bridge. Stopped by PID at `yard lab down`, or by the tests to play a server outage.
 */
import fs from 'node:fs';
import path from 'node:path';
import { YardError } from '../errors.js';
import { cmdlineOf, processGone, stopProcesses } from '../kernel/process.js';
import { spawnDetached } from './spawn.js';

export const DNSMASQ = '/usr/sbin/dnsmasq';

export interface LabDhcpOptions {
  /** Lease time in seconds (dnsmasq's minimum is 120), default 600. */
  leaseSeconds?: number;
  /** Renewal time T1 (option 58) in seconds, default: dnsmasq's own (half the lease). */
  renewSeconds?: number;
}

export interface LabDhcp {
  pid: number;
  /** First and last address handed out. */
  range: [string, string];
  leaseSeconds: number;
  renewSeconds?: number;
  leaseFile: string;
  logFile: string;
  pidFile: string;
}

/** The range the lab's server hands out: above the lab hosts (10.231.0.2-17) and below the lab's fixed addresses. */
export const LAB_DHCP_RANGE: [string, string] = ['10.231.0.100', '10.231.0.199'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start dnsmasq in `lanNs` on `bridge`; `dns` is the resolver the leases name. Waits until it serves. */
export async function startLabDhcp(lanNs: string, bridge: string, dns: string, dir: string, opts: LabDhcpOptions = {}, keepLeases = false): Promise<LabDhcp> {
  if (!fs.existsSync(DNSMASQ)) {
    throw new YardError('INTERNAL', `dnsmasq is not installed (${DNSMASQ} is missing)`, { hint: 'install it: apt-get install dnsmasq-base' });
  }
  const leaseSeconds = opts.leaseSeconds ?? 600;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 120 || leaseSeconds > 86_400) {
    throw new YardError('INVALID_ARGUMENT', `--dhcp-lease ${leaseSeconds}: dnsmasq takes lease times from 120 s`, { field: '--dhcp-lease', hint: 'give 120 to 86400 seconds' });
  }
  if (opts.renewSeconds !== undefined && (!Number.isInteger(opts.renewSeconds) || opts.renewSeconds < 5 || opts.renewSeconds >= leaseSeconds)) {
    throw new YardError('INVALID_ARGUMENT', `--dhcp-renew ${opts.renewSeconds}: the renewal time must be from 5 s to below the lease time`, { field: '--dhcp-renew', hint: `give 5 to ${leaseSeconds - 1} seconds` });
  }
  const d: Omit<LabDhcp, 'pid'> = {
    range: LAB_DHCP_RANGE,
    leaseSeconds,
    ...(opts.renewSeconds ? { renewSeconds: opts.renewSeconds } : {}),
    leaseFile: path.join(dir, 'dnsmasq.leases'),
    logFile: path.join(dir, 'dnsmasq.log'),
    pidFile: path.join(dir, 'dnsmasq.pid'),
  };
  if (!keepLeases) fs.rmSync(d.leaseFile, { force: true });
  const argv = [
    DNSMASQ,
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--port=0',
    `--interface=${bridge}`,
    '--bind-interfaces',
    `--dhcp-range=${d.range[0]},${d.range[1]},255.255.255.0,${leaseSeconds}`,
    `--dhcp-option=option:dns-server,${dns}`,
    ...(opts.renewSeconds ? [`--dhcp-option=option:T1,${opts.renewSeconds}`] : []),
    `--dhcp-leasefile=${d.leaseFile}`,
    `--pid-file=${d.pidFile}`,
    '--dhcp-authoritative',
    // No ICMP probe of an address before offering it: dnsmasq would hold every first
    // offer for ~3 s (real servers often do; the daemon's 10 s bound allows for it).
    '--no-ping',
    '--log-dhcp',
    `--log-facility=${d.logFile}`,
    '--user=root',
  ];
  // `ip netns exec` execs dnsmasq after setns: the PID is dnsmasq's own.
  const pid = await spawnDetached(['ip', 'netns', 'exec', lanNs, ...argv], path.join(dir, 'dnsmasq.out'));
  // Ready when it has written its PID file (after binding its sockets).
  for (let i = 0; i < 50; i++) {
    if (processGone(pid)) {
      const out = [path.join(dir, 'dnsmasq.out'), d.logFile].map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')).join('\n').trim();
      throw new YardError('INTERNAL', `dnsmasq exited at start: ${out.slice(-500)}`);
    }
    if (fs.existsSync(d.pidFile) && fs.readFileSync(d.pidFile, 'utf8').trim() === String(pid)) return { pid, ...d };
    await sleep(100);
  }
  await stopProcesses([pid], 2_000);
  throw new YardError('INTERNAL', `dnsmasq (pid ${pid}) did not write ${d.pidFile} within 5 s`);
}

/** Stop the lab's dnsmasq by its recorded PID (checked against its command line). */
export async function stopLabDhcp(d: LabDhcp): Promise<void> {
  if (processGone(d.pid) || !cmdlineOf(d.pid).includes(DNSMASQ)) return;
  await stopProcesses([d.pid], 2_000);
  fs.rmSync(d.pidFile, { force: true });
}

/** The lease file's lines: expiry, MAC, address, hostname, client ID (dnsmasq's format). */
export function readLabLeases(d: LabDhcp): { expires: number; mac: string; address: string; hostname: string; clientId: string }[] {
  if (!fs.existsSync(d.leaseFile)) return [];
  return fs
    .readFileSync(d.leaseFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('duid'))
    .map((l) => {
      const [expires, mac, address, hostname, clientId] = l.split(' ');
      return { expires: Number(expires), mac: mac!, address: address!, hostname: hostname!, clientId: clientId ?? '*' };
    });
}
