/**
 * The api part: Docker 20.10 (Debian's dockerd, run inside a 1-host lab as in the docker
 * part) and the Switchyard daemon of the same lab host, measured side by side in the same
 * run with the same clients. Nothing here is a reference figure: both sides are measured now.
 *   1. curl on each API unix socket, one process per request, run inside the lab host:
 *      `GET /_ping` (the floor), `POST /networks/create` (bridge, default IPAM),
 *      `DELETE /networks/{id}`, `POST /networks/{id}/connect` and `/disconnect` of a running
 *      container (Docker: `docker run -d bb sleep`) / running sandbox (Switchyard: a
 *      detached sandbox). ROUNDS recorded rounds after WARMUP, the two sides interleaved
 *      (order swapped every round); the figure is curl's own `%{time_total}`. Medians, each
 *      minus the same run's `_ping` median ("server time"), and Docker ÷ Switchyard of the
 *      server times next to the goal (10×).
 *   2. the same docker CLI (/usr/bin/docker 20.10) against each socket
 *      (DOCKER_HOST=unix://<socket>): `docker network inspect` (the CLI's floor: its start
 *      and one GET), `docker network connect` and `disconnect`, wall time per command.
 *   4. the floor under connect and disconnect on this machine, now: the same kernel changes
 *      the daemon makes, sent over rtnetlink by the benchmark process itself (no daemon, no
 *      HTTP), one round after each round of 1 (the same pace as the requests), plus one
 *      1 KiB state write with fsync in the daemon's state file system; and the highest
 *      Docker ÷ Switchyard ratio that floor leaves (Docker's server time from 1 divided by
 *      the floor).
 * Sections run in the order 1, 4, 3, 2 with a share of the budget each (API_SHARE_MS for 1,
 * fixed runs for 3 and 4, the rest for 2), so a loaded machine cuts rounds, not sections.
 *   3. the embedded resolver (127.0.0.11) with dnsperf from inside a container's network
 *      namespace (nsenter --net=/proc/<pid>/ns/net) and a sandbox's: the other container's
 *      / sandbox's name at 32 and at 1 in flight, the same name one at a time with
 *      dns-seq.js (no pacing gap between an answer and the next query), and a name of the
 *      lab's fake upstream (forwarded) at 32, DNS_SECONDS each: q/s, p99, and queries per CPU-second of the
 *      resolver's process (dockerd; the Switchyard daemon) from /proc/<pid>/stat utime+stime
 *      over the run. Ratios next to the goal (2×).
 * Figures and ratios only; a goal is printed, never asserted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyPlan } from '../kernel/apply.js';
import { run } from '../kernel/exec.js';
import { applyNetlink, netlinkAvailable } from '../kernel/netlink.js';
import type { NetlinkOp } from '../kernel/rtnl.js';
import { LIB_DIR, PACKAGE_ROOT, sandboxNetnsPrefix } from '../paths.js';
import { cpuTicks, parseDnsperf, processCpuTicks, type Perf } from './dns.js';
import { runSandbox, sandboxNs } from './netpath.js';
import { fmt, median, PartFailure, timed, type PartCtx, type PartSpec, type PartTable } from './run-part.js';

const WARMUP = 2;
const ROUNDS = 20;
const CLI_ROUNDS = 20;
const DNS_SECONDS = 5;
const SEQ_COUNT = 200_000;
const DNS_SEQ = path.join(PACKAGE_ROOT, 'dist', 'bench', 'dns-seq.js');
/** How long the curl rounds may take (from the start of measuring, set-up included). */
const API_SHARE_MS = 60_000;
const API_GOAL = 10;
const DNS_GOAL = 2;
const IMAGE = 'bb';
const SLEEP = ['sleep', '3600'];
const EMBEDDED = '127.0.0.11';
const FORWARDED = 'foo.lab';
const V = '/v1.41';

export type Side = 'yard' | 'docker';
export const SIDE_LABEL: Record<Side, string> = { yard: 'Switchyard', docker: 'Docker 20.10' };
/** Order of the two sides in round i: swapped every round, so neither always goes first. */
export const order = (i: number): Side[] => (i % 2 ? ['docker', 'yard'] : ['yard', 'docker']);

