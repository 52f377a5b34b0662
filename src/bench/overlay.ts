/**
 * The overlay part's figures, in a 3-host lab with etcd in the LAN namespace:
 *   1. network convergence: `POST /networks/create` of an overlay on host 1 returns, then
 *      host 3's API is polled (every ~5 ms) until it lists the network; the same for removal;
 *   2. sandbox convergence: a probe sandbox on host 2 pings an address on the overlay every
 *      2 ms (`ping -D`, kernel receive timestamps) while host 1 creates a sandbox with that
 *      address; the figure is the first reply's time minus the moment the create returned
 *      (negative: reachable before the API call returned). The probe's ARP retransmit time
 *      is lowered to 10 ms (its own namespace only), or the kernel's 1 s ARP retry would
 *      be measured instead of Switchyard;
 *   3. cross-host latency and throughput, sandbox to sandbox over the overlay vs macvlan
 *      sandbox to sandbox vs host networking (host namespace to host namespace);
 *   4. scale (overlay-scale.ts): 3 hosts × 100 sandboxes on one overlay. It runs last:
 *      run first, the convergence rounds right after it failed (a create of ov-conv on
 *      host 1 answered 409 "already exists" just after its delete, presumably a late watch
 *      event behind the scale step's ~600 endpoint events re-adding it).
 */
import { spawn } from 'node:child_process';
import { processGone } from '../lab/lab.js';
import { SERVERS, MACVLAN_IP, startHostAndMacvlanServers } from './datapath.js';
import { measureRows, PASSES, PATH_HEADERS, rowsWithRatios, runSandbox, sandboxIp, sandboxNs, serverCommand, type Target } from './netpath.js';
import { overlayScale } from './overlay-scale.js';
import { fmt, median, minOf, timed, yardIn, type PartCtx, type PartSpec, type PartTable } from './run-part.js';

const NET_ROUNDS = 10;
const SANDBOX_ROUNDS = 10;
const POLL_MS = 5;
const CONVERGE_TIMEOUT_MS = 5_000;
const OVERLAY_SERVER = { port: 7004, iperfPort: 5304 };
const SLEEP = ['sleep', '3600'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < 10_000 && performance.now() - t0 < timeoutMs; i++) {
    if (await pred()) return performance.now() - t0;
    await sleep(POLL_MS);
  }
  return NaN;
}

async function networkConvergence(ctx: PartCtx): Promise<string[][]> {
  const created: number[] = [];
  const seen: number[] = [];
  const removed: number[] = [];
  const gone: number[] = [];
  const listed = async () => (await ctx.api(3).request('GET', '/v1.41/networks/ov-conv')).status === 200;
  for (let i = 0; i < NET_ROUNDS && !ctx.expired(); i++) {
    const [c] = await timed(() => ctx.api(1).ok('POST', '/v1.41/networks/create', { Name: 'ov-conv', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: '10.241.0.0/24' }] } }));
    const s = await until(listed, CONVERGE_TIMEOUT_MS);
    const [r] = await timed(() => ctx.api(1).ok('DELETE', '/v1.41/networks/ov-conv'));
    const g = await until(async () => !(await listed()), CONVERGE_TIMEOUT_MS);
    created.push(c);
    seen.push(s);
    removed.push(r);
    gone.push(g);
  }
  return [
    ['overlay network create on host 1 (API)', String(created.length), fmt(median(created), 1), fmt(minOf(created), 1)],
    ['... then listed on host 3', String(seen.filter(Number.isFinite).length), fmt(median(seen), 1), fmt(minOf(seen), 1)],
    ['overlay network remove on host 1 (API)', String(removed.length), fmt(median(removed), 1), fmt(minOf(removed), 1)],
    ['... then gone on host 3', String(gone.filter(Number.isFinite).length), fmt(median(gone), 1), fmt(minOf(gone), 1)],
  ];
}

/**
 * Start `ping -D` in a namespace; resolves with the epoch ms of the first reply, or NaN.
 * `-c`, not `-w`: with a deadline ping quits at the first "Destination Host Unreachable".
 */
function firstReply(ns: string, ip: string): { pid: () => number | undefined; reply: Promise<number> } {
  const child = spawn('ip', ['netns', 'exec', ns, 'ping', '-D', '-n', '-i', '0.002', '-c', String(CONVERGE_TIMEOUT_MS / 2 + 500), ip], { stdio: ['ignore', 'pipe', 'ignore'] });
  const reply = new Promise<number>((resolve) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(buf);
      if (m) resolve(Number(m[1]) * 1000);
    });
    child.once('exit', () => resolve(NaN));
    child.once('error', () => resolve(NaN));
  });
  return { pid: () => child.pid, reply };
}

