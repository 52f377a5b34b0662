/**
 * The runtimes part: Switchyard's two runtime front doors next to the programs they stand in
 * for, fed the same input in the same 1-host lab, in one run:
 *   1. Podman's network executable: Debian's netavark 1.4 (`/usr/lib/podman/netavark`) vs
 *      `bin/switchyard-netavark` (backed by the host's daemon), both run as Podman runs them
 *      (`netavark --config DIR --rootless=false setup|teardown NETNS`, the network options JSON
 *      on stdin) for a bridge network with a subnet and one container with a static address;
 *   2. a CNI plugin: the reference `bridge` + `host-local` plugins (`/usr/lib/cni`) vs
 *      `bin/switchyard-cni` (type switchyard, on a network made with `yard network create`),
 *      ADD and DEL as a CNI runtime runs them (CNI_* environment, the configuration on stdin).
 * For each: setup and teardown of one container (median of RUNS, the two sides interleaved,
 * the order swapped every run), and MANY containers in a row (total setup time, then total
 * teardown time). Each "container" is a fresh namespace made with `ip netns add` and deleted
 * after. Every executable runs inside the lab host's namespace (`ip netns exec <host> env -i
 * ...`); each figure is the wall time of that one process as the bench sees it (its start,
 * the same `ip netns exec` on both sides, included). After each setup the bench checks
 * (untimed) that the namespace has the interface with the address the call reported, and
 * after each teardown that it is gone: a broken call fails the part instead of looking fast.
 * The two sides use different network names, bridges and subnets, so they never collide.
 * Also timed: the start of a bare process and of Node (every Switchyard call pays it), and
 * Switchyard's daemon alone (the same requests posted on a kept-alive socket). Each series of
 * containers in a row is sized to its share of what is left of the budget (notes say so).
 * Figures are peer ÷ Switchyard ratios (> 1: Switchyard is faster); never asserts a goal.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../kernel/exec.js';
import { labExec, type LabHost } from '../lab/lab.js';
import { BIN_DIR } from '../paths.js';
import { fmt, ratio, timed, yardIn, type PartCtx, type PartSpec, type PartTable } from './run-part.js';
import { percentile } from './stats.js';

/** Recorded runs of one container's setup + teardown per side (after WARM unrecorded). */
export const RUNS = 10;
export const WARM = 1;
/** Containers in a row. */
export const MANY = 50;
const FLOOR_RUNS = 10;
const RUNTIMES_BUDGET_MS = 240_000;
const RUNTIMES_WATCHDOG_MS = 330_000;
const CALL_TIMEOUT_MS = 60_000;

export const NETAVARK = '/usr/lib/podman/netavark';
export const CNI_DIR = '/usr/lib/cni';
const IFNAME = 'eth0';

export type Door = 'netavark' | 'cni';
export type Side = 'peer' | 'yard';

/** What each side is given: distinct names, bridges and subnets (/24, addresses .2 upwards). */
export const NETS: Record<Door, Record<Side, { name: string; bridge: string; prefix: string }>> = {
  netavark: {
    peer: { name: 'nvbench', bridge: 'nvbench0', prefix: '10.61.0' },
    yard: { name: 'sybench', bridge: 'sybench0', prefix: '10.62.0' },
  },
  cni: {
    peer: { name: 'cnibench', bridge: 'cnibench0', prefix: '10.63.0' },
    yard: { name: 'sycnibench', bridge: 'sycnibench0', prefix: '10.64.0' },
  },
};

// ---------------------------------------------------------------- inputs (pure)

/**
 * A 64-hex ID for (tag, i), as random-looking as Podman's (a SHA-256): distinct already in
 * its first 12 digits, the short ID that names things on the host.
 */
export function hexId(tag: number, i: number): string {
  return createHash('sha256').update(`switchyard-bench-runtimes/${tag}/${i}`).digest('hex');
}

/** The address container i gets on a side (.2 upwards; .1 is the gateway). */
export function containerAddress(prefix: string, i: number): string {
  if (!Number.isInteger(i) || i < 0 || i > 252) throw new Error(`container index ${i}: use 0 to 252 (one /24)`);
  return `${prefix}.${i + 2}`;
}