/** The lab objects of each side: `main` holds the running container / sandbox and the DNS target, `extra` is connected and disconnected. */
const OBJ: Record<Side, { main: string; extra: string; subnets: [string, string]; client: string; target: string }> = {
  yard: { main: 'api-ya', extra: 'api-yb', subnets: ['10.32.0.0/24', '10.33.0.0/24'], client: 'api-sc', target: 'api-st' },
  docker: { main: 'api-da', extra: 'api-db', subnets: ['10.42.0.0/24', '10.43.0.0/24'], client: 'api-dc', target: 'api-dt' },
};

// ---------------------------------------------------------------- pure: figures and rows

export const API_OPS = ['ping', 'create', 'delete', 'connect', 'disconnect'] as const;
export type ApiOp = (typeof API_OPS)[number];
export const API_LABEL: Record<ApiOp, string> = {
  ping: 'GET /_ping (the floor)',
  create: 'POST /networks/create (bridge, default IPAM)',
  delete: 'DELETE /networks/{id}',
  connect: 'POST /networks/{id}/connect (a running container / sandbox)',
  disconnect: 'POST /networks/{id}/disconnect',
};
export type ApiSamples = Record<Side, Record<ApiOp, number[]>>;

export const emptySamples = <K extends string>(keys: readonly K[]): Record<Side, Record<K, number[]>> => ({
  yard: Object.fromEntries(keys.map((k) => [k, []])) as unknown as Record<K, number[]>,
  docker: Object.fromEntries(keys.map((k) => [k, []])) as unknown as Record<K, number[]>,
});

/** `a ÷ b` as `N.NN×`; '-' when either is missing or `b` is not above zero (a server time at or below the floor has no ratio). */
export function times(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 && a >= 0 ? `${(a / b).toFixed(2)}×` : '-';
}

export const API_HEADERS = [
  'request (curl, one process each)',
  'n',
  'Switchyard median ms',
  'Docker median ms',
  'Switchyard server time ms',
  'Docker server time ms',
  'Docker ÷ Switchyard, server time',
  'goal',
];

/** One row per request: medians, each minus its own side's `_ping` median, and Docker ÷ Switchyard of those. */
export function apiRows(s: ApiSamples): string[][] {
  const floor = { yard: median(s.yard.ping), docker: median(s.docker.ping) };
  return API_OPS.map((op) => {
    const m = { yard: median(s.yard[op]), docker: median(s.docker[op]) };
    const n = String(Math.min(s.yard[op].length, s.docker[op].length));
    if (op === 'ping') return [API_LABEL[op], n, fmt(m.yard, 2), fmt(m.docker, 2), '', '', '', ''];
    const server = { yard: m.yard - floor.yard, docker: m.docker - floor.docker };
    return [API_LABEL[op], n, fmt(m.yard, 2), fmt(m.docker, 2), fmt(server.yard, 2), fmt(server.docker, 2), times(server.docker, server.yard), `${API_GOAL}×`];
  });
}

export const CLI_OPS = ['floor', 'connect', 'disconnect'] as const;
export type CliOp = (typeof CLI_OPS)[number];
export const CLI_HEADERS = ['docker CLI (DOCKER_HOST=unix://<socket>)', 'n', 'Switchyard median ms', 'Docker median ms', 'Switchyard minus floor ms', 'Docker minus floor ms', 'Docker ÷ Switchyard, minus floor'];

export function cliRows(s: Record<Side, Record<CliOp, number[]>>): string[][] {
  const floor = { yard: median(s.yard.floor), docker: median(s.docker.floor) };
  const label: Record<CliOp, string> = {
    floor: '`docker network inspect -f {{.Id}}` (the floor: CLI start, _ping, one GET)',
    connect: '`docker network connect <net> <running container / sandbox>`',
    disconnect: '`docker network disconnect <net> <container / sandbox>`',
  };
  return CLI_OPS.map((op) => {
    const m = { yard: median(s.yard[op]), docker: median(s.docker[op]) };
    const n = String(Math.min(s.yard[op].length, s.docker[op].length));
    if (op === 'floor') return [label[op], n, fmt(m.yard, 0), fmt(m.docker, 0), '', '', ''];
    const net = { yard: m.yard - floor.yard, docker: m.docker - floor.docker };
    return [label[op], n, fmt(m.yard, 0), fmt(m.docker, 0), fmt(net.yard, 0), fmt(net.docker, 0), times(net.docker, net.yard)];
  });
}

/** One dnsperf run and the resolver process's CPU time over it. */
export interface DnsRun extends Omit<Perf, 'sent'> {
  cpuSeconds: number;
}

