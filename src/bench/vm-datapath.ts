/**
 * The vm-datapath part: ipvlan figures where the host's kernel has no ipvlan: the data paths measured
 * INSIDE the VM lab's guest (src/lab/vm.ts), with the same client and server as the
 * datapath part (netpath.ts), next to host networking measured in the same guest run.
 * The guest is a TCG emulation 25-100x slower than the machine, so only the ratios mean
 * something; each path is kept short (best of 3 passes of a 1 s request/response run and
 * `iperf3 -t 1`) and the connect figure is left out.
 *
 * Run on the machine: `yard bench --only vm-datapath` boots the guest (`runVmDatapath`).
 * Run in the guest: `node dist/bench/vm-datapath.js` prints the table, then the markdown
 * between MD_BEGIN and MD_END, which the machine side cuts out (`markdownFromGuest`).
 */
import { client, iperf, runSandbox, sandboxIp, serverCommand, type Target } from './netpath.js';
import { fmt, load, markdownPart, printReport, ratio, runPart, type PartCtx, type PartSpec, type PartTable } from './run-part.js';

export const MD_BEGIN = 'YARD_VM_DATAPATH_MD_BEGIN';
export const MD_END = 'YARD_VM_DATAPATH_MD_END';

const LAN_IPAM = { Subnet: '10.231.0.0/24', Gateway: '10.231.0.1', IPRange: '10.231.0.192/27' };
const MACVLAN_IP = '10.231.0.200';
const IPVLAN_L2_IP = '10.231.0.201';
const L3_SUBNET = '10.72.0.0/24';
const IPVLAN_L3_IP = '10.72.0.10';
const RR_COUNT = 5_000;
const RR_SECONDS = 1;
const IPERF_SECONDS = 1;
const PASSES = 3;

const SERVERS = {
  host: { port: 7102, iperfPort: 5402 },
  bridge: { port: 7101, iperfPort: 5401 },
  macvlan: { port: 7103, iperfPort: 5403 },
  ipvlanL2: { port: 7104, iperfPort: 5404 },
  ipvlanL3: { port: 7105, iperfPort: 5405 },
};

/** `ip route add <subnet> via <addr>` out of a network create's Warning; null when absent. */
export function routeFromWarning(warning: string): { subnet: string; via: string } | null {
  const m = /ip route add (\S+) via (\S+)/.exec(warning);
  return m ? { subnet: m[1]!, via: m[2]! } : null;
}

/** The markdown block the guest printed between the markers; null when it never finished it. */
export function markdownFromGuest(output: string): string | null {
  const lines = output.split('\n');
  const a = lines.findIndex((l) => l.trimEnd().endsWith(MD_BEGIN));
  const b = lines.findIndex((l, i) => i > a && l.trimEnd().endsWith(MD_END));
  if (a < 0 || b < 0) return null;
  return lines.slice(a + 1, b).join('\n').trim();
}

interface Figures {
  rrP50: number;
  rrN: number;
  gbps: number;
}

/**
 * A server's Node takes tens of seconds to start under TCG; probing with bash's /dev/tcp is
 * far cheaper than letting tcp-pingpong (another Node start per try) find out.
 */