/** The network options JSON Podman writes for one container on one bridge network (netavark 1.4). */
export function netavarkOptions(net: { name: string; bridge: string; prefix: string }, side: Side, i: number): Record<string, unknown> {
  const ip = containerAddress(net.prefix, i);
  const id = hexId(side === 'peer' ? 1 : 2, i);
  return {
    container_id: id,
    container_name: `rtbench-${side}-${i}`,
    networks: { [net.name]: { static_ips: [ip], aliases: [id.slice(0, 12)], interface_name: IFNAME } },
    network_info: {
      [net.name]: {
        name: net.name,
        id: hexId(side === 'peer' ? 0xa : 0xb, 0),
        driver: 'bridge',
        network_interface: net.bridge,
        subnets: [{ subnet: `${net.prefix}.0/24`, gateway: `${net.prefix}.1` }],
        ipv6_enabled: false,
        internal: false,
        dns_enabled: false,
        ipam_options: { driver: 'host-local' },
      },
    },
  };
}

/** The reference bridge plugin's configuration (as a conflist's single plugin, with name and cniVersion). */
export function bridgeConf(net: { name: string; bridge: string; prefix: string }, dataDir: string): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: net.name,
    type: 'bridge',
    bridge: net.bridge,
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', subnet: `${net.prefix}.0/24`, gateway: `${net.prefix}.1`, dataDir, routes: [{ dst: '0.0.0.0/0' }] },
  };
}

/** Switchyard's plugin configuration for a network made with `yard network create`. */
export function switchyardConf(net: { name: string }, socket: string): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: net.name, type: 'switchyard', network: net.name, socket };
}

/** The CNI_* environment of one call (and PATH; nothing else of the bench's). */
export function cniEnv(command: 'ADD' | 'DEL', containerId: string, netns: string, cniPath: string, pathVar: string): string[] {
  return [`PATH=${pathVar}`, `CNI_COMMAND=${command}`, `CNI_CONTAINERID=${containerId}`, `CNI_NETNS=${netns}`, `CNI_IFNAME=${IFNAME}`, `CNI_PATH=${cniPath}`];
}