export { cpuTicks };

export const DNS_HEADERS = ['measurement', 'Switchyard', 'Docker 20.10', 'Switchyard ÷ Docker', 'goal'];
const NAME = 'A of the other sandbox\'s / container\'s name';
export const DNS_KINDS = [
  { key: 'local32', what: `dnsperf: ${NAME}`, inflight: 32, client: 'dnsperf' },
  { key: 'local1', what: `dnsperf: ${NAME}`, inflight: 1, client: 'dnsperf' },
  { key: 'seq1', what: `dns-seq (one at a time): ${NAME}`, inflight: 1, client: 'dns-seq' },
  { key: 'fwd32', what: `dnsperf: A ${FORWARDED}, forwarded to the lab's fake upstream`, inflight: 32, client: 'dnsperf' },
] as const;
export type DnsKind = (typeof DNS_KINDS)[number]['key'];

/**
 * With one query in flight q/s should be near 1 / latency; when it is far below (dnsperf's
 * own pacing between an answer and the next query; dns-seq's row shows what one at a time gives), say so: the latencies are then the figure.
 */
export function pacingNote(side: string, r: Pick<DnsRun, 'qps' | 'p50'>): string | undefined {
  if (!(r.p50 > 0) || !(r.qps > 0)) return undefined;
  const bound = 1000 / r.p50;
  return r.qps < bound / 2
    ? `${side}, 1 in flight: answers took ${fmt(r.p50, 3)} ms at p50 (at most ${fmt(bound, 0)} q/s one after another) but dnsperf sent only ${fmt(r.qps, 0)} q/s: its own pacing bounds that row's q/s (the dns-seq row sends one query at a time without it); compare the latencies`
    : undefined;
}

/** Queries answered per CPU-second of the resolver's process; NaN when no CPU time was seen. */
export const perCpuSecond = (r: DnsRun): number => (r.cpuSeconds > 0 ? r.completed / r.cpuSeconds : NaN);

/**
 * Per kind measured on both sides: q/s (Switchyard ÷ Docker), p99 (shown as Docker ÷
 * Switchyard, so that above 1 is Switchyard ahead as in the other rows), queries per
 * CPU-second, and answers / timeouts / other answers as a check.
 */
export function dnsRows(got: Partial<Record<DnsKind, Partial<Record<Side, DnsRun>>>>): string[][] {
  const rows: string[][] = [];
  for (const k of DNS_KINDS) {
    const y = got[k.key]?.yard;
    const d = got[k.key]?.docker;
    if (!y || !d) continue;
    const head = `${k.what}, ${k.inflight} in flight`;
    rows.push([`${head}: q/s`, fmt(y.qps, 0), fmt(d.qps, 0), times(y.qps, d.qps), `${DNS_GOAL}×`]);
    rows.push(['  p50 ms (ratio: Docker ÷ Switchyard)', fmt(y.p50, 3), fmt(d.p50, 3), times(d.p50, y.p50), '']);
    rows.push(['  p99 ms (ratio: Docker ÷ Switchyard)', fmt(y.p99, 3), fmt(d.p99, 3), times(d.p99, y.p99), '']);
    rows.push(['  answers per CPU-second of the resolver\'s process', fmt(perCpuSecond(y), 0), fmt(perCpuSecond(d), 0), times(perCpuSecond(y), perCpuSecond(d)), `${DNS_GOAL}×`]);
    rows.push(['  answers / timeouts / not NOERROR', `${y.completed} / ${y.lost} / ${y.notNoerror}`, `${d.completed} / ${d.lost} / ${d.notNoerror}`, '', '']);
  }
  return rows;
}

// ---------------------------------------------------------------- the lab

interface Lab {
  socket: Record<Side, string>;
  /** The docker CLI's config directory (never the caller's ~/.docker). */
  clientDir: string;
  /** The ID of each side's `extra` network (connect / disconnect go to /networks/{id}/...). */
  extraId: Record<Side, string>;
  /** The running container's / sandbox's ID for connect. */
  ctr: Record<Side, string>;
  /** The resolver's process. */
  pid: Record<Side, number>;
  /** Where dnsperf runs: the argv prefix that enters the client's network namespace. */
  enter: Record<Side, string[]>;
  tmp: string;
  /** The curl section's samples, once it ran (the floor section divides Docker's by its floor). */
  api?: ApiSamples;
  /** The floor's kernel objects and samples (none where the daemon cannot use rtnetlink). */
  floor?: FloorKit;
}

