/**
 * The measurements. Each runs a bounded number of times (warm-up runs first, not recorded)
 * and stops early when the run's time budget is spent; the sample count is reported, so a
 * short series is visible rather than hidden. Floors are the kernel and the socket alone,
 * timed in the same lab host a moment before, so ratios compare like with like.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { run } from '../kernel/exec.js';
import { applyNetlink, netlinkAvailable } from '../kernel/netlink.js';
import { runNetnsOp } from '../kernel/netns.js';
import type { LabHost } from '../lab/lab.js';
import { sandboxNetnsPrefix } from '../paths.js';
import { BenchClient } from './client.js';
import { summarize } from './stats.js';

export interface Budget {
  /** No new measurement starts after this (Date.now()). */
  deadline: number;
  expired(): boolean;
  /** Even removals stop after `cleanupMs` more: the lab's teardown removes the rest. */
  cleanupExpired(): boolean;
}

export function budget(ms: number, cleanupMs: number): Budget {
  const deadline = Date.now() + ms;
  return { deadline, expired: () => Date.now() >= deadline, cleanupExpired: () => Date.now() >= deadline + cleanupMs };
}

export interface BenchCtx {
  host: LabHost;
  client: BenchClient;
  runs: number;
  budget: Budget;
  log: (msg: string) => void;
}

/** Named series of samples (ms, or MiB for memory). */
export type Series = Map<string, number[]>;

const WARMUP = 2;

