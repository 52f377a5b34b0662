/**
 * The firewall part's figures, in a 3-host lab (host 1 publishes, host 2 is the LAN client,
 * host 3 runs the same server with nothing else published, the control):
 *   1. a sandbox created with 0, 100, 1000 and 10,000 published ports, as one same-number
 *      range (`-p 20000-20999:20000-20999`: one map element) and as a shifted range
 *      (`-p 30000-30999:40000-40999`: one element per port): create and remove time
 *      (API), and the ruleset read back (`nft -j list table inet switchyard`: rules, elements);
 *   2. the goals, measured in rounds that alternate between no other port published and
 *      20,000 published (10,000 shifted: 10,000 hash elements per family; a 10,000 range:
 *      one element), the bulk sandbox removed and created again between rounds so that both
 *      states see the same machine load: connection set-up through a published port (TCP
 *      connect + one round trip, a new connection each time; host 2 alternates connection
 *      by connection between host 3 and host 1, so the two are measured under the same
 *      load at the same moments, and the rounds without the 20,000 give the two hosts'
 *      own ratio as a control) and publishing one more port
 *      (a sandbox create with `-p <port>:80`, next to the same create without `-p`);
 *   3. the data path to a published port from host 2 with 0 and with 20,000 other published
 *      ports: request/response and connect latency, iperf3 throughput, ratio;
 *   4. outbound throughput to an iperf3 server in the LAN namespace: from host 1 itself (no
 *      bridge, no NAT), from a sandbox masqueraded, and from a sandbox on a network with
 *      masquerade off (the LAN namespace routes its subnet back: plain routing, same bridge).
 */
import { spawn } from 'node:child_process';
import { processGone } from '../lab/lab.js';
import { CONNECT_COUNT, iperf, PINGPONG, measurePath, pathRow, PATH_HEADERS, runSandbox, sandboxNs, serverCommand, type PathFigures, type Target } from './netpath.js';
import { fmt, median, minOf, ratio, timed, type PartCtx, type PartSpec, type PartTable } from './run-part.js';

const RUNS_PER_SIZE = 3;
/** Rounds of each state (none / 20,000 published) for the goals, and creates per round. */
const ROUNDS = 4;
const ADD_ONE_PER_ROUND = 6;
const CONNECT_SECONDS = 2;
const BULK = ['30000-39999:40000-49999', '20000-29999:20000-29999'];
const SIZES = [100, 1_000, 10_000];
const SERVER = { port: 7001, iperfPort: 5301 };
const LAN_IPERF_PORT = 5400;
const SLEEP = ['sleep', '3600'];

interface Ruleset {
  rules: number;
  elements: number;
}

async function ruleset(ctx: PartCtx): Promise<Ruleset> {
  const r = await ctx.sh(ctx.host(1), ['nft', '-j', 'list', 'table', 'inet', 'switchyard']);
  if (r.code !== 0) throw new Error(`nft -j list table inet switchyard: ${r.stderr.trim()}`);
  const items = (JSON.parse(r.stdout) as { nftables: Record<string, { elem?: unknown[] }>[] }).nftables;
  let rules = 0;
  let elements = 0;
  for (const i of items) {
    if (i.rule) rules++;
    elements += (i.map?.elem?.length ?? 0) + (i.set?.elem?.length ?? 0);
  }
  return { rules, elements };
}

const range = (from: number, n: number) => `${from}-${from + n - 1}`;

async function remove(ctx: PartCtx, id: string): Promise<number> {
  return (await timed(() => ctx.api(1).ok('DELETE', `/yard/v1/sandboxes/${id}?force=1`)))[0];
}

