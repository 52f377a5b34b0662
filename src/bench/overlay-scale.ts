/**
 * The overlay part's scale figure: 3 hosts × 100 sandboxes on one overlay network. Each host's
 * daemon gets its creates over its own socket, a few in flight at a time (as an
 * orchestrator would send them), all three hosts at once; then the cluster store is read
 * whole with etcdctl from inside the LAN namespace (keys under the Switchyard prefix and
 * their bytes) and each daemon's VmRSS is read before, at the peak and after removal.
 * Everything is removed again. Bounded by count and by SCALE_LIMIT_MS: creates stop
 * being sent once it has passed, and the table says how many were made.
 */
import fs from 'node:fs';
import { PREFIX } from '../cluster/keys.js';
import { BenchClient } from './client.js';
import { percentile } from './stats.js';
import { fmt, type PartCtx, type PartTable } from './run-part.js';

const PER_HOST = 100;
/** Requests in flight per host: enough to keep a daemon busy, few enough not to queue for long. */
const IN_FLIGHT = 4;
/** No create is sent after this much time since the first. */
const SCALE_LIMIT_MS = 75_000;
const NETWORK = 'ov-scale';
const SUBNET = '10.242.0.0/22';

/** VmRSS of a process in MiB (NaN when it is gone). */
function rssMiB(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Keys under the Switchyard prefix and their sizes, read by etcdctl inside the LAN namespace. */
async function storeSize(ctx: PartCtx): Promise<{ keys: number; keyBytes: number; valueBytes: number }> {
  const endpoints = ctx.info.etcd?.store.replace(/^etcd:\/\//, '').split(',').map((a) => `http://${a}`).join(',') ?? 'http://10.231.0.1:2379';
  const r = await ctx.inNs(ctx.info.lanNs, ['etcdctl', '--endpoints', endpoints, 'get', '--prefix', PREFIX, '-w', 'json'], 60_000);
  if (r.code !== 0) throw new Error(`etcdctl get --prefix ${PREFIX}: ${r.stderr.trim()}`);
  const kvs = (JSON.parse(r.stdout) as { kvs?: { key: string; value?: string }[] }).kvs ?? [];
  const size = (b64: string | undefined) => (b64 ? Buffer.from(b64, 'base64').length : 0);
  return { keys: kvs.length, keyBytes: kvs.reduce((s, kv) => s + size(kv.key), 0), valueBytes: kvs.reduce((s, kv) => s + size(kv.value), 0) };
}

interface HostRun {
  times: number[];
  ids: string[];
  failures: string[];
}

/** Up to `count` sandboxes on one host, IN_FLIGHT at a time, each on its own kept-alive connection. */
async function createOnHost(ctx: PartCtx, hostIndex: number, count: number, stopAt: number): Promise<HostRun> {
  const out: HostRun = { times: [], ids: [], failures: [] };
  const clients = Array.from({ length: IN_FLIGHT }, () => new BenchClient(ctx.host(hostIndex).socket, 60_000));
  let next = 0;
  const worker = async (client: BenchClient) => {
    while (next < count && performance.now() < stopAt) {
      const i = next++;
      const t0 = performance.now();
      const r = await client.request('POST', '/yard/v1/sandboxes', { name: `sc${hostIndex}-${i}`, networks: [{ network: NETWORK }], command: ['sleep', '3600'], detached: true });
      if (r.status < 300) {
        out.times.push(performance.now() - t0);
        out.ids.push((JSON.parse(r.text) as { Id: string }).Id);
      } else out.failures.push(`${r.status} ${r.text.trim().slice(0, 200)}`);
    }
  };
  try {
    await Promise.all(clients.map(worker));
  } finally {
    for (const c of clients) c.close();
  }
  return out;
}

async function removeOnHost(ctx: PartCtx, hostIndex: number, ids: string[]): Promise<number> {
  const clients = Array.from({ length: IN_FLIGHT }, () => new BenchClient(ctx.host(hostIndex).socket, 60_000));
  let next = 0;
  let failed = 0;
  try {
    await Promise.all(
      clients.map(async (c) => {
        while (next < ids.length) {
          const r = await c.request('DELETE', `/yard/v1/sandboxes/${ids[next++]}?force=1`);
          if (r.status >= 300) failed++;
        }
      }),
    );
  } finally {
    for (const c of clients) c.close();
  }
  return failed;
}

export async function overlayScale(ctx: PartCtx): Promise<PartTable> {
  const hosts = [1, 2, 3];
  const rss = (i: number) => rssMiB(ctx.host(i).daemonPid);
  await ctx.api(1).ok('POST', '/v1.41/networks/create', { Name: NETWORK, Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: SUBNET }] } });
  const rssBefore = hosts.map(rss);
  const storeBefore = await storeSize(ctx);
  ctx.log(`scale: creating ${PER_HOST} sandboxes on each of ${hosts.length} hosts (${IN_FLIGHT} in flight per host)`);
  const t0 = performance.now();
  const runs = await Promise.all(hosts.map((i) => createOnHost(ctx, i, PER_HOST, t0 + SCALE_LIMIT_MS)));
  const wallMs = performance.now() - t0;
  const storePeak = await storeSize(ctx);
  const rssPeak = hosts.map(rss);
  for (const [k, r] of runs.entries()) if (r.failures.length) ctx.log(`host ${k + 1}: ${r.failures.length} creates failed, first: ${r.failures[0]}`);
  ctx.log('scale: removing them');
  const r0 = performance.now();
  const removeFailed = (await Promise.all(hosts.map((i) => removeOnHost(ctx, i, runs[i - 1]!.ids)))).reduce((a, b) => a + b, 0);
  const removeMs = performance.now() - r0;
  await ctx.api(1).ok('DELETE', `/v1.41/networks/${NETWORK}`);
  const storeAfter = await storeSize(ctx);
  const rssAfter = hosts.map(rss);

  const all = runs.flatMap((r) => r.times).sort((a, b) => a - b);
  const made = all.length;
  const kib = (b: number) => (b / 1024).toFixed(1);
  const mib = (xs: number[]) => xs.map((x) => fmt(x, 0)).join(' / ');
  const rows: string[][] = [
    ['sandboxes created (3 hosts at once)', `${made} of ${hosts.length * PER_HOST}${made < hosts.length * PER_HOST ? ` (stopped at ${SCALE_LIMIT_MS / 1000} s or failed)` : ''}`],
    ['all creates, wall time', `${fmt(wallMs / 1000, 1)} s (${fmt(made / (wallMs / 1000), 1)} sandboxes/s)`],
    ['one create (API, 4 in flight per host): p50 / p99 / max', `${fmt(percentile(all, 0.5), 0)} / ${fmt(percentile(all, 0.99), 0)} / ${fmt(all[all.length - 1] ?? NaN, 0)} ms`],
    ...runs.map((r, k): string[] => {
      const s = [...r.times].sort((a, b) => a - b);
      return [`... on host ${k + 1}: p50 / p99`, `${fmt(percentile(s, 0.5), 0)} / ${fmt(percentile(s, 0.99), 0)} ms (${r.times.length} made)`];
    }),
    ['etcd keys under ' + PREFIX + ': before / with all sandboxes / after removal', `${storeBefore.keys} / ${storePeak.keys} / ${storeAfter.keys}`],
    ['etcd bytes (keys + values) with all sandboxes', `${kib(storePeak.keyBytes + storePeak.valueBytes)} KiB (${kib(storePeak.keyBytes)} keys + ${kib(storePeak.valueBytes)} values; ${fmt((storePeak.keyBytes + storePeak.valueBytes - storeBefore.keyBytes - storeBefore.valueBytes) / Math.max(1, made), 0)} B per sandbox)`],
    ['daemon VmRSS MiB, hosts 1 / 2 / 3: before', mib(rssBefore)],
    ['... with 100 sandboxes each', mib(rssPeak)],
    ['... after removal', mib(rssAfter)],
    ['removal of all (3 hosts at once), wall time', `${fmt(removeMs / 1000, 1)} s${removeFailed ? `, ${removeFailed} failed` : ''}`],
  ];
  return { title: `Overlay at scale: ${hosts.length} hosts × ${PER_HOST} sandboxes on one overlay network (${SUBNET})`, headers: ['measurement', 'value'], rows };
}