interface Curl {
  status: number;
  ms: number;
  body: string;
}

/** One request, one curl process, inside the lab host; the figure is curl's own time_total. */
async function curl(ctx: PartCtx, socket: string, method: string, urlPath: string, body?: unknown): Promise<Curl> {
  const argv = ['curl', '-sS', '--max-time', '30', '--unix-socket', socket, '-X', method, '-w', '\n%{http_code} %{time_total}'];
  if (body !== undefined) argv.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
  argv.push(`http://localhost${urlPath}`);
  const r = await ctx.sh(ctx.host(1), argv, 40_000);
  const m = /\n(\d{3}) ([0-9.]+)$/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`curl ${method} ${urlPath} on ${socket} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  const status = Number(m[1]);
  const text = r.stdout.slice(0, m.index);
  if (status < 200 || status >= 300) throw new Error(`${method} ${urlPath} on ${socket}: HTTP ${status} ${text.trim().slice(0, 300)}`);
  return { status, ms: Number(m[2]) * 1000, body: text };
}

async function must(ctx: PartCtx, socket: string, method: string, urlPath: string, body?: unknown): Promise<string> {
  return (await curl(ctx, socket, method, urlPath, body)).body;
}

async function setUp(ctx: PartCtx): Promise<Lab> {
  const host = ctx.host(1);
  const engine = host.docker;
  if (!engine) throw new Error('the lab host runs no Docker engine');
  if (!host.daemonPid) throw new Error('the lab host runs no Switchyard daemon');
  const socket: Record<Side, string> = { yard: host.socket, docker: engine.socket };
  const version = JSON.parse(await must(ctx, engine.socket, 'GET', `${V}/version`)) as { Version: string };
  ctx.notes.push(`dockerd ${version.Version} (pid ${engine.pid}, --dns ${engine.dns}) and the Switchyard daemon (pid ${host.daemonPid}) in the same lab host; curl, dnsperf and the docker CLI run inside it`);
  const extraId = { yard: '', docker: '' };
  for (const side of ['yard', 'docker'] as Side[]) {
    const o = OBJ[side];
    for (const [i, net] of [o.main, o.extra].entries()) {
      const r = await must(ctx, socket[side], 'POST', `${V}/networks/create`, { Name: net, Driver: 'bridge', IPAM: { Config: [{ Subnet: o.subnets[i] }] } });
      if (net === o.extra) extraId[side] = (JSON.parse(r) as { Id: string }).Id;
    }
  }
  // Docker: two running containers of the lab's image on its user network.
  const dockerIds: string[] = [];
  for (const name of [OBJ.docker.client, OBJ.docker.target]) {
    const r = await ctx.sh(host, ['/usr/bin/docker', '--config', engine.clientDir, '-H', `unix://${engine.socket}`, 'run', '-d', '--name', name, '--network', OBJ.docker.main, IMAGE, ...SLEEP], 120_000);
    if (r.code !== 0) throw new Error(`docker run ${name}: ${r.stderr.trim()}`);
    dockerIds.push(r.stdout.trim());
  }
  const pidOf = async (name: string) => {
    const r = await ctx.sh(host, ['/usr/bin/docker', '--config', engine.clientDir, '-H', `unix://${engine.socket}`, 'inspect', '-f', '{{.State.Pid}}', name]);
    const pid = Number(r.stdout.trim());
    if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0) throw new Error(`docker inspect ${name}: ${r.stderr.trim() || r.stdout.trim()}`);
    return pid;
  };
  const dockerClientPid = await pidOf(OBJ.docker.client);
  // Switchyard: two running (detached) sandboxes on its network.
  const yardCtr = await runSandbox(ctx, 1, { name: OBJ.yard.client, networks: [{ network: OBJ.yard.main }], command: SLEEP });
  await runSandbox(ctx, 1, { name: OBJ.yard.target, networks: [{ network: OBJ.yard.main }], command: SLEEP });
  const yardNs = await sandboxNs(ctx, 1, OBJ.yard.client);
  return {
    socket,
    extraId,
    clientDir: engine.clientDir,
    ctr: { yard: yardCtr, docker: dockerIds[0]! },
    pid: { yard: host.daemonPid, docker: engine.pid },
    enter: { yard: ['ip', 'netns', 'exec', yardNs], docker: ['ip', 'netns', 'exec', host.name, 'nsenter', `--net=/proc/${dockerClientPid}/ns/net`] },
    tmp: fs.mkdtempSync(path.join(os.tmpdir(), 'yard-apibench-')),
  };
}