/** 1. Create/remove time and ruleset size by number of published ports. */
async function sizes(ctx: PartCtx): Promise<PartTable> {
  const rows: string[][] = [];
  const configs: [string, number, string[]][] = [['no -p', 0, []]];
  for (const n of SIZES) {
    configs.push([`-p ${range(20000, n)}:${range(20000, n)} (same numbers)`, n, [`${range(20000, n)}:${range(20000, n)}`]]);
    configs.push([`-p ${range(30000, n)}:${range(40000, n)} (shifted)`, n, [`${range(30000, n)}:${range(40000, n)}`]]);
  }
  for (const [label, n, publish] of configs) {
    if (ctx.expired()) break;
    const creates: number[] = [];
    const removes: number[] = [];
    let size: Ruleset | undefined;
    for (let i = 0; i < RUNS_PER_SIZE && !ctx.expired(); i++) {
      const [ms, id] = await timed(() => runSandbox(ctx, 1, { name: `fw-size-${i}`, networks: [{ network: 'fw' }], command: SLEEP, publish }));
      creates.push(ms);
      size ??= await ruleset(ctx);
      removes.push(await remove(ctx, id));
    }
    ctx.log(`${label}: create ${fmt(median(creates), 1)} ms, ${size?.rules} rules, ${size?.elements} elements`);
    rows.push([label, String(n), String(creates.length), fmt(median(creates), 1), fmt(minOf(creates), 1), fmt(median(removes), 1), String(size?.rules ?? '-'), String(size?.elements ?? '-')]);
  }
  return {
    title: 'Published ports: sandbox create/remove (API) and the ruleset while it exists (goal for 1000 ports: ≤ 200 ms, constant rules; Docker with 100 ports: the docker part)',
    headers: ['publish', 'ports', 'n', 'create p50 ms', 'create min ms', 'remove p50 ms', 'rules', 'set/map elements'],
    rows,
  };
}

interface RoundFigures {
  /** Connect p50 of each round (ms): to host 1 (where the 20,000 are published or not) and to host 3 (never any). */
  connect: number[];
  control: number[];
  /** The same at p10: the least disturbed by the machine's load. */
  connect10: number[];
  control10: number[];
  /** Sandbox create with one `-p`, and without (ms, every run). */
  withP: number[];
  without: number[];
}

let created = 0;

/** 2. One round in the current state: connection set-up, then a few creates with and without one `-p`. */
async function round(ctx: PartCtx, target: Target, control: Target, into: RoundFigures): Promise<void> {
  const argv = [process.execPath, PINGPONG, 'connect-ab', control.addr, String(control.port), target.addr, String(target.port), String(CONNECT_COUNT), String(CONNECT_SECONDS)];
  const r = await ctx.inNs(ctx.host(2).name, argv, 30_000);
  if (r.code !== 0) throw new Error(`tcp-pingpong connect-ab from ${ctx.host(2).name}: ${r.stderr.trim()}`);
  const ab = JSON.parse(r.stdout) as { a: { p10: number; p50: number }; b: { p10: number; p50: number } };
  into.control.push(ab.a.p50);
  into.connect.push(ab.b.p50);
  into.control10.push(ab.a.p10);
  into.connect10.push(ab.b.p10);
  for (let i = 0; i < ADD_ONE_PER_ROUND && !ctx.expired(); i++) {
    const n = created++;
    const [a, id1] = await timed(() => runSandbox(ctx, 1, { name: `fw-one-${n}`, networks: [{ network: 'fw' }], command: SLEEP, publish: [`${8000 + (n % 1000)}:80`] }));
    const [b, id2] = await timed(() => runSandbox(ctx, 1, { name: `fw-none-${n}`, networks: [{ network: 'fw' }], command: SLEEP }));
    into.withP.push(a);
    into.without.push(b);
    await remove(ctx, id1);
    await remove(ctx, id2);
  }
}

const publishBulk = (ctx: PartCtx) => timed(() => runSandbox(ctx, 1, { name: 'fw-bulk', networks: [{ network: 'fw' }], command: SLEEP, publish: BULK }));
const removeBulk = (ctx: PartCtx) => timed(() => ctx.api(1).ok('DELETE', '/yard/v1/sandboxes/fw-bulk?force=1'));

