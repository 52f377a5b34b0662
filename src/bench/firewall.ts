/**
 * The firewall part's figures, in a 2-host lab (host 1 publishes, host 2 is the LAN client):
 *   1. a sandbox created with 0, 100, 1000 and 10,000 published ports, as one same-number
 *      range (`-p 20000-20999:20000-20999`: one map element) and as a shifted range
 *      (`-p 30000-30999:40000-40999`: one element per port): create and remove time
 *      (API), and the ruleset read back (`nft -j list table inet switchyard`: rules, elements);
 *   2. one more sandbox with `-p <port>:80` created while 0 and while 10,000 ports are
 *      published, next to the same create without `-p`;
 *   3. the data path to a published port from host 2 with 0 and with 10,000 other published
 *      ports (map elements): request/response and connect latency, iperf3 throughput, ratio;
 *   4. outbound throughput to an iperf3 server in the LAN namespace: from host 1 itself (no
 *      bridge, no NAT), from a sandbox masqueraded, and from a sandbox on a network with
 *      masquerade off (the LAN namespace routes its subnet back: plain routing, same bridge).
 */
import { spawn } from 'node:child_process';
import { processGone } from '../lab/lab.js';
import { bestOf, iperf, measurePath, pathRow, PATH_HEADERS, runSandbox, sandboxNs, serverCommand, type PathFigures } from './netpath.js';
import { fmt, median, minOf, ratio, timed, type PartCtx, type PartSpec, type PartTable } from './run-part.js';

const RUNS_PER_SIZE = 5;
const ADD_ONE_RUNS = 20;
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

/** 2. Sandbox create with one `-p` (and without) while `published` ports exist. */
async function addOne(ctx: PartCtx, published: number, rows: string[][]): Promise<void> {
  const withP: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < ADD_ONE_RUNS && !ctx.expired(); i++) {
    const [a, id1] = await timed(() => runSandbox(ctx, 1, { name: `fw-one-${i}`, networks: [{ network: 'fw' }], command: SLEEP, publish: [`${8000 + i}:80`] }));
    const [b, id2] = await timed(() => runSandbox(ctx, 1, { name: `fw-none-${i}`, networks: [{ network: 'fw' }], command: SLEEP }));
    withP.push(a);
    without.push(b);
    await remove(ctx, id1);
    await remove(ctx, id2);
  }
  const extra = median(withP) - median(without);
  rows.push([String(published), String(withP.length), fmt(median(withP), 1), fmt(minOf(withP), 1), fmt(median(without), 1), fmt(extra, 1)]);
  ctx.log(`one more port with ${published} published: ${fmt(median(withP), 1)} ms (without -p ${fmt(median(without), 1)} ms)`);
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

  ctx.log('data path and one more port with 0 other published ports');
  const pathRows: string[][] = [];
  const addRows: string[][] = [];
  // Best of two passes in each state (the 10,000 ports cannot be interleaved cheaply).
  const zero: PathFigures = bestOf(await measurePath(ctx, h2.name, target), await measurePath(ctx, h2.name, target));
  pathRows.push(pathRow('0 other published ports', zero, zero));
  await addOne(ctx, 0, addRows);

  ctx.log('publishing 10,000 more ports (10,000 map elements) and a 10,000-port same-number range');
  const [bulkMs] = await timed(() =>
    runSandbox(ctx, 1, { name: 'fw-bulk', networks: [{ network: 'fw' }], command: SLEEP, publish: ['30000-39999:40000-49999', '20000-29999:20000-29999'] }),
  );
  const bulk = await ruleset(ctx);
  ctx.log(`20,000 ports published in ${fmt(bulkMs, 0)} ms: ${bulk.rules} rules, ${bulk.elements} elements`);
  const full = bestOf(await measurePath(ctx, h2.name, target), await measurePath(ctx, h2.name, target));
  pathRows.push(pathRow(`10,000 shifted + a 10,000 range published (${bulk.elements} elements)`, full, zero));
  await addOne(ctx, 20_000, addRows);
  await ctx.api(1).ok('DELETE', '/yard/v1/sandboxes/fw-bulk?force=1');

  tables.push({ title: `Data path to a published port (host 2 -> ${target.addr}:${port}); best of 2 passes in each state; ratios to 0 other ports (goal ≤ 1.05)`, headers: PATH_HEADERS, rows: pathRows });
  tables.push({
    title: 'One more published port: sandbox create with `-p N:80` vs without `-p` (goal ≤ 20 ms for the port)',
    headers: ['ports already published', 'n', 'create with -p p50 ms', 'min ms', 'create without -p p50 ms', 'difference ms'],
    rows: addRows,
  });
  if (!ctx.expired()) tables.push(await sizes(ctx));
  if (!ctx.expired()) tables.push(await outbound(ctx));
  return tables;
}

export const FIREWALL_PART: PartSpec = {
  part: 'firewall',
  lab: { hosts: 2, cluster: false },
  budgetMs: 100_000,
  watchdogMs: 160_000,
  measure,
};