/** The IPv4 addresses (CIDR) of `ifname` in `ip -j addr show` output; undefined when the interface is missing. */
export function addressesOf(ipJson: string, ifname: string): string[] | undefined {
  const links = JSON.parse(ipJson || '[]') as { ifname: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[];
  const link = links.find((l) => l.ifname === ifname);
  if (!link) return undefined;
  return (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

/** The IPv4 address a CNI result (1.0.0) or a netavark status block reports for the interface. */
export function reportedAddress(door: Door, netName: string, out: unknown): string | undefined {
  const o = out as any;
  if (door === 'cni') return (o?.ips as { address?: string }[] | undefined)?.find((x) => x.address && !x.address.includes(':'))?.address;
  return (o?.[netName]?.interfaces?.[IFNAME]?.subnets as { ipnet?: string }[] | undefined)?.find((s) => s.ipnet && !s.ipnet.includes(':'))?.ipnet;
}

/**
 * How many containers in a row fit in `shareMs`: a round (both sides' setup, teardown and
 * checks) measured at `roundMs` with one container, times `slack` (a round slows as the
 * containers accumulate), at most `max`, at least 0.
 */
export function seriesCount(shareMs: number, roundMs: number, max: number, slack = 1.5): number {
  if (!(shareMs > 0) || !(roundMs > 0)) return 0;
  return Math.max(0, Math.min(max, Math.floor(shareMs / (roundMs * slack))));
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const p50 = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 0.5);

export interface DoorFigures {
  /** Per-run milliseconds of one container's setup / teardown. */
  setup: Record<Side, number[]>;
  teardown: Record<Side, number[]>;
  /** Per-container milliseconds of the MANY in a row. */
  manySetup: Record<Side, number[]>;
  manyTeardown: Record<Side, number[]>;
  /** Switchyard's daemon alone: the same one-container calls posted on a kept-alive socket (no process). */
  api: { setup: number[]; teardown: number[] };
  /** Checks passed (address after setup, interface gone after teardown), of those made. */
  checks: Record<Side, { passed: number; made: number }>;
}

export const emptyFigures = (): DoorFigures => ({
  setup: { peer: [], yard: [] },
  teardown: { peer: [], yard: [] },
  manySetup: { peer: [], yard: [] },
  manyTeardown: { peer: [], yard: [] },
  api: { setup: [], teardown: [] },
  checks: { peer: { passed: 0, made: 0 }, yard: { passed: 0, made: 0 } },
});

/** The table rows: medians and totals in ms, and peer ÷ Switchyard (> 1: Switchyard is faster). */
export function doorRows(f: DoorFigures, words: { setup: string; teardown: string }): string[][] {
  const row = (label: string, peer: number, yard: number, digits = 1) => [label, fmt(peer, digits), fmt(yard, digits), ratio(peer, yard)];
  const pair = (s: Side) => f.setup[s].map((v, i) => v + (f.teardown[s][i] ?? NaN)).filter(Number.isFinite);
  const n = Math.min(f.setup.peer.length, f.setup.yard.length);
  const m = Math.min(f.manySetup.peer.length, f.manySetup.yard.length);
  const mt = Math.min(f.manyTeardown.peer.length, f.manyTeardown.yard.length);
  const first = (xs: number[], k: number) => xs.slice(0, k);
  const rows = [
    row(`${words.setup} of one container, median of ${n}`, p50(first(f.setup.peer, n)), p50(first(f.setup.yard, n))),
    row(`${words.teardown} of one container, median of ${n}`, p50(first(f.teardown.peer, n)), p50(first(f.teardown.yard, n))),
    row(`${words.setup} + ${words.teardown}, median of ${n}`, p50(first(pair('peer'), n)), p50(first(pair('yard'), n))),
    row(`${m} containers in a row: ${words.setup}, total`, sum(first(f.manySetup.peer, m)), sum(first(f.manySetup.yard, m)), 0),
    row(`  per container, median`, p50(first(f.manySetup.peer, m)), p50(first(f.manySetup.yard, m))),
    row(`${mt} containers in a row: ${words.teardown}, total`, sum(first(f.manyTeardown.peer, mt)), sum(first(f.manyTeardown.yard, mt)), 0),
    row(`  per container, median`, p50(first(f.manyTeardown.peer, mt)), p50(first(f.manyTeardown.yard, mt))),
  ];
  if (f.api.setup.length) {
    const k = f.api.setup.length;
    const apiRow = (label: string, yardSide: number, api: number) => [label, '', fmt(api, 1), `${fmt(api / yardSide, 2)} of Switchyard's call`];
    rows.push(
      apiRow(`Switchyard's daemon alone (the same request on a kept-alive socket, no process): ${words.setup}, median of ${k}`, p50(first(f.setup.yard, n)), p50(f.api.setup)),
      apiRow(`  ${words.teardown}, median of ${k}`, p50(first(f.teardown.yard, n)), p50(f.api.teardown)),
    );
  }
  const c = (s: Side) => `${f.checks[s].passed}/${f.checks[s].made}`;
  rows.push(['checks passed (address in the namespace after setup, interface gone after teardown)', c('peer'), c('yard'), '']);
  return rows;
}

// ---------------------------------------------------------------- running the executables

interface Lab {
  ctx: PartCtx;
  host: LabHost;
  /** A process inside the lab host as `ip netns exec` runs one (its own mount namespace): the caller PID of the daemon-alone calls. */
  holderPid: number;
  tag: string;
  /** Namespaces made and not yet deleted. */
  netns: Set<string>;
  pathVar: string;
  tmp: string;
  cniPath: string;
}

interface Call {
  ms: number;
  out: unknown;
}

/** One executable in the lab host, stdin given; throws with its output unless it exits 0. */
async function exe(lab: Lab, argv: string[], input: string, what: string): Promise<Call> {
  const [ms, r] = await timed(() => labExec(lab.ctx.info, lab.host, argv, { input, timeoutMs: CALL_TIMEOUT_MS }));
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${(r.stdout.trim() || r.stderr.trim()).split('\n').slice(-3).join(' | ').slice(0, 400)}`);
  let out: unknown;
  try {
    out = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    throw new Error(`${what} printed no JSON: ${r.stdout.slice(0, 200)}`);
  }
  return { ms, out };
}

const nsName = (lab: Lab, door: Door, side: Side, i: number, api = false) => `rt${lab.tag}${door === 'cni' ? 'c' : 'n'}${api ? 'a' : side === 'peer' ? 'p' : 'y'}${i}`;

async function nsAdd(lab: Lab, name: string): Promise<string> {
  await run('ip', ['netns', 'del', name]);
  const r = await run('ip', ['netns', 'add', name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`);
  lab.netns.add(name);
  return `/run/netns/${name}`;
}

async function nsDel(lab: Lab, name: string): Promise<void> {
  const r = await run('ip', ['netns', 'del', name]);
  if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`);
  lab.netns.delete(name);
}

/** `ip -j addr show` inside a container namespace (read only). */
async function addrs(name: string): Promise<string[] | undefined> {
  const r = await run('ip', ['-n', name, '-j', 'addr', 'show']);
  if (r.code !== 0) throw new Error(`ip -n ${name} addr show: ${r.stderr.trim()}`);
  return addressesOf(r.stdout, IFNAME);
}

/** One side of one front door: setup/teardown of container i in namespace `ns`. */
interface Runner {
  label: string;
  setup(ns: string, i: number): Promise<Call>;
  teardown(ns: string, i: number, setupOut: unknown): Promise<Call>;
}

function netavarkRunner(lab: Lab, side: Side): Runner {
  const net = NETS.netavark[side];
  const argv = (cmd: string, ns: string) =>
    side === 'peer'
      ? ['env', '-i', `PATH=${lab.pathVar}`, NETAVARK, '--config', path.join(lab.tmp, 'netavark'), '--rootless=false', cmd, ns]
      : ['env', '-i', `PATH=${lab.pathVar}`, `YARD_HOST=unix://${lab.host.socket}`, path.join(BIN_DIR, 'switchyard-netavark'), '--config', path.join(lab.tmp, 'netavark-yard'), '--rootless=false', cmd, ns];
  const label = side === 'peer' ? 'netavark' : 'switchyard-netavark';
  return {
    label,
    setup: (ns, i) => exe(lab, argv('setup', ns), JSON.stringify(netavarkOptions(net, side, i)), `${label} setup`),
    teardown: (ns, i) => exe(lab, argv('teardown', ns), JSON.stringify(netavarkOptions(net, side, i)), `${label} teardown`),
  };
}

function cniRunner(lab: Lab, side: Side): Runner {
  const net = NETS.cni[side];
  const conf = side === 'peer' ? bridgeConf(net, path.join(lab.tmp, 'host-local')) : switchyardConf(net, lab.host.socket);
  const plugin = side === 'peer' ? path.join(CNI_DIR, 'bridge') : path.join(lab.cniPath.split(':')[0]!, 'switchyard');
  const label = side === 'peer' ? 'bridge' : 'switchyard';
  const id = (i: number) => `rtbench-${lab.tag}-${side}-${i}`;
  const call = (cmd: 'ADD' | 'DEL', ns: string, i: number, c: Record<string, unknown>) =>
    exe(lab, ['env', '-i', ...cniEnv(cmd, id(i), ns, lab.cniPath, lab.pathVar), plugin], JSON.stringify(c), `${label} ${cmd}`);
  return {
    label,
    setup: (ns, i) => call('ADD', ns, i, conf),
    // As libcni: DEL gets the ADD's result as prevResult.
    teardown: (ns, i, prev) => call('DEL', ns, i, prev ? { ...conf, prevResult: prev } : conf),
  };
}

/**
 * Switchyard's daemon alone: the request its executable posts, sent on the bench's kept-alive
 * socket, with the PID of a process that `ip netns exec` started in the lab host as the
 * caller (the executables' PID is such a process; the daemon reaches the namespace path
 * through that process's mount namespace, as it does for theirs).
 */
function apiRunner(lab: Lab, door: Door): Runner {
  const post = async (p: string, body: unknown, what: string): Promise<Call> => {
    const [ms, r] = await timed(() => lab.ctx.api(1).request('POST', p, body));
    if (r.status >= 300) throw new Error(`${what} answered ${r.status}: ${r.text.trim().slice(0, 300)}`);
    return { ms, out: r.text.trim() ? JSON.parse(r.text) : undefined };
  };
  if (door === 'netavark') {
    const net = NETS.netavark.yard;
    const call = (cmd: string, ns: string, i: number) => post(`/yard/v1/netavark/${cmd}`, { netns: ns, pid: lab.holderPid, options: JSON.stringify(netavarkOptions(net, 'yard', i)) }, `POST /yard/v1/netavark/${cmd}`);
    return { label: 'POST /yard/v1/netavark', setup: (ns, i) => call('setup', ns, i), teardown: (ns, i) => call('teardown', ns, i) };
  }
  const conf = switchyardConf(NETS.cni.yard, lab.host.socket);
  const call = (command: 'ADD' | 'DEL', ns: string, i: number, config: Record<string, unknown>) =>
    post('/yard/v1/cni', { command, containerId: `rtbench-${lab.tag}-api-${i}`, netns: ns, ifname: IFNAME, args: {}, config, pid: lab.holderPid }, `POST /yard/v1/cni ${command}`);
  return { label: 'POST /yard/v1/cni', setup: (ns, i) => call('ADD', ns, i, conf), teardown: (ns, i, prev) => call('DEL', ns, i, prev ? { ...conf, prevResult: prev } : conf) };
}

/** The live containers of a measurement (for cleanup on failure). */
interface Live {
  runner: Runner;
  ns: string;
  path: string;
  i: number;
  out: unknown;
}

/** Setup, timed; then the untimed check that the interface has the address the call reported. */
async function up(lab: Lab, door: Door, side: Side, r: Runner, i: number, f: DoorFigures, live: Map<string, Live>, api = false): Promise<Live & { ms: number }> {
  const name = nsName(lab, door, side, i, api);
  const p = await nsAdd(lab, name);
  const l: Live = { runner: r, ns: name, path: p, i, out: undefined };
  live.set(name, l);
  const c = await r.setup(p, i);
  l.out = c.out;
  const want = reportedAddress(door, NETS[door][side].name, c.out);
  const have = await addrs(name);
  f.checks[side].made++;
  if (!want || !have?.includes(want)) throw new Error(`${r.label} setup: ${name} has ${IFNAME} ${have ? `with ${have.join(', ') || 'no address'}` : 'missing'}, the call reported ${want ?? 'no address'}`);
  if (door === 'netavark' && want !== `${containerAddress(NETS[door][side].prefix, i)}/24`) throw new Error(`${r.label} setup: reported ${want}, Podman asked for ${containerAddress(NETS[door][side].prefix, i)}`);
  f.checks[side].passed++;
  return { ...l, ms: c.ms };
}

/** Teardown, timed; then the untimed check that the interface is gone; the namespace is deleted. */
async function down(lab: Lab, side: Side, l: Live, f: DoorFigures, live: Map<string, Live>): Promise<number> {
  const c = await l.runner.teardown(l.path, l.i, l.out);
  live.delete(l.ns);
  const have = await addrs(l.ns);
  f.checks[side].made++;
  if (have) throw new Error(`${l.runner.label} teardown: ${IFNAME} is still in ${l.ns} (${have.join(', ')})`);
  f.checks[side].passed++;
  await nsDel(lab, l.ns);
  return c.ms;
}

/** Order of the sides in round i: swapped every round, so neither always goes first. */
const order = (i: number): Side[] => (i % 2 ? ['yard', 'peer'] : ['peer', 'yard']);

/** The one-container runs; returns the median wall time of a round (both sides, checks included). */
async function measureOne(lab: Lab, door: Door, runners: Record<Side, Runner>, f: DoorFigures, live: Map<string, Live>): Promise<number> {
  const { ctx } = lab;
  const rounds: number[] = [];
  for (let i = 0; i < WARM + RUNS && !ctx.expired(); i++) {
    const t0 = performance.now();
    for (const side of order(i)) {
      const u = await up(lab, door, side, runners[side], 0, f, live);
      const d = await down(lab, side, u, f, live);
      if (i >= WARM) {
        f.setup[side].push(u.ms);
        f.teardown[side].push(d);
      }
    }
    if (i >= WARM) rounds.push(performance.now() - t0);
  }
  // The daemon's share of Switchyard's figure: the same calls without the executable.
  const api = apiRunner(lab, door);
  for (let i = 0; i < WARM + RUNS && !ctx.expired(); i++) {
    const u = await up(lab, door, 'yard', api, 0, f, live, true);
    const d = await down(lab, 'yard', u, f, live);
    if (i >= WARM) {
      f.api.setup.push(u.ms);
      f.api.teardown.push(d);
    }
  }
  ctx.log(`${door}: one container, setup p50 ${fmt(p50(f.setup.peer), 0)} / ${fmt(p50(f.setup.yard), 0)} ms, teardown p50 ${fmt(p50(f.teardown.peer), 0)} / ${fmt(p50(f.teardown.yard), 0)} ms (${runners.peer.label} / ${runners.yard.label}); the daemon alone ${fmt(p50(f.api.setup), 0)} / ${fmt(p50(f.api.teardown), 0)} ms`);
  return p50(rounds);
}

/** `count` containers in a row on each side (interleaved), all checked, then all torn down. */
async function measureMany(lab: Lab, door: Door, runners: Record<Side, Runner>, f: DoorFigures, live: Map<string, Live>, count: number): Promise<void> {
  const { ctx } = lab;
  const made: Record<Side, Live[]> = { peer: [], yard: [] };
  for (let i = 0; i < count && !ctx.expired(); i++) {
    for (const side of order(i)) {
      const u = await up(lab, door, side, runners[side], i, f, live);
      f.manySetup[side].push(u.ms);
      made[side].push(u);
    }
  }
  // All of them still there (a later setup must not have broken an earlier one).
  for (const side of ['peer', 'yard'] as Side[]) {
    for (const l of made[side]) {
      const want = reportedAddress(door, NETS[door][side].name, l.out)!;
      if (!(await addrs(l.ns))?.includes(want)) throw new Error(`${runners[side].label}: after ${made[side].length} setups, ${l.ns} lost ${want}`);
    }
  }
  // Teardown of every one made (also the cleanup), in the order of their setup.
  for (let i = 0; i < Math.max(made.peer.length, made.yard.length); i++) {
    for (const side of order(i)) if (made[side][i]) f.manyTeardown[side].push(await down(lab, side, made[side][i]!, f, live));
  }
  ctx.log(`${door}: ${made.peer.length} in a row, setup ${fmt(sum(f.manySetup.peer) / 1000, 2)} / ${fmt(sum(f.manySetup.yard) / 1000, 2)} s, teardown ${fmt(sum(f.manyTeardown.peer) / 1000, 2)} / ${fmt(sum(f.manyTeardown.yard) / 1000, 2)} s`);
}

/** Best effort, bounded: tear down what a failure left, delete every namespace made, the bridges and networks. */
async function cleanup(lab: Lab, live: Map<string, Live>): Promise<void> {
  for (const l of [...live.values()]) await l.runner.teardown(l.path, l.i, l.out).catch(() => undefined);
  live.clear();
  for (const n of [...lab.netns]) await nsDel(lab, n).catch(() => undefined);
  for (const door of ['netavark', 'cni'] as Door[]) {
    for (const side of ['peer', 'yard'] as Side[]) {
      const br = NETS[door][side].bridge;
      if ((await lab.ctx.sh(lab.host, ['ip', 'link', 'show', br])).code === 0) await lab.ctx.sh(lab.host, ['ip', 'link', 'del', br]);
    }
  }
  await lab.ctx.sh(lab.host, ['yard', 'network', 'rm', NETS.cni.yard.name]);
  fs.rmSync(lab.tmp, { recursive: true, force: true });
}

/** The cost of starting a process the way every figure starts one, in the same lab host. */
async function floors(lab: Lab): Promise<string[][]> {
  const shell: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < FLOOR_RUNS && !lab.ctx.expired(); i++) {
    shell.push((await exe(lab, ['env', '-i', `PATH=${lab.pathVar}`, 'true'], '', 'true')).ms);
    node.push((await exe(lab, ['env', '-i', `PATH=${lab.pathVar}`, 'sh', '-c', 'exec node -e 0'], '', 'node -e 0')).ms);
  }
  return [
    ['`ip netns exec <host> env -i true` (a process start, common to every figure)', fmt(p50(shell), 1)],
    ['`ip netns exec <host> env -i sh -c "exec node -e 0"` (Node\'s start, in each Switchyard call)', fmt(p50(node), 1)],
  ];
}

async function version(cmd: string[]): Promise<string> {
  const r = await run(cmd[0]!, cmd.slice(1));
  return r.code === 0 ? r.stdout.trim() : '?';
}

async function measure(ctx: PartCtx): Promise<PartTable[]> {
  for (const f of [NETAVARK, path.join(CNI_DIR, 'bridge'), path.join(CNI_DIR, 'host-local')]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: install Debian's netavark and containernetworking-plugins`);
  }
  const host = ctx.host(1);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-bench-runtimes-'));
  const pluginDir = path.join(tmp, 'cni-bin');
  fs.mkdirSync(pluginDir);
  fs.symlinkSync(path.join(BIN_DIR, 'switchyard-cni'), path.join(pluginDir, 'switchyard'));
  fs.mkdirSync(path.join(tmp, 'netavark'));
  const nvOut = await version([NETAVARK, 'version']);
  const nv = nvOut.startsWith('{') ? String((JSON.parse(nvOut) as { version?: unknown }).version ?? '?') : '?';
  const plugins = await version(['dpkg-query', '-W', '-f', '${Version}', 'containernetworking-plugins']);
  // Outlives no watchdog by much, even if the bench itself is killed.
  const holder = spawn('ip', ['netns', 'exec', host.name, 'sleep', String(Math.ceil(RUNTIMES_WATCHDOG_MS / 1000) + 10)], { stdio: 'ignore' });
  holder.on('error', () => {});
  const lab: Lab = {
    ctx,
    host,
    holderPid: holder.pid ?? 0,
    tag: String(process.pid % 100000),
    netns: new Set(),
    // Node's directory first: both Switchyard executables are `node` scripts.
    pathVar: `${path.dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    tmp,
    cniPath: `${pluginDir}:${CNI_DIR}`,
  };
  const live = new Map<string, Live>();
  const fig: Record<Door, DoorFigures> = { netavark: emptyFigures(), cni: emptyFigures() };
  const runners: Record<Door, Record<Side, Runner>> = {
    netavark: { peer: netavarkRunner(lab, 'peer'), yard: netavarkRunner(lab, 'yard') },
    cni: { peer: cniRunner(lab, 'peer'), yard: cniRunner(lab, 'yard') },
  };
  const deadline = Date.now() + RUNTIMES_BUDGET_MS;
  // On ^C or the watchdog the process exits without reaching `finally`: the namespaces made
  // here are not the lab's, so they go here (synchronously, as the process exits).
  const onExit = () => {
    for (const n of lab.netns) spawnSync('ip', ['netns', 'del', n], { timeout: 5_000 });
    holder.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  let floorRows: string[][] = [];
  try {
    if (!lab.holderPid) throw new Error(`ip netns exec ${host.name} sleep did not start`);
    await yardIn(ctx, host, 'network', 'create', '--subnet', `${NETS.cni.yard.prefix}.0/24`, '-o', `com.docker.network.bridge.name=${NETS.cni.yard.bridge}`, NETS.cni.yard.name);
    floorRows = await floors(lab);
    // The one-container medians first, then the long series: on a slow machine the budget
    // cuts a series of 50 (its n shows it) rather than skipping a front door.
    const round: Partial<Record<Door, number>> = {};
    for (const door of ['netavark', 'cni'] as Door[]) if (!ctx.expired()) round[door] = await measureOne(lab, door, runners[door], fig[door], live);
    // Each series of containers in a row gets its share of what is left of the budget
    // (setup and teardown of all of them inside it), sized from the rounds just measured.
    const doors = (['netavark', 'cni'] as Door[]).filter((d) => round[d] !== undefined);
    for (let k = 0; k < doors.length; k++) {
      const door = doors[k]!;
      const count = seriesCount((deadline - Date.now()) / (doors.length - k), round[door]!, MANY);
      if (count < MANY) ctx.notes.push(`${door}: ${count} containers in a row instead of ${MANY}, to stay within the budget (one round took ${fmt(round[door]!, 0)} ms)`);
      if (count > 0) await measureMany(lab, door, runners[door], fig[door], live, count);
    }
  } finally {
    await cleanup(lab, live);
    holder.kill('SIGKILL');
    process.off('exit', onExit);
  }
  ctx.notes.push(
    `netavark ${nv} (\`${NETAVARK} version\`), containernetworking-plugins ${plugins} (dpkg); ` +
      `Switchyard's executables are Node programs (\`bin/switchyard-netavark\`, \`bin/switchyard-cni\`) that post each call to the host's daemon`,
    `each figure is one process run through \`ip netns exec <host> env -i ...\` from the bench, its start included (the same for both sides); ` +
      `${WARM} unrecorded run per side first; sides interleaved, the order swapped every run`,
  );
  const v = NETS.netavark;
  const c = NETS.cni;
  return [
    {
      title: `Podman's network executable: Debian's netavark ${nv} vs \`switchyard-netavark\`, \`--config DIR --rootless=false setup|teardown NETNS\`, one bridge network with a /24 and a static address per container (netavark: ${v.peer.name}, ${v.peer.bridge}, ${v.peer.prefix}.0/24; Switchyard: ${v.yard.name}, ${v.yard.bridge}, ${v.yard.prefix}.0/24); ms`,
      headers: ['measurement', `netavark ${nv}`, 'Switchyard', 'netavark ÷ Switchyard'],
      rows: doorRows(fig.netavark, { setup: 'setup', teardown: 'teardown' }),
    },
    {
      title: `CNI plugin: reference \`bridge\` + \`host-local\` (${plugins}; ${c.peer.bridge}, ${c.peer.prefix}.0/24, isGateway, ipMasq) vs \`switchyard\` (network ${c.yard.name}, ${c.yard.prefix}.0/24), cniVersion 1.0.0, ADD and DEL (DEL with the ADD's result as prevResult); ms`,
      headers: ['measurement', 'bridge + host-local', 'Switchyard', 'bridge ÷ Switchyard'],
      rows: doorRows(fig.cni, { setup: 'ADD', teardown: 'DEL' }),
    },
    { title: `Process start floors in the lab host (median of ${FLOOR_RUNS}, ms)`, headers: ['floor', 'ms'], rows: floorRows },
  ];
}

export const RUNTIMES_PART: PartSpec = {
  part: 'runtimes',
  lab: { hosts: 1, cluster: false },
  // On a 2-core machine at load 5 to 8 a Switchyard call takes 0.3 to 1.3 s and a netavark one
  // 0.2 to 1 s: the series of 50 are sized to what is left of the budget (notes and n show a
  // shortened one); teardown of what was set up is inside that share, and the watchdog's
  // 90 s margin covers a round that runs late.
  budgetMs: RUNTIMES_BUDGET_MS,
  watchdogMs: RUNTIMES_WATCHDOG_MS,
  measure,
};