// ---------------------------------------------------------------- 1. the API with curl

async function apiRound(ctx: PartCtx, lab: Lab, side: Side, i: number, rec: (op: ApiOp, ms: number) => void): Promise<void> {
  const s = lab.socket[side];
  const extra = lab.extraId[side];
  rec('ping', (await curl(ctx, s, 'GET', '/_ping')).ms);
  const c = await curl(ctx, s, 'POST', `${V}/networks/create`, { Name: `api-n${i}-${side}`, Driver: 'bridge' });
  rec('create', c.ms);
  const id = (JSON.parse(c.body) as { Id: string }).Id;
  rec('delete', (await curl(ctx, s, 'DELETE', `${V}/networks/${id}`)).ms);
  rec('connect', (await curl(ctx, s, 'POST', `${V}/networks/${extra}/connect`, { Container: lab.ctr[side] })).ms);
  rec('disconnect', (await curl(ctx, s, 'POST', `${V}/networks/${extra}/disconnect`, { Container: lab.ctr[side] })).ms);
}

async function api(ctx: PartCtx, lab: Lab, stopAt: number): Promise<PartTable> {
  const s = (lab.api = emptySamples(API_OPS));
  for (let i = 0; i < WARMUP + ROUNDS && !ctx.expired() && Date.now() < stopAt; i++) {
    for (const side of order(i)) await apiRound(ctx, lab, side, i, (op, ms) => i >= WARMUP && s[side][op].push(ms));
    if (lab.floor) await floorRound(lab.floor, i >= WARMUP);
    if ((i + 1 - WARMUP) % 5 === 0 && i >= WARMUP) ctx.log(`curl: ${i + 1 - WARMUP} rounds (connect median Switchyard ${fmt(median(s.yard.connect), 2)} ms, Docker ${fmt(median(s.docker.connect), 2)} ms)`);
  }
  return {
    title: `The API over each unix socket with curl (one process per request, inside the lab host; curl's time_total), ${Math.min(s.yard.ping.length, s.docker.ping.length)} rounds after ${WARMUP} unrecorded, the two sides interleaved (order swapped every round); server time = median minus the same side's GET /_ping median; goal: Docker ÷ Switchyard ≥ ${API_GOAL}× (printed, not asserted)`,
    headers: API_HEADERS,
    rows: apiRows(s),
  };
}

// ---------------------------------------------------------------- 4. the floor

const FLOOR_ROUNDS = 30;

/** Pure: the floor table's rows from its samples and the curl section's (Docker's server time over the floor). */
export function floorRows(f: Record<'connect' | 'disconnect' | 'fsync', number[]>, api: ApiSamples | undefined): string[][] {
  const fsync = median(f.fsync);
  const docker = (op: ApiOp) => (api ? median(api.docker[op]) - median(api.docker.ping) : NaN);
  const rows: string[][] = [['one state write with fsync (1 KiB, temp file and rename, in the state file system)', String(f.fsync.length), fmt(fsync, 2), '', '', '']];
  for (const op of ['connect', 'disconnect'] as const) {
    const k = median(f[op]);
    rows.push([
      op === 'connect'
        ? "connect's kernel changes (veth pair into the sandbox's namespace as a bridge port, no link-local and hairpin, up, address, peer up)"
        : "disconnect's kernel changes before its answer (host end down; the sandbox's end down and renamed away)",
      String(f[op].length),
      fmt(k, 2),
      fmt(k + fsync, 2),
      fmt(docker(op), 2),
      times(docker(op), k + fsync),
    ]);
  }
  return rows;
}

/**
 * What a connect and a disconnect cannot go below on this machine, measured now: their
 * kernel changes over rtnetlink from this process (into the lab host's namespace, on a
 * bridge of their own) and one fsync'd state write.
 */
/**
 * The floor's own kernel objects: a bridge in the lab host's namespace and a namespace
 * named like a sandbox of the lab host (the lab's teardown removes it if this dies). Its
 * rounds run in the curl section's loop, one after each round's requests, so the floor
 * and the requests meet the machine at the same pace (a kernel change right after a curl
 * process costs more than one in a tight loop).
 */
