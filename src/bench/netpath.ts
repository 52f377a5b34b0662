/**
 * One data path measured the same way for every row: from a client namespace (a lab host
 * or a sandbox, never the machine's own) to a server that runs tcp-pingpong (echo) and an
 * iperf3 server side by side:
 *   - request/response: one TCP connection, 1-byte round trips (p50, p99);
 *   - connect: a new connection per sample (SYN, handshake, 1 round trip, close) (p50);
 *   - throughput: iperf3, one TCP stream, a few seconds.
 * Each figure is the best of PASSES interleaved passes (measureRows); the RR n column counts
 * the round trips of all passes.
 */
import path from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { fmt, ratio, type PartCtx } from './run-part.js';

export const PINGPONG = path.join(PACKAGE_ROOT, 'dist', 'bench', 'tcp-pingpong.js');

export interface Target {
  addr: string;
  port: number;
  iperfPort: number;
}

export interface PathFigures {
  rrP50: number;
  rrP99: number;
  rrN: number;
  connP50: number;
  connN: number;
  gbps: number;
}

export const RR_COUNT = 20_000;
export const CONNECT_COUNT = 500;
const RR_SECONDS = 2;
const CONNECT_SECONDS = 2;
const IPERF_SECONDS = 2;
export const PASSES = 3;

/** The sandbox command of a server: iperf3 in the background, the echo server in front. */
export function serverCommand(t: Pick<Target, 'port' | 'iperfPort'>): string[] {
  return ['sh', '-c', `iperf3 -s -p ${t.iperfPort} >/dev/null 2>&1 & exec ${process.execPath} ${PINGPONG} serve ${t.port}`];
}

interface ClientJson {
  n: number;
  errors: number;
  p50: number;
  p99: number;
}

export async function client(ctx: PartCtx, ns: string, mode: 'rr' | 'connect', t: Target, count: number, seconds: number): Promise<ClientJson> {
  let last = '';
  // A server started a moment ago may not listen yet.
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = await ctx.inNs(ns, [process.execPath, PINGPONG, mode, t.addr, String(t.port), String(count), String(seconds)], 30_000);
    if (r.code === 0) return JSON.parse(r.stdout) as ClientJson;
    last = r.stderr.trim();
    await new Promise((res) => setTimeout(res, 150));
  }
  throw new Error(`tcp-pingpong ${mode} ${t.addr}:${t.port} from ${ns}: ${last}`);
}

export async function iperf(ctx: PartCtx, ns: string, addr: string, port: number, seconds = IPERF_SECONDS): Promise<number> {
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await ctx.inNs(ns, ['iperf3', '-c', addr, '-p', String(port), '-t', String(seconds), '-J'], (seconds + 20) * 1000);
    try {
      const j = JSON.parse(r.stdout) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
      const bps = j.end?.sum_received?.bits_per_second;
      if (!j.error && bps) return bps / 1e9;
      last = j.error ?? 'no sum_received';
    } catch {
      last = r.stderr.trim() || r.stdout.slice(0, 200);
    }
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`iperf3 -c ${addr} -p ${port} from ${ns}: ${last}`);
}

export async function measurePath(ctx: PartCtx, ns: string, t: Target): Promise<PathFigures> {
  const rr = await client(ctx, ns, 'rr', t, RR_COUNT, RR_SECONDS);
  const conn = await client(ctx, ns, 'connect', t, CONNECT_COUNT, CONNECT_SECONDS);
  const gbps = await iperf(ctx, ns, t.addr, t.iperfPort);
  return { rrP50: rr.p50, rrP99: rr.p99, rrN: rr.n, connP50: conn.p50, connN: conn.n, gbps };
}

/**
 * Several passes over the same rows, interleaved (A B C A B C), keeping each row's best
 * figures: on a shared machine a load spike then hurts one pass of one row, not the ratio.
 */
export async function measureRows(ctx: PartCtx, rows: [label: string, ns: string, target: Target][], passes = PASSES): Promise<Map<string, PathFigures>> {
  const best = new Map<string, PathFigures>();
  for (let pass = 0; pass < passes; pass++) {
    for (const [label, ns, t] of rows) {
      if (ctx.expired() && best.has(label)) continue;
      ctx.log(`pass ${pass + 1}: ${label} (${ns} -> ${t.addr}:${t.port})`);
      const f = await measurePath(ctx, ns, t);
      const b = best.get(label);
      best.set(label, b ? bestOf(b, f) : f);
    }
  }
  return best;
}

export function bestOf(a: PathFigures, b: PathFigures): PathFigures {
  return {
    rrP50: Math.min(a.rrP50, b.rrP50),
    rrP99: Math.min(a.rrP99, b.rrP99),
    rrN: a.rrN + b.rrN,
    connP50: Math.min(a.connP50, b.connP50),
    connN: a.connN + b.connN,
    gbps: Math.max(a.gbps, b.gbps),
  };
}

/** Table rows with ratios to the first row. */
export function rowsWithRatios(best: Map<string, PathFigures>): string[][] {
  const base = best.values().next().value as PathFigures | undefined;
  return [...best].map(([label, f]) => pathRow(label, f, base));
}

export const PATH_HEADERS = ['path', 'RR n', 'RR p50 ms', 'RR p99 ms', 'connect p50 ms', 'TCP Gbit/s', 'RR p50 ÷ base', 'connect ÷ base', 'throughput ÷ base'];

/** A row of PATH_HEADERS; `base` is the row the ratios divide by (host networking, or 0 ports). */
export function pathRow(label: string, f: PathFigures, base: PathFigures | undefined): string[] {
  return [
    label,
    String(f.rrN),
    fmt(f.rrP50),
    fmt(f.rrP99),
    fmt(f.connP50),
    fmt(f.gbps, 2),
    base ? ratio(f.rrP50, base.rrP50) : '',
    base ? ratio(f.connP50, base.connP50) : '',
    base ? ratio(f.gbps, base.gbps) : '',
  ];
}

/** The namespace of a sandbox, from the host's API. */
export async function sandboxNs(ctx: PartCtx, hostIndex: number, name: string): Promise<string> {
  const r = await ctx.api(hostIndex).ok('GET', `/yard/v1/sandboxes/${name}`);
  const ns = (JSON.parse(r.text) as { Netns?: string }).Netns;
  if (!ns) throw new Error(`sandbox ${name} has no namespace`);
  return ns;
}

export async function sandboxIp(ctx: PartCtx, hostIndex: number, name: string, network: string): Promise<string> {
  const r = await ctx.api(hostIndex).ok('GET', `/yard/v1/sandboxes/${name}`);
  const ip = (JSON.parse(r.text) as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }).NetworkSettings.Networks[network]?.IPAddress;
  if (!ip) throw new Error(`sandbox ${name} has no address on ${network}`);
  return ip;
}

/** Create a detached sandbox through the API; returns its ID. */
export async function runSandbox(
  ctx: PartCtx,
  hostIndex: number,
  body: { name: string; networks: { network: string; ip?: string }[]; command: string[]; publish?: string[] },
): Promise<string> {
  const r = await ctx.api(hostIndex).ok('POST', '/yard/v1/sandboxes', { ...body, detached: true });
  return (JSON.parse(r.text) as { Id: string }).Id;
}