function record(series: Series, key: string, value: number): void {
  const list = series.get(key) ?? [];
  list.push(value);
  series.set(key, list);
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

/** `runs` recorded iterations after the warm-ups, fewer if the budget runs out. */
async function repeat(ctx: BenchCtx, series: Series, body: (i: number, rec: (key: string, ms: number) => void) => Promise<void>): Promise<void> {
  for (let i = 0; i < WARMUP + ctx.runs && !ctx.budget.expired(); i++) {
    await body(i, i < WARMUP ? () => {} : (k, ms) => record(series, k, ms));
  }
}

async function ip(args: string[], input?: string): Promise<void> {
  const r = await run('ip', args, { input, timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

// ---------------------------------------------------------------- floors

export async function measureFloors(ctx: BenchCtx, series: Series): Promise<void> {
  const ns = ['-n', ctx.host.name];
  ctx.log('floors: veth add+del as two `ip -n` processes');
  await repeat(ctx, series, async (_i, rec) => {
    const [add] = await timed(() => ip([...ns, 'link', 'add', 'ybA', 'type', 'veth', 'peer', 'name', 'ybB']));
    const [del] = await timed(() => ip([...ns, 'link', 'del', 'ybA']));
    rec('floor.veth.add', add);
    rec('floor.veth.del', del);
    rec('floor.veth', add + del);
  });
  ctx.log('floors: veth add+del in one `ip -n -batch -`');
  await repeat(ctx, series, async (_i, rec) => {
    const [ms] = await timed(() => ip([...ns, '-batch', '-'], 'link add ybA type veth peer name ybB\nlink del ybA\n'));
    rec('floor.veth.batch', ms);
  });
  ctx.log('floors: bridge add+del');
  await repeat(ctx, series, async (_i, rec) => {
    const [add] = await timed(() => ip([...ns, 'link', 'add', 'ybbr0', 'type', 'bridge']));
    const [del] = await timed(() => ip([...ns, 'link', 'del', 'ybbr0']));
    rec('floor.bridge', add + del);
  });
  // A sandbox's kernel minimum: its namespace and a veth pair with one end inside, then
  // gone again, either deleting the host end first or leaving the pair to the namespace's
  // (asynchronous) destruction.
  // Named like a sandbox of this host, so that `labDown` removes it if the run dies here.
  const sbNs = `${sandboxNetnsPrefix(ctx.host.name)}floor`;
  ctx.log('floors: sandbox namespace + veth, removed with and without `link del`');
  await repeat(ctx, series, async (i, rec) => {
    const [create] = await timed(async () => {
      await ip(['netns', 'add', sbNs]);
      await ip([...ns, 'link', 'add', 'ybA', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', sbNs]);
    });
    const withLinkDel = i % 2 === 0;
    const [remove] = await timed(async () => {
      if (withLinkDel) await ip([...ns, 'link', 'del', 'ybA']);
      await ip(['netns', 'del', sbNs]);
    });
    rec('floor.sb.create', create);
    rec(withLinkDel ? 'floor.sb.removeLinkDel' : 'floor.sb.removeNetnsDel', remove);
    // The pair outlives `netns del` for a moment (the kernel destroys it asynchronously).
    for (let k = 0; k < 100 && !withLinkDel && (await run('ip', [...ns, 'link', 'show', 'ybA'])).code === 0; k++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  if (netlinkAvailable()) {
    // The same objects as rtnetlink requests from this process (as the daemon sends them):
    // what the kernel itself costs, without a process.
    const nl = async (op: Parameters<typeof applyNetlink>[1][number]) => {
      const r = await applyNetlink(ctx.host.name, [op]);
      if (r.error) throw new Error(`rtnetlink floor: ${r.error}`);
    };
    ctx.log('floors: veth and bridge add+del over rtnetlink, in-process');
    await repeat(ctx, series, async (_i, rec) => {
      const [add] = await timed(() => nl({ op: 'link.add.veth', name: 'ybA', peerName: 'ybB', queues: 1 }));
      const [down] = await timed(() => nl({ op: 'link.set', name: 'ybA', up: false }));
      const [del] = await timed(() => nl({ op: 'link.del', name: 'ybA' }));
      const [badd] = await timed(() => nl({ op: 'link.add.bridge', name: 'ybbr0' }));
      const [bdel] = await timed(() => nl({ op: 'link.del', name: 'ybbr0' }));
      rec('floor.nl.veth.add', add);
      rec('floor.nl.veth.down', down);
      rec('floor.nl.veth.del', del);
      rec('floor.nl.bridge', badd + bdel);
    });
  }
  ctx.log('floors: GET /_ping');
  await repeat(ctx, series, async (_i, rec) => {
    const [ms] = await timed(() => ctx.client.ok('GET', '/_ping'));
    rec('floor.ping', ms);
  });
}

// ---------------------------------------------------------------- networks

export async function measureNetworkCreateRemove(ctx: BenchCtx, series: Series): Promise<void> {
  ctx.log('network create + remove (POST /networks/create, DELETE /networks/{id})');
  await repeat(ctx, series, async (i, rec) => {
    const [create, r] = await timed(() => ctx.client.ok('POST', '/v1.41/networks/create', { Name: `bench-n${i}` }));
    const id = (JSON.parse(r.text) as { Id: string }).Id;
    const [remove] = await timed(() => ctx.client.ok('DELETE', `/v1.41/networks/${id}`));
    rec('net.create', create);
    rec('net.remove', remove);
    rec('net.pair', create + remove);
  });
}

export async function measureConnect(ctx: BenchCtx, series: Series): Promise<void> {
  ctx.log('connect + disconnect a running sandbox (POST /networks/{id}/connect|disconnect)');
  await ctx.client.ok('POST', '/v1.41/networks/create', { Name: 'bench-b' });
  const r = await ctx.client.ok('POST', '/yard/v1/sandboxes', {
    name: 'bench-c',
    networks: [{ network: 'bench-a' }],
    command: ['sleep', '1000'],
    detached: true,
  });
  const id = (JSON.parse(r.text) as { Id: string }).Id;
  try {
    await repeat(ctx, series, async (_i, rec) => {
      const [c] = await timed(() => ctx.client.ok('POST', '/v1.41/networks/bench-b/connect', { Container: id }));
      const [d] = await timed(() => ctx.client.ok('POST', '/v1.41/networks/bench-b/disconnect', { Container: id }));
      rec('connect', c);
      rec('disconnect', d);
    });
  } finally {
    await ctx.client.ok('DELETE', `/yard/v1/sandboxes/${id}?force=1`);
    await ctx.client.ok('DELETE', '/v1.41/networks/bench-b');
  }
}

// ---------------------------------------------------------------- sandboxes

function sandboxNamespaces(host: LabHost): number {
  return fs.readdirSync('/run/netns').filter((n) => n.startsWith(sandboxNetnsPrefix(host.name))).length;
}

/**
 * `count` detached `sleep 1000` sandboxes on bench-a, one after the other, then removed one
 * after the other with force. Returns the create and remove totals (ms) and how many were made.
 */
async function createAndRemove(
  ctx: BenchCtx,
  prefix: string,
  count: number,
  onCreate: (ms: number, i: number) => void,
  onRemove: (ms: number) => void,
  beforeRemove?: () => void | Promise<void>,
): Promise<{ created: number; removed: number; createMs: number; removeMs: number }> {
  const ids: string[] = [];
  const t0 = performance.now();
  let failure: unknown;
  try {
    for (let i = 0; i < count && !ctx.budget.expired(); i++) {
      const [ms, r] = await timed(() =>
        ctx.client.ok('POST', '/yard/v1/sandboxes', {
          name: `${prefix}${i}`,
          networks: [{ network: 'bench-a' }],
          command: ['sleep', '1000'],
          detached: true,
        }),
      );
      ids.push((JSON.parse(r.text) as { Id: string }).Id);
      onCreate(ms, i);
    }
  } catch (e) {
    failure = e;
  }
  const createMs = performance.now() - t0;
  // Outside the timing: every sandbox really has its namespace.
  const seen = sandboxNamespaces(ctx.host);
  if (seen < ids.length) ctx.log(`warning: ${ids.length} sandboxes created but only ${seen} namespaces present`);
  await beforeRemove?.();
  const t1 = performance.now();
  // Removals outlast the measuring budget (up to its cleanup margin), so the lab is left empty.
  let removed = 0;
  for (const id of ids) {
    if (ctx.budget.cleanupExpired()) {
      ctx.log(`time is up: ${ids.length - removed} sandboxes left for the lab's teardown`);
      break;
    }
    onRemove((await timed(() => ctx.client.ok('DELETE', `/yard/v1/sandboxes/${id}?force=1`)))[0]);
    removed++;
  }
  const removeMs = performance.now() - t1;
  if (failure) throw failure;
  return { created: ids.length, removed, createMs, removeMs };
}

export async function measureFifty(ctx: BenchCtx, series: Series, rounds = 3): Promise<void> {
  for (let round = 1; round <= rounds && !ctx.budget.expired(); round++) {
    const r = await createAndRemove(
      ctx,
      `f${round}-`,
      50,
      (ms) => record(series, 'fifty.each', ms),
      (ms) => record(series, 'fifty.removeEach', ms),
    );
    if (r.created < 50 || r.removed < r.created) {
      ctx.log(`50 sandboxes, round ${round}: budget ran out after ${r.created}; round not recorded`);
      break;
    }
    record(series, 'fifty.create', r.createMs);
    record(series, 'fifty.remove', r.removeMs);
    ctx.log(`50 sandboxes, round ${round}: created in ${Math.round(r.createMs)} ms, removed in ${Math.round(r.removeMs)} ms`);
  }
}

/**
 * 50 detached sandboxes created by `clients` clients at once (each with its own connection,
 * taking the next name until 50 are made), then removed one after the other (not timed).
 */
export async function measureConcurrent(ctx: BenchCtx, series: Series, rounds = 3, clients = 8): Promise<void> {
  for (let round = 1; round <= rounds && !ctx.budget.expired(); round++) {
    const conns = Array.from({ length: clients }, () => new BenchClient(ctx.host.socket));
    const ids: string[] = [];
    let next = 0;
    let failure: unknown;
    const t0 = performance.now();
    await Promise.all(
      conns.map(async (c) => {
        while (next < 50 && failure === undefined) {
          const i = next++;
          try {
            const r = await c.ok('POST', '/yard/v1/sandboxes', { name: `c${round}-${i}`, networks: [{ network: 'bench-a' }], command: ['sleep', '1000'], detached: true });
            ids.push((JSON.parse(r.text) as { Id: string }).Id);
          } catch (e) {
            failure ??= e;
          }
        }
      }),
    );
    const ms = performance.now() - t0;
    for (const c of conns) c.close();
    for (const id of ids) {
      if (ctx.budget.cleanupExpired()) break;
      await ctx.client.ok('DELETE', `/yard/v1/sandboxes/${id}?force=1`);
    }
    if (failure) throw failure;
    record(series, 'fifty.concurrent', ms);
    ctx.log(`50 sandboxes by ${clients} concurrent clients, round ${round}: created in ${Math.round(ms)} ms`);
  }
}

async function daemonRssMiB(ctx: BenchCtx): Promise<{ pid: number; rss: number }> {
  const info = JSON.parse((await ctx.client.ok('GET', '/yard/v1/info')).text) as { pid: number };
  return { pid: info.pid, rss: rssMiB(info.pid) };
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]) / 1024;
}

/** Seconds since a process started (its start time in /proc/<pid>/stat, in clock ticks). */
function secondsSinceStart(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const startTicks = Number(fields[19]);
  const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return uptime - startTicks / 100;
}

/**
 * The daemon gives back what start-up and a mass removal left behind once it has been
 * quiet for a moment (daemon/memory.ts, 2 s); the idle and after-removal figures are read
 * this long after the last request.
 */
export const SETTLE_MS = 5_000;

/** VmRSS of the lab's daemon as started: idle, nothing created yet, read SETTLE_MS after its start. */
export async function measureFreshIdle(ctx: BenchCtx, series: Series): Promise<void> {
  const { pid } = await daemonRssMiB(ctx);
  const wait = SETTLE_MS - secondsSinceStart(pid) * 1000;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const rss = rssMiB(pid);
  record(series, 'rss.fresh', rss);
  ctx.log(`daemon pid ${pid}: VmRSS ${rss.toFixed(1)} MiB idle, ${secondsSinceStart(pid).toFixed(1)} s after its start`);
}

/** Samples of the kernel floor at scale, with 0 and with MANY sandboxes present. */
const FLOOR_SCALE_RUNS = 20;

/**
 * The kernel's part of a sandbox create with the sandboxes present at the time on bench-a,
 * sent from this process as the daemon sends it (no daemon, no HTTP, no state): a namespace
 * (timed on its own: the daemon makes its namespaces ahead, in its pool), then a veth with
 * one end inside it and the other made a port of bench-a's bridge, up. FLOOR_SCALE_RUNS of
 * each, removed afterwards, untimed. Keys `many.floor.netns<at>` and `many.floor.link<at>`.
 */
async function kernelFloorAtScale(ctx: BenchCtx, series: Series, bridge: string, at: '0' | 'N'): Promise<void> {
  if (!netlinkAvailable()) return;
  const nsName = (i: number) => `${sandboxNetnsPrefix(ctx.host.name)}fl${i}`;
  const netns = async (op: 'netns.add' | 'netns.del', name: string) => {
    const err = runNetnsOp({ op, name });
    if (err === undefined) await ip(['netns', op === 'netns.add' ? 'add' : 'del', name]);
    else if (err) throw new Error(`kernel floor: ${op} ${name}: ${err}`);
  };
  const nl = async (ops: Parameters<typeof applyNetlink>[1]) => {
    const r = await applyNetlink(ctx.host.name, ops);
    if (r.error) throw new Error(`kernel floor: ${r.error}`);
  };
  const made: number[] = [];
  try {
    for (let i = 0; i < FLOOR_SCALE_RUNS && !ctx.budget.expired(); i++) {
      const [nsMs] = await timed(() => netns('netns.add', nsName(i)));
      made.push(i);
      const [linkMs] = await timed(() =>
        nl([
          { op: 'link.add.veth', name: `ybF${i}`, peerName: 'eth0', peerNs: nsName(i), queues: 1 },
          { op: 'link.set', name: `ybF${i}`, master: bridge, up: true },
        ]),
      );
      record(series, `many.floor.netns${at}`, nsMs);
      record(series, `many.floor.link${at}`, linkMs);
    }
  } finally {
    for (const i of made) {
      await applyNetlink(ctx.host.name, [{ op: 'link.del', name: `ybF${i}` }]).catch(() => {});
      await netns('netns.del', nsName(i)).catch((e) => ctx.log(`kernel floor cleanup: ${(e as Error).message}`));
    }
  }
}

export async function measureMemory(ctx: BenchCtx, series: Series, count = 500): Promise<void> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const idle = await daemonRssMiB(ctx);
  record(series, 'rss.0', idle.rss);
  const netId = (JSON.parse((await ctx.client.ok('GET', '/v1.41/networks/bench-a')).text) as { Id: string }).Id;
  const bridge = `br-${netId.slice(0, 12)}`;
  ctx.log(`kernel floor with 0 sandboxes: ${FLOOR_SCALE_RUNS} × (netns; veth into it, port of ${bridge}), from this process`);
  await kernelFloorAtScale(ctx, series, bridge, '0');
  ctx.log(`daemon pid ${idle.pid}: VmRSS ${idle.rss.toFixed(1)} MiB with 0 sandboxes; creating ${count}`);
  let full = idle;
  let peak = idle.rss;
  const r = await createAndRemove(
    ctx,
    'm',
    count,
    (ms, i) => {
      if (i < 50) record(series, 'many.first50', ms);
      if (i >= count - 50) record(series, 'many.last50', ms);
    },
    (ms) => record(series, 'many.remove', ms),
    async () => {
      // Between the last create and the first remove: right away, and once the daemon has
      // had its quiet moment after the burst.
      peak = rssMiB(idle.pid);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      full = { pid: idle.pid, rss: rssMiB(idle.pid) };
      ctx.log(`kernel floor with ${count} sandboxes present`);
      await kernelFloorAtScale(ctx, series, bridge, 'N');
    },
  );
  for (const k of ['netns', 'link']) {
    const [zero, many] = [series.get(`many.floor.${k}0`) ?? [], series.get(`many.floor.${k}N`) ?? []];
    if (zero.length && many.length) record(series, `many.floor.${k}Ratio`, summarize(many).median / summarize(zero).median);
  }
  if (r.created === count) {
    record(series, 'rss.many', full.rss);
    record(series, 'rss.perSandbox', ((full.rss - idle.rss) * 1024) / count);
  } else ctx.log(`memory: budget ran out after ${r.created} sandboxes; the ${count}-sandbox figure is not recorded`);
  const first = series.get('many.first50') ?? [];
  const last = series.get('many.last50') ?? [];
  if (r.created === count && first.length && last.length) record(series, 'many.ratio', summarize(last).median / summarize(first).median);
  const removed = await daemonRssMiB(ctx);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const after = await daemonRssMiB(ctx);
  if (r.removed === r.created) record(series, 'rss.after', after.rss);
  ctx.log(`VmRSS ${peak.toFixed(1)} MiB right after creating ${r.created} sandboxes (in ${(r.createMs / 1000).toFixed(1)} s), ${full.rss.toFixed(1)} MiB ${SETTLE_MS / 1000} s later; ` +
    `${removed.rss.toFixed(1)} MiB right after removing them (${(r.removeMs / 1000).toFixed(1)} s), ${after.rss.toFixed(1)} MiB ${SETTLE_MS / 1000} s later`);
}