function goalsTable(none: RoundFigures, full: RoundFigures, elements: number, toggles: { create: number[]; remove: number[] }): PartTable {
  const conn = [median(none.connect), median(full.connect)] as const;
  const ctl = [median(none.control), median(full.control)] as const;
  // Host 1 over host 3 (same moments, same load), with the 20,000 and without.
  const relOf = (c: number[], base: number[]) => median(c.map((v, i) => v / base[i]!));
  const rel = [relOf(none.connect, none.control), relOf(full.connect, full.control)] as const;
  const rel10 = [relOf(none.connect10, none.control10), relOf(full.connect10, full.control10)] as const;
  const withP = [median(none.withP), median(full.withP)] as const;
  const port = [withP[0] - median(none.without), withP[1] - median(full.without)] as const;
  return {
    title:
      `Goals, in ${Math.min(none.connect.length, full.connect.length)} alternating rounds per state (no other port published / 20,000 published: ` +
      `10,000 shifted + a 10,000 range, ${elements} set and map elements), so that both states see the same load. ` +
      `Publishing the 20,000 took ${fmt(median(toggles.create), 0)} ms (p50 of ${toggles.create.length}), removing them ${fmt(median(toggles.remove), 0)} ms`,
    headers: ['measure', 'none published', '20,000 published', 'ratio', 'goal'],
    rows: [
      [`connection set-up through a published port, p50: host 1 ÷ host 3 (nothing else published there), connections alternating between the two; median over rounds`, `${rel[0].toFixed(3)} (control)`, rel[1].toFixed(3), ratio(rel[1], rel[0]), '≤ 1.05×'],
      ['the same at p10 (less disturbed by the machine\'s load)', `${rel10[0].toFixed(3)} (control)`, rel10[1].toFixed(3), ratio(rel10[1], rel10[0]), '≤ 1.05×'],
      [`connection set-up on host 1, p50 ms (TCP connect + 1-byte round trip, a new connection each; median of the rounds' p50 of ${CONNECT_COUNT})`, fmt(conn[0]), fmt(conn[1]), ratio(conn[1], conn[0]), ''],
      ['the same on host 3 at the same moments, p50 ms', fmt(ctl[0]), fmt(ctl[1]), ratio(ctl[1], ctl[0]), ''],
      [`publishing one more port: sandbox create with -p N:80, p50 ms (n ${none.withP.length} / ${full.withP.length})`, fmt(withP[0], 1), fmt(withP[1], 1), ratio(withP[1], withP[0]), '≤ 1.10×'],
      ['the port alone: create with -p minus create without -p, ms (a difference of p50s: noisy)', fmt(port[0], 1), fmt(port[1], 1), ratio(port[1], port[0]), ''],
      ['sandbox create without -p, p50 ms (for reference)', fmt(median(none.without), 1), fmt(median(full.without), 1), ratio(median(full.without), median(none.without)), ''],
    ],
  };
}

/** 4. iperf3 server in the LAN namespace, stopped by PID. */
function startLanIperf(ctx: PartCtx): Promise<number> {
  const child = spawn('ip', ['netns', 'exec', ctx.info.lanNs, 'iperf3', '-s', '-p', String(LAN_IPERF_PORT)], { stdio: 'ignore', detached: true });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid!);
    });
  });
}

async function outbound(ctx: PartCtx): Promise<PartTable> {
  const lan = ctx.info.gateway4;
  const h1 = ctx.host(1);
  const pid = await startLanIperf(ctx);
  const rows: string[][] = [];
  try {
    await ctx.api(1).ok('POST', '/v1.41/networks/create', {
      Name: 'fw-nomasq',
      IPAM: { Config: [{ Subnet: '172.30.0.0/24' }] },
      Options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false' },
    });
    // Lab namespace only: the LAN learns the way back to the unmasqueraded subnet.
    const route = await ctx.inNs(ctx.info.lanNs, ['ip', 'route', 'replace', '172.30.0.0/24', 'via', h1.lan4]);
    if (route.code !== 0) throw new Error(`route in the LAN namespace: ${route.stderr.trim()}`);
    await runSandbox(ctx, 1, { name: 'fw-out', networks: [{ network: 'fw' }], command: SLEEP });
    await runSandbox(ctx, 1, { name: 'fw-out-nm', networks: [{ network: 'fw-nomasq' }], command: SLEEP });
    const [masqNs, plainNs] = [await sandboxNs(ctx, 1, 'fw-out'), await sandboxNs(ctx, 1, 'fw-out-nm')];
    const base = await iperf(ctx, h1.name, lan, LAN_IPERF_PORT);
    const masq = await iperf(ctx, masqNs, lan, LAN_IPERF_PORT);
    const plain = await iperf(ctx, plainNs, lan, LAN_IPERF_PORT);
    rows.push([`host ${h1.name} itself (no bridge, no NAT)`, fmt(base, 2), '1.00×']);
    rows.push(['sandbox, masqueraded', fmt(masq, 2), ratio(masq, base)]);
    rows.push(['sandbox, masquerade off (routed)', fmt(plain, 2), ratio(plain, base)]);
    ctx.log(`outbound: host ${fmt(base, 2)}, masqueraded ${fmt(masq, 2)}, routed ${fmt(plain, 2)} Gbit/s`);
  } finally {
    if (!processGone(pid)) process.kill(pid, 'SIGTERM');
  }
  return { title: `Outbound TCP throughput to iperf3 in the LAN namespace (${lan}), one stream`, headers: ['from', 'Gbit/s', '÷ host'], rows };
}