async function waitListening(ctx: PartCtx, ns: string, t: Target, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    const r = await ctx.inNs(ns, ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${t.addr}/${t.port}`], 10_000);
    if (r.code === 0) return;
    await new Promise((res) => setTimeout(res, 1_000));
  }
  throw new Error(`nothing listens on ${t.addr}:${t.port} (seen from ${ns}) after ${timeoutMs / 1000} s`);
}

async function measurePathShort(ctx: PartCtx, ns: string, t: Target): Promise<Figures> {
  await waitListening(ctx, ns, t);
  const rr = await client(ctx, ns, 'rr', t, RR_COUNT, RR_SECONDS);
  const gbps = await iperf(ctx, ns, t.addr, t.iperfPort, IPERF_SECONDS);
  return { rrP50: rr.p50, rrN: rr.n, gbps };
}

const HEADERS = ['path', 'RR n', 'RR p50 ms', 'TCP Gbit/s', 'RR p50 ÷ host', 'throughput ÷ host'];

async function createNetwork(ctx: PartCtx, Name: string, Driver: string, Options: Record<string, string>, Config: Record<string, string>[]): Promise<string> {
  const r = await ctx.api(1).ok('POST', '/v1.41/networks/create', { Name, Driver, Options, IPAM: { Config } });
  return (JSON.parse(r.text) as { Warning?: string }).Warning ?? '';
}

/** One path, or a dash row and a note when it breaks: one broken path must not hide the others. */
async function measureInto(ctx: PartCtx, into: Map<string, Figures | null>, label: string, ns: string, t: Target): Promise<void> {
  try {
    let best: Figures | undefined;
    // Best of a few short runs: a single 1 s run under TCG swings by 2x with the guest's timer.
    for (let pass = 1; pass <= PASSES; pass++) {
      ctx.log(`pass ${pass}: ${label} (${ns} -> ${t.addr}:${t.port})`);
      const f = await measurePathShort(ctx, ns, t);
      best = best ? { rrP50: Math.min(best.rrP50, f.rrP50), rrN: best.rrN + f.rrN, gbps: Math.max(best.gbps, f.gbps) } : f;
    }
    into.set(label, best!);
  } catch (e) {
    ctx.notes.push(`${label} from ${ns}: ${(e as Error).message}`);
    into.set(label, null);
  }
}

function tableOf(title: string, figures: Map<string, Figures | null>): PartTable {
  const base = figures.values().next().value ?? undefined;
  const rows = [...figures].map(([label, f]) =>
    f ? [label, String(f.rrN), fmt(f.rrP50), fmt(f.gbps, 2), base ? ratio(f.rrP50, base.rrP50) : '-', base ? ratio(f.gbps, base.gbps) : '-'] : [label, '-', '-', '-', '-', '-'],
  );
  return { title: `VM guest (TCG), data paths ${title}; best of ${PASSES} runs of ${RR_SECONDS} s RR and iperf3 -t ${IPERF_SECONDS} each; ratios to host networking`, headers: HEADERS, rows };
}

/** A sandbox serving `target` on a fresh network of its own; `measure`, then both removed. */
async function withServer(ctx: PartCtx, name: string, net: { driver: string; options: Record<string, string>; ipam: Record<string, string>; ip: string; port: Pick<Target, 'port' | 'iperfPort'> }, measure: (warning: string) => Promise<void>): Promise<void> {
  const warning = await createNetwork(ctx, name, net.driver, net.options, [net.ipam]);
  await runSandbox(ctx, 1, { name, networks: [{ network: name, ip: net.ip }], command: serverCommand(net.port) });
  try {
    await measure(warning);
  } finally {
    // A parent carries macvlan or ipvlan children, in one ipvlan mode: the next path needs lan0 free.
    await ctx.api(1).ok('DELETE', `/yard/v1/sandboxes/${name}?force=1`);
    await ctx.api(1).ok('DELETE', `/v1.41/networks/${name}`);
  }
}

async function measure(ctx: PartCtx): Promise<PartTable[]> {
  const h1 = ctx.host(1);
  const h2 = ctx.host(2);
  const within = new Map<string, Figures | null>();
  const between = new Map<string, Figures | null>();

  ctx.log('servers on host 1: host networking and bridge, then macvlan, ipvlan l2, ipvlan l3 one after the other on lan0');
  await runSandbox(ctx, 1, { name: 'vd-host', networks: [{ network: 'host' }], command: serverCommand(SERVERS.host) });
  await createNetwork(ctx, 'vd-br', 'bridge', {}, []);
  await runSandbox(ctx, 1, { name: 'vd-br', networks: [{ network: 'vd-br' }], command: serverCommand(SERVERS.bridge) });
  const brIp = await sandboxIp(ctx, 1, 'vd-br', 'vd-br');
  const hostTarget = { addr: h1.lan4, ...SERVERS.host };
  await measureInto(ctx, within, 'host networking', h1.name, hostTarget);
  await measureInto(ctx, within, 'bridge direct (container address)', h1.name, { addr: brIp, ...SERVERS.bridge });
  await measureInto(ctx, between, 'host networking', h2.name, hostTarget);

  await withServer(ctx, 'vd-mv', { driver: 'macvlan', options: { parent: 'lan0' }, ipam: LAN_IPAM, ip: MACVLAN_IP, port: SERVERS.macvlan }, () =>
    measureInto(ctx, between, 'macvlan', h2.name, { addr: MACVLAN_IP, ...SERVERS.macvlan }),
  );
  await withServer(ctx, 'vd-l2', { driver: 'ipvlan', options: { parent: 'lan0', ipvlan_mode: 'l2' }, ipam: LAN_IPAM, ip: IPVLAN_L2_IP, port: SERVERS.ipvlanL2 }, () =>
    measureInto(ctx, between, 'ipvlan l2', h2.name, { addr: IPVLAN_L2_IP, ...SERVERS.ipvlanL2 }),
  );
  const l3Target = { addr: IPVLAN_L3_IP, ...SERVERS.ipvlanL3 };
  await withServer(ctx, 'vd-l3', { driver: 'ipvlan', options: { parent: 'lan0', ipvlan_mode: 'l3' }, ipam: { Subnet: L3_SUBNET }, ip: IPVLAN_L3_IP, port: SERVERS.ipvlanL3 }, async (warning) => {
    await measureInto(ctx, within, 'ipvlan l3 (host 1 routes to its own l3 sandbox)', h1.name, l3Target);
    // Host 2 plays the upstream router's part: the route ipvlan l3 printed, added there.
    const route = routeFromWarning(warning);
    if (!route) throw new Error(`ipvlan l3 network create printed no route: ${JSON.stringify(warning)}`);
    ctx.log(`${h2.name}: ip route add ${route.subnet} via ${route.via}`);
    const added = await ctx.inNs(h2.name, ['ip', 'route', 'add', route.subnet, 'via', route.via]);
    if (added.code !== 0) throw new Error(`ip route add in ${h2.name}: ${added.stderr.trim()}`);
    await measureInto(ctx, between, 'ipvlan l3 (the printed route added on host 2)', h2.name, l3Target);
  });

  return [tableOf(`within one lab host (client in ${h1.name})`, within), tableOf(`between two lab hosts (client in ${h2.name}, servers on ${h1.name})`, between)];
}

// Host 2 has no daemon: a second Node daemon start under TCG on one vCPU costs minutes.
export const VM_DATAPATH_PART: PartSpec = {
  part: 'vm-datapath',
  lab: { hosts: 2, cluster: false, daemonHosts: 1 },
  budgetMs: 600_000,
  watchdogMs: 900_000,
  measure,
};

/** On the machine: boot the VM lab, run this file in the guest, return its markdown. */
export async function runVmDatapath(o: { out: (l: string) => void; err: (l: string) => void; timeoutMs?: number }): Promise<{ md: string | null; code: number }> {
  const { vmRun } = await import('../lab/vm.js');
  const { PACKAGE_ROOT } = await import('../paths.js');
  const path = await import('node:path');
  o.err('[vm-datapath] booting the VM lab (qemu TCG); about 2.5 minutes');
  const loadStart = load();
  const r = await vmRun({
    command: [process.execPath, path.join(PACKAGE_ROOT, 'dist', 'bench', 'vm-datapath.js')],
    cwd: PACKAGE_ROOT,
    // Stretches the lab's start-up waits: the daemon's first answer takes ~17 s under TCG, past the 20 s default's margin.
    env: { YARD_LAB_SLOWDOWN: '10', NO_COLOR: '1', FORCE_COLOR: '0' },
    timeoutMs: o.timeoutMs ?? 1_080_000,
    onLine: (l) => o.err(`  guest| ${l}`),
    onProgress: (m) => o.err(`  ${m}`),
  });
  const loadEnd = load();
  // The guest's own load average says nothing about qemu's competition on the machine.
  const found = markdownFromGuest(r.output);
  const md = found && `${found}\n- the machine's load average (qemu's host) at start: ${loadStart}; at end: ${loadEnd}`;
  o.err(`[vm-datapath] guest exit ${r.exitCode ?? 'none'}${r.timedOut ? ' (timed out)' : ''}, ${(r.wallMs / 1000).toFixed(0)} s`);
  return { md, code: r.exitCode === 0 && md ? 0 : 1 };
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  const out = (l: string) => process.stdout.write(l + '\n');
  const err = (l: string) => process.stderr.write(l + '\n');
  runPart(VM_DATAPATH_PART, `vmbench-${process.pid}`, err).then(
    (r) => {
      printReport(r.report, out);
      const md = markdownPart(r.report, { date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', seconds: r.seconds });
      out(MD_BEGIN);
      out(md);
      out(MD_END);
      process.exitCode = r.failed ? 1 : 0;
    },
    (e: Error) => {
      err(`error: ${e.message}`);
      process.exitCode = 1;
    },
  );
}