interface FloorKit {
  host: string;
  sbNs: string;
  connect: number[];
  disconnect: number[];
}

async function floorNl(ns: string, ops: NetlinkOp[]): Promise<void> {
  const r = await applyNetlink(ns, ops);
  if (r.error) throw new Error(`rtnetlink floor: ${r.error}`);
}

async function openFloor(ctx: PartCtx): Promise<FloorKit | undefined> {
  if (!netlinkAvailable()) return undefined;
  const host = ctx.host(1).name;
  const kit: FloorKit = { host, sbNs: `${sandboxNetnsPrefix(host)}apifloor`, connect: [], disconnect: [] };
  const made = await run('ip', ['netns', 'add', kit.sbNs]);
  if (made.code !== 0) throw new Error(`ip netns add ${kit.sbNs}: ${made.stderr.trim()}`);
  await floorNl(host, [{ op: 'link.add.bridge', name: 'ybfl0' }, { op: 'link.set', name: 'ybfl0', up: true }]);
  return kit;
}

/** One round: connect's kernel changes, then disconnect's, each timed; then the delete the daemon leaves behind its answer, untimed. */
async function floorRound(kit: FloorKit, record: boolean): Promise<void> {
  const { host, sbNs } = kit;
  // The connect plan as the daemon applies it (the sandbox's end addressed while the host's end is set up).
  const [c] = await timed(() =>
    applyPlan([
      { op: 'link.add.veth', ns: host, name: 'ybfA', peerName: 'eth1', peerNs: sbNs, peerMac: '02:42:0a:63:00:02', master: 'ybfl0', queues: 1 },
      { op: 'link.set', ns: host, name: 'ybfA', addrGenMode: 'none', hairpin: true },
      { op: 'link.set', ns: host, name: 'ybfA', up: true },
      { op: 'addr.add', ns: sbNs, dev: 'eth1', cidr: '10.99.0.2/24' },
      { op: 'link.set', ns: sbNs, name: 'eth1', up: true },
    ]),
  );
  const [d] = await timed(async () => {
    await floorNl(host, [{ op: 'link.set', name: 'ybfA', up: false }]);
    await floorNl(sbNs, [{ op: 'link.set', ns: sbNs, name: 'eth1', up: false }, { op: 'link.set', ns: sbNs, name: 'eth1', newName: 'ygcfloor' }]);
  });
  await floorNl(host, [{ op: 'link.del', name: 'ybfA' }]);
  if (record) {
    kit.connect.push(c);
    kit.disconnect.push(d);
  }
}

async function closeFloor(kit: FloorKit): Promise<void> {
  try {
    await floorNl(kit.host, [{ op: 'link.del', name: 'ybfl0' }]);
  } finally {
    await run('ip', ['netns', 'del', kit.sbNs]);
  }
}