async function sandboxConvergence(ctx: PartCtx): Promise<string[][]> {
  await runSandbox(ctx, 2, { name: 'ov-probe', networks: [{ network: 'ov-bench' }], command: SLEEP });
  const probeNs = await sandboxNs(ctx, 2, 'ov-probe');
  const eth = await ctx.inNs(probeNs, ['sh', '-c', 'for f in /proc/sys/net/ipv4/neigh/eth*/retrans_time_ms; do echo 10 > $f; done']);
  if (eth.code !== 0) throw new Error(`lowering the probe's ARP retransmit time: ${eth.stderr.trim()}`);
  const creates: number[] = [];
  const converge: number[] = [];
  for (let i = 0; i < SANDBOX_ROUNDS && !ctx.expired(); i++) {
    const ip = `10.240.0.${100 + i}`;
    const ping = firstReply(probeNs, ip);
    await sleep(100); // ping is up and asking
    const [ms, id] = await timed(() => runSandbox(ctx, 1, { name: `ov-conv-${i}`, networks: [{ network: 'ov-bench', ip }], command: SLEEP }));
    const returned = Date.now();
    const replyAt = await ping.reply;
    const pid = ping.pid();
    if (pid && !processGone(pid)) process.kill(pid, 'SIGTERM');
    creates.push(ms);
    if (Number.isFinite(replyAt)) converge.push(replyAt - returned);
    else ctx.log(`round ${i}: ${ip} did not answer host 2's probe within ${CONVERGE_TIMEOUT_MS / 1000} s`);
    await ctx.api(1).ok('DELETE', `/yard/v1/sandboxes/${id}?force=1`);
  }
  ctx.log(`sandbox convergence: p50 ${fmt(median(converge), 1)} ms over ${converge.length} rounds`);
  return [
    ['sandbox create on host 1 (API, overlay)', String(creates.length), fmt(median(creates), 1), fmt(minOf(creates), 1)],
    ['... then first ping reply on host 2 (goal p50 ≤ 100 ms)', `${converge.length} of ${creates.length}`, fmt(median(converge), 1), fmt(minOf(converge), 1)],
  ];
}

async function crossHost(ctx: PartCtx): Promise<PartTable> {
  const h1 = ctx.host(1);
  const h2 = ctx.host(2);
  await runSandbox(ctx, 1, { name: 'ov-srv', networks: [{ network: 'ov-bench' }], command: serverCommand(OVERLAY_SERVER) });
  await startHostAndMacvlanServers(ctx, false);
  await yardIn(ctx, h2, 'network', 'create', '-d', 'macvlan', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.224/27', '-o', 'parent=lan0', 'dp-mv');
  await runSandbox(ctx, 2, { name: 'mv-client', networks: [{ network: 'dp-mv', ip: '10.231.0.201' }], command: SLEEP });
  const ovIp = await sandboxIp(ctx, 1, 'ov-srv', 'ov-bench');
  const [ovClient, mvClient] = [await sandboxNs(ctx, 2, 'ov-probe'), await sandboxNs(ctx, 2, 'mv-client')];
  const rows: [string, string, Target][] = [
    ['host networking (host 2 -> host 1)', h2.name, { addr: h1.lan4, ...SERVERS.host }],
    ['macvlan, sandbox -> sandbox', mvClient, { addr: MACVLAN_IP, ...SERVERS.macvlan }],
    ['overlay (VXLAN), sandbox -> sandbox', ovClient, { addr: ovIp, ...OVERLAY_SERVER }],
  ];
  const best = await measureRows(ctx, rows);
  return { title: `Cross-host data paths (host 2 -> host 1), best of ${PASSES} interleaved passes; ratios to host networking`, headers: PATH_HEADERS, rows: rowsWithRatios(best) };
}

async function measure(ctx: PartCtx): Promise<PartTable[]> {
  ctx.log('network convergence (host 1 -> host 3)');
  const conv = await networkConvergence(ctx);
  await ctx.api(1).ok('POST', '/v1.41/networks/create', { Name: 'ov-bench', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: '10.240.0.0/24' }] } });
  await until(async () => (await ctx.api(2).request('GET', '/v1.41/networks/ov-bench')).status === 200, CONVERGE_TIMEOUT_MS);
  ctx.log('sandbox convergence (create on host 1, ping from host 2)');
  conv.push(...(await sandboxConvergence(ctx)));
  const tables: PartTable[] = [{ title: 'Overlay convergence (3 hosts, etcd 3.4 in the LAN namespace)', headers: ['measurement', 'n', 'p50 ms', 'min ms'], rows: conv }];
  if (!ctx.expired()) tables.push(await crossHost(ctx));
  // Its own bound (overlay-scale.ts), so it runs even when the rows above used the budget.
  tables.push(await overlayScale(ctx));
  return tables;
}

export const OVERLAY_PART: PartSpec = {
  part: 'overlay',
  lab: { hosts: 3, cluster: true },
  // The scale step takes up to ~2 minutes of this (75 s of creates at most, then removal).
  budgetMs: 200_000,
  watchdogMs: 280_000,
  measure,
};