async function measure(ctx: PartCtx): Promise<PartTable[]> {
  const h2 = ctx.host(2);
  await ctx.api(1).ok('POST', '/v1.41/networks/create', { Name: 'fw' });
  const tables: PartTable[] = [];
  const { port, iperfPort } = SERVER;
  await runSandbox(ctx, 1, { name: 'fw-srv', networks: [{ network: 'fw' }], command: serverCommand(SERVER), publish: [`${port}:${port}`, `${iperfPort}:${iperfPort}`] });
  const target = { addr: ctx.host(1).lan4, ...SERVER };
  await ctx.api(3).ok('POST', '/v1.41/networks/create', { Name: 'fw' });
  await runSandbox(ctx, 3, { name: 'fw-srv', networks: [{ network: 'fw' }], command: serverCommand(SERVER), publish: [`${port}:${port}`] });
  const control = { addr: ctx.host(3).lan4, ...SERVER };

  ctx.log('data path with 0 other published ports');
  const zero: PathFigures = await measurePath(ctx, h2.name, target);
  ctx.log('publishing 10,000 more ports (10,000 map elements) and a 10,000-port same-number range');
  const toggles = { create: [] as number[], remove: [] as number[] };
  toggles.create.push((await publishBulk(ctx))[0]);
  const bulk = await ruleset(ctx);
  ctx.log(`20,000 ports published in ${fmt(toggles.create[0]!, 0)} ms: ${bulk.rules} rules, ${bulk.elements} elements`);
  const full = await measurePath(ctx, h2.name, target);

  // The goals: rounds alternating between the two states (20,000 published first).
  const none: RoundFigures = { connect: [], control: [], connect10: [], control10: [], withP: [], without: [] };
  const many: RoundFigures = { connect: [], control: [], connect10: [], control10: [], withP: [], without: [] };
  for (let r = 0; r < ROUNDS; r++) {
    if (r > 0) {
      if (ctx.expired()) break;
      toggles.create.push((await publishBulk(ctx))[0]);
    }
    await round(ctx, target, control, many);
    toggles.remove.push((await removeBulk(ctx))[0]);
    await round(ctx, target, control, none);
    ctx.log(`round ${r + 1}: connect p50 host 1 / host 3: ${fmt(many.connect.at(-1)!)} / ${fmt(many.control.at(-1)!)} ms with 20,000 published on host 1, ${fmt(none.connect.at(-1)!)} / ${fmt(none.control.at(-1)!)} ms with none`);
  }
  tables.push(goalsTable(none, many, bulk.elements, toggles));
  tables.push({
    title: `Data path to a published port (host 2 -> ${target.addr}:${port}), one pass in each state before the rounds; ratios to 0 other ports`,
    headers: PATH_HEADERS,
    rows: [pathRow('0 other published ports', zero, zero), pathRow(`10,000 shifted + a 10,000 range published (${bulk.elements} elements)`, full, zero)],
  });
  if (!ctx.expired()) tables.push(await sizes(ctx));
  if (!ctx.expired()) tables.push(await outbound(ctx));
  return tables;
}

export const FIREWALL_PART: PartSpec = {
  part: 'firewall',
  lab: { hosts: 3, cluster: false },
  budgetMs: 130_000,
  watchdogMs: 200_000,
  measure,
};