async function floor(ctx: PartCtx, lab: Lab): Promise<PartTable> {
  const fsyncs: number[] = [];
  const dir = fs.mkdtempSync(path.join(fs.existsSync(LIB_DIR) ? LIB_DIR : os.tmpdir(), '.bench-fsync-'));
  try {
    const record = Buffer.alloc(1024, 0x7b);
    for (let i = 0; i < WARMUP + FLOOR_ROUNDS && !ctx.expired(); i++) {
      const [ms] = await timed(async () => {
        const tmp = path.join(dir, 'r.json.tmp');
        const fd = fs.openSync(tmp, 'w', 0o600);
        try {
          fs.writeSync(fd, record);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, path.join(dir, 'r.json'));
      });
      if (i >= WARMUP) fsyncs.push(ms);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const kit = lab.floor;
  return {
    title: `The floor under connect and disconnect on this machine, now: the daemon's kernel changes sent over rtnetlink by the benchmark process itself (no daemon, no HTTP), ${kit?.connect.length ?? 0} rounds, one after each recorded round of the curl section's requests (the same pace), plus one fsync'd state write (${fsyncs.length} in a row after ${WARMUP} unrecorded); the last column is the highest Docker ÷ Switchyard this floor leaves (Docker's server time from the curl rows ÷ floor)`,
    headers: ['what', 'n', 'median ms', 'with the state write, ms', 'Docker server time ms', 'Docker ÷ floor'],
    rows: floorRows({ connect: kit?.connect ?? [], disconnect: kit?.disconnect ?? [], fsync: fsyncs }, lab.api),
  };
}

// ---------------------------------------------------------------- 2. the docker CLI

async function cli(ctx: PartCtx, lab: Lab, stopAt: number): Promise<PartTable> {
  const s = emptySamples(CLI_OPS);
  const docker = async (side: Side, args: string[]): Promise<number> => {
    const argv = ['env', `DOCKER_HOST=unix://${lab.socket[side]}`, '/usr/bin/docker', '--config', lab.clientDir, ...args];
    const [ms, r] = await timed(() => ctx.sh(ctx.host(1), argv));
    if (r.code !== 0) throw new Error(`${SIDE_LABEL[side]}: docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return ms;
  };
  // The CLI names the running one as a user would: the container's / sandbox's name.
  const name: Record<Side, string> = { yard: OBJ.yard.client, docker: OBJ.docker.client };
  for (let i = 0; i < WARMUP + CLI_ROUNDS && !ctx.expired() && Date.now() < stopAt; i++) {
    for (const side of order(i)) {
      const rec = (op: CliOp, ms: number) => i >= WARMUP && s[side][op].push(ms);
      rec('floor', await docker(side, ['network', 'inspect', '-f', '{{.Id}}', OBJ[side].extra]));
      rec('connect', await docker(side, ['network', 'connect', OBJ[side].extra, name[side]]));
      rec('disconnect', await docker(side, ['network', 'disconnect', OBJ[side].extra, name[side]]));
    }
  }
  return {
    title: `The same docker CLI (/usr/bin/docker 20.10) against each socket, wall time per command inside the lab host, ${Math.min(s.yard.connect.length, s.docker.connect.length)} rounds after ${WARMUP} unrecorded, interleaved`,
    headers: CLI_HEADERS,
    rows: cliRows(s),
  };
}

// ---------------------------------------------------------------- 3. the embedded resolver

async function dnsRun(ctx: PartCtx, lab: Lab, side: Side, file: string, inflight: number, clkTck: number): Promise<DnsRun> {
  const out = path.join(lab.tmp, `dnsperf-${side}-${inflight}-${path.basename(file)}.txt`);
  const argv = ['dnsperf', '-s', EMBEDDED, '-d', file, '-c', '1', '-q', String(inflight), '-l', String(DNS_SECONDS), '-t', '1', '-v'];
  const t0 = processCpuTicks(lab.pid[side]);
  const [cmd, ...args] = [...lab.enter[side], 'sh', '-c', 'out=$1; shift; exec "$@" >"$out"', 'sh', out, ...argv];
  const r = await run(cmd!, args, { timeoutMs: (DNS_SECONDS + 15) * 1000 });
  const cpuSeconds = (processCpuTicks(lab.pid[side]) - t0) / clkTck;
  if (r.code !== 0) throw new Error(`${SIDE_LABEL[side]}: ${argv.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  const p = parseDnsperf(fs.readFileSync(out, 'utf8'));
  return { completed: p.completed, lost: p.lost, notNoerror: p.notNoerror, qps: p.qps, p50: p.p50, p99: p.p99, cpuSeconds };
}

/** The project's sequential client (dns-seq.js): one query at a time, the next sent on each answer. */
async function seqRun(lab: Lab, side: Side, name: string, clkTck: number): Promise<DnsRun> {
  const argv = [process.execPath, DNS_SEQ, EMBEDDED, name, String(SEQ_COUNT), String(DNS_SECONDS)];
  const t0 = processCpuTicks(lab.pid[side]);
  const [cmd, ...args] = [...lab.enter[side], ...argv];
  const r = await run(cmd!, args, { timeoutMs: (DNS_SECONDS + 15) * 1000 });
  const cpuSeconds = (processCpuTicks(lab.pid[side]) - t0) / clkTck;
  if (r.code !== 0) throw new Error(`${SIDE_LABEL[side]}: dns-seq ${name} exited ${r.code}: ${r.stderr.trim()}`);
  const q = JSON.parse(r.stdout) as { n: number; timeouts: number; bad: number; qps: number; p50: number; p99: number };
  return { completed: q.n, lost: q.timeouts, notNoerror: q.bad, qps: q.qps, p50: q.p50, p99: q.p99, cpuSeconds };
}

async function dns(ctx: PartCtx, lab: Lab, _stopAt: number): Promise<PartTable> {
  const clk = Number((await ctx.sh(ctx.host(1), ['getconf', 'CLK_TCK'])).stdout.trim()) || 100;
  const files: Record<Side, { local: string; fwd: string }> = { yard: { local: '', fwd: '' }, docker: { local: '', fwd: '' } };
  for (const side of ['yard', 'docker'] as Side[]) {
    files[side].local = path.join(lab.tmp, `${side}-local.txt`);
    files[side].fwd = path.join(lab.tmp, `${side}-fwd.txt`);
    fs.writeFileSync(files[side].local, `${OBJ[side].target} A\n`);
    fs.writeFileSync(files[side].fwd, `${FORWARDED} A\n`);
  }
  // Forwarded names only when both resolvers forward to the lab's fake upstream (never the machine's resolver).
  const engine = ctx.host(1).docker!;
  const fwdOk = !!ctx.info.fakeDnsPid && engine.dns === ctx.info.dnsAddress;
  if (!fwdOk) ctx.notes.push(`forwarded names skipped: the lab's fake upstream is not running or dockerd's --dns (${engine.dns}) is not it (${ctx.info.dnsAddress})`);
  const got: Partial<Record<DnsKind, Partial<Record<Side, DnsRun>>>> = {};
  let round = 0;
  for (const k of DNS_KINDS) {
    if (k.key === 'fwd32' && !fwdOk) continue;
    for (const side of order(round++)) {
      if (ctx.expired()) break;
      const r = k.client === 'dns-seq' ? await seqRun(lab, side, OBJ[side].target, clk) : await dnsRun(ctx, lab, side, k.key === 'fwd32' ? files[side].fwd : files[side].local, k.inflight, clk);
      (got[k.key] ??= {})[side] = r;
      if (k.key === 'local1') {
        const note = pacingNote(SIDE_LABEL[side], r);
        if (note) ctx.notes.push(note);
      }
      ctx.log(`${k.client} ${k.key} ${SIDE_LABEL[side]}: ${fmt(r.qps, 0)} q/s, p99 ${fmt(r.p99, 3)} ms, ${fmt(r.cpuSeconds, 2)} CPU-s, ${r.lost} timeouts`);
    }
  }
  return {
    title: `Embedded DNS (${EMBEDDED}, UDP) from inside a container's / sandbox's network namespace: dnsperf -c 1 -q N -l ${DNS_SECONDS} -t 1, and dns-seq for ${DNS_SECONDS} s, one run per row and side, the sides alternating; CPU = utime + stime of dockerd / the Switchyard daemon over the run; goal ${DNS_GOAL}× (printed, not asserted)`,
    headers: DNS_HEADERS,
    rows: dnsRows(got),
  };
}

// ---------------------------------------------------------------- the part

async function measure(ctx: PartCtx): Promise<PartTable[]> {
  const t0 = Date.now();
  const lab = await setUp(ctx);
  const tables: PartTable[] = [];
  lab.floor = await openFloor(ctx);
  // Each section has its share of the budget, so that a loaded machine cuts rounds (n shows
  // it) rather than whole sections: curl until API_SHARE_MS, dnsperf its fixed runs
  // (6 × DNS_SECONDS), the CLI until the part's budget.
  const steps: [(ctx: PartCtx, lab: Lab, stopAt: number) => Promise<PartTable>, number][] = [
    [api, t0 + API_SHARE_MS],
    [floor, Infinity],
    [dns, Infinity],
    [cli, Infinity],
  ];
  try {
    for (const [step, stopAt] of steps) {
      if (ctx.expired()) break;
      try {
        tables.push(await step(ctx, lab, stopAt));
      } catch (e) {
        throw new PartFailure((e as Error).message, tables);
      }
    }
  } finally {
    if (lab.floor) await closeFloor(lab.floor).catch((e: unknown) => ctx.log(`the floor's bridge and namespace: ${(e as Error).message}`));
    fs.rmSync(lab.tmp, { recursive: true, force: true });
    // The containers, sandboxes and networks go with the lab (taken down next).
  }
  return tables;
}

export const API_PART: PartSpec = {
  part: 'api',
  lab: { hosts: 1, cluster: false, docker: { hosts: 1 } },
  // Lab up 5-30 s; on a quiet machine curl ~30 s, DNS ~45 s, the CLI ~40 s; on a loaded one
  // the shares cut rounds (n shows it); lab down 5-15 s: within the watchdog.
  budgetMs: 130_000,
  watchdogMs: 200_000,
  measure,
};
