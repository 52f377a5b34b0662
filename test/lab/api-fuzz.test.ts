/**
 * API fuzz: a few thousand generated requests against a lab daemon's socket — every route
 * of the real route table (versioned and unversioned paths, right and wrong methods), with
 * malformed and type-confused JSON bodies (nulls, arrays, huge strings, NUL bytes, line
 * breaks, deep nesting, wrong types per field, unknown keys, bodies over the limit) and
 * random query strings — and a handful of valid requests mixed in as positive controls.
 *
 * What must hold: no 5xx at all, every 4xx carries a JSON `message`, the controls succeed,
 * the daemon stays up (its PID alive, `/_ping` answers) with bounded memory, and nothing
 * leaks: what is left is exactly what successful requests created (the kernel has nothing
 * the state does not know), and once that is removed the host is back to the predefined
 * networks and its own links.
 *
 * The generator is seeded (YARD_FUZZ_SEED=<n> reproduces a run; the seed is printed), and
 * the run is bounded by count (YARD_FUZZ_COUNT, default 3000) and time (60 s of requests).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/server.js';
import type { Engine } from '../../src/engine/engine.js';
import { api, exec, ipJson, netnsList, pidAlive, withLab, yard } from './helpers.js';
import { findLeaks } from './leaks.js';

const lab = withLab('fuzz');
const h = () => lab.host(1);

const SEED = Number(process.env.YARD_FUZZ_SEED ?? Date.now() % 2 ** 31);
const COUNT = Number(process.env.YARD_FUZZ_COUNT ?? 3000);
const RUN_MS = 60_000;
const RUNNER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'api-fuzz-runner.mjs');

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}
type Rng = ReturnType<typeof rng>;

export interface FuzzRequest {
  method: string;
  path: string;
  body?: string;
  bigBody?: number;
  chunked?: boolean;
  /** A positive control: must answer 2xx. */
  control?: boolean;
}

/** The routes the daemon really serves (Hono's table; the handlers are never called here). */
function routeTable(): { method: string; path: string }[] {
  const app = createApp({ addParticipant() {} } as unknown as Engine, () => ({}));
  return app.routes.filter((r) => r.method !== 'ALL').map((r) => ({ method: r.method, path: r.path }));
}

const STRINGS = [
  '', ' ', 'a', '-', '.', '..', '/', 'a/b', '../../etc/passwd', '\u0000', 'a\u0000b', '\n', 'a\nb', 'lab\nnameserver 6.6.6.6', 'h\n6.6.6.6 evil',
  '\t', '\r\n', '%00', '%', '😀', 'ünïcödé', 'NULL', 'null', 'true', '0', '-1', '1e9', '0x10', 'all', 'default', 'lo', 'lan0', 'yard0', 'br0', 'eth0',
  'bridge', 'host', 'none', 'macvlan', 'ipvlan', 'overlay', 'nosuch', '10.0.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1',
  '10.20.0.0/33', '10.20.0.1/24', 'banana', '192.0.0.0/3', '2000::/3', '::ffff:0:0/96', '64:ff9b::/96', '2002::/16', '10.45.0.0/32', '10.45.0.255/32',
  'host-gateway', 'a:notanip', 'a:10.0.0.1', '8080:80', '8090:80\n', ' 8090:80', '0:80', '80-79', '1-65535:1-65535', 'ndots:2', 'ndots: 2',
  'true', 'True', 'yes', 'F', '1500', '67', '65536', 'abc', '$(reboot)', '`id`', "'; DROP TABLE x; --", '<script>', '{', '}', '[', ']', '"',
];

function weirdString(r: Rng): string {
  const k = r.int(10);
  if (k < 6) return r.pick(STRINGS);
  if (k === 6) return 'x'.repeat(r.pick([64, 256, 300, 4097, 65_537, 200_000]));
  if (k === 7) return Array.from({ length: 1 + r.int(40) }, () => String.fromCharCode(r.int(r.chance(0.5) ? 128 : 0x3000))).join('');
  if (k === 8) return `fz-n${r.int(40)}`;
  return `${r.int(256)}.${r.int(256)}.${r.int(256)}.${r.int(256)}/${r.int(40)}`;
}

function deep(r: Rng): unknown {
  let v: unknown = r.pick([null, 1, 'x', {}]);
  const depth = r.pick([10, 100, 1000]);
  for (let i = 0; i < depth; i++) v = r.chance(0.5) ? [v] : { a: v };
  return v;
}

/** Any JSON value, biased towards the confusing ones. */
function weird(r: Rng, depth = 0): unknown {
  const k = r.int(14);
  if (k < 4) return weirdString(r);
  if (k === 4) return null;
  if (k === 5) return r.pick([true, false]);
  if (k === 6) return r.pick([0, -1, 1, 1.5, 65536, 2 ** 53, -(2 ** 31), 1e308]);
  if (k === 7) return depth > 2 ? [] : Array.from({ length: r.int(4) }, () => weird(r, depth + 1));
  if (k === 8) return depth > 2 ? {} : Object.fromEntries(Array.from({ length: r.int(4) }, () => [weirdString(r).slice(0, 40), weird(r, depth + 1)]));
  if (k === 9) return deep(r);
  if (k === 10) return Array.from({ length: r.pick([100, 1000, 10_000]) }, (_, i) => `a${i}`);
  if (k === 11) return Object.fromEntries(Array.from({ length: r.pick([100, 1000]) }, (_, i) => [`k${i}`, 'v']));
  if (k === 12) return r.pick(['', [], {}, [null], [''], { '': '' }]);
  return undefined;
}

/** Valid-looking subnets: /16 to /28 inside 10.0-199.x.x (controls use 10.250-253). */
function subnet(r: Rng): { Subnet: string; IPRange?: string; Gateway?: string } {
  const len = 16 + r.int(13);
  const a = r.int(200);
  const b = r.int(256);
  const base = len <= 16 ? `10.${a}.0.0` : len <= 24 ? `10.${a}.${b}.0` : `10.${a}.${b}.${r.int(16) * 16}`;
  const out: { Subnet: string; IPRange?: string; Gateway?: string } = { Subnet: `${base}/${len}` };
  if (len <= 24 && r.chance(0.3)) out.IPRange = `10.${a}.${len <= 16 ? b : b}.${r.pick([0, 128])}/${r.pick([25, 26, 27, 28])}`;
  if (r.chance(0.3)) out.Gateway = base.replace(/\.\d+$/, (m) => `.${Number(m.slice(1)) + 1}`);
  return out;
}

const NET_OPTS = [
  'com.docker.network.bridge.name', 'com.docker.network.driver.mtu', 'com.docker.network.bridge.enable_icc', 'com.docker.network.bridge.enable_ip_masquerade',
  'com.docker.network.bridge.host_binding_ipv4', 'com.docker.network.bridge.default_bridge', 'com.docker.network.container_iface_prefix',
  'parent', 'macvlan_mode', 'host_access', 'host_access_address', 'ipvlan_mode', 'encrypted', 'com.example.unknown',
];

/** A plausible body for the route, then mutated: fields of the wrong type, removed, unknown keys added. */
function bodyFor(r: Rng, route: string, i: number): unknown {
  let b: Record<string, unknown>;
  if (route.endsWith('/networks/create')) {
    b = {
      Name: r.chance(0.7) ? `fz-n${i}` : weirdString(r),
      ...(r.chance(0.6) ? { Driver: r.pick(['bridge', 'bridge', 'bridge', 'macvlan', 'ipvlan', 'overlay', 'host', 'null', 'nosuch', null]) } : {}),
      ...(r.chance(0.5) ? { IPAM: { Driver: r.pick(['default', 'default', 'other', null]), Config: r.chance(0.8) ? [subnet(r)] : weird(r) } } : {}),
      ...(r.chance(0.4) ? { Options: Object.fromEntries(Array.from({ length: 1 + r.int(3) }, () => [r.pick(NET_OPTS), r.chance(0.5) ? r.pick(['true', 'false', '1500', 'lan0', 'bridge', 'l2', '127.0.0.1', `br-fz${r.int(99)}`]) : weirdString(r)])) } : {}),
      ...(r.chance(0.2) ? { Labels: { [weirdString(r).slice(0, 300)]: weirdString(r) } } : {}),
      ...(r.chance(0.3) ? { Internal: r.pick([true, false, null]), EnableIPv6: r.pick([true, false, null]), CheckDuplicate: true, Scope: 'local', ConfigFrom: null } : {}),
    };
  } else if (route.endsWith('/connect') || route.endsWith('/disconnect')) {
    b = {
      Container: r.chance(0.6) ? `fz-s${r.int(i + 1)}` : weirdString(r),
      ...(r.chance(0.5) ? { EndpointConfig: { Aliases: r.chance(0.6) ? [r.pick(['db', 'api', 'a.b', '', 'a/b', 'a\nb'])] : weird(r), IPAMConfig: r.chance(0.5) ? { IPv4Address: r.pick(['10.0.0.5', '', 'x', null]) } : weird(r) } } : {}),
      ...(r.chance(0.2) ? { Force: r.pick([true, false, 'yes']) } : {}),
    };
  } else if (route.endsWith('/yard/v1/sandboxes')) {
    b = {
      ...(r.chance(0.8) ? { name: r.chance(0.8) ? `fz-s${i}` : weirdString(r) } : {}),
      ...(r.chance(0.7) ? { networks: [{ network: r.pick(['bridge', 'bridge', 'host', 'none', `fz-n${r.int(i + 1)}`, 'nosuch']), ...(r.chance(0.3) ? { aliases: [r.pick(['db', 'a/b', '', 'x'.repeat(300)])] } : {}), ...(r.chance(0.2) ? { ip: r.pick(['10.0.0.5', '172.17.0.9', 'x']) } : {}) }] } : {}),
      // Detached commands only ever run sleep (or nothing that exists): never anything that acts.
      ...(r.chance(0.5) ? { command: r.chance(0.6) ? ['sleep', '30'] : [weirdString(r)], detached: r.chance(0.5) } : { start: false }),
      ...(r.chance(0.2) ? { hostname: r.pick(['web-1', 'h\nx', '', 'a'.repeat(64)]) } : {}),
      ...(r.chance(0.2) ? { dns: [r.pick(['10.231.0.1', '0.0.0.0', '224.0.0.1', 'x'])] } : {}),
      ...(r.chance(0.2) ? { dnsSearch: [r.pick(['lab', 'lab\nnameserver 6.6.6.6', '.', ''])] } : {}),
      ...(r.chance(0.2) ? { dnsOptions: [r.pick(['ndots:2', 'rotate', 'ndots:1\nx'])] } : {}),
      ...(r.chance(0.2) ? { extraHosts: [r.pick(['db:10.0.0.5', 'a:notanip', 'gw:host-gateway', 'a\nb:1.2.3.4'])] } : {}),
      ...(r.chance(0.2) ? { publish: [r.pick(['80', `${20000 + r.int(20000)}:80`, '8090:80\n', '0:80', 'x'])] } : {}),
      ...(r.chance(0.2) ? { env: { [r.pick(['A', 'A-B', '1X', ''])]: r.pick(['x', 'x\u0000y']) } } : {}),
      ...(r.chance(0.2) ? { labels: { [weirdString(r).slice(0, 300)]: weirdString(r) } } : {}),
      ...(r.chance(0.2) ? { dryRun: true } : {}),
    };
  } else if (route.endsWith('/started')) {
    b = { pid: r.pick([1, 0, -1, 2 ** 31, 1.5, '1']) };
  } else if (route.endsWith('/exited')) {
    b = { code: r.pick([0, 1, -1, 1.5, 'x']) };
  } else {
    b = {};
  }
  // Mutations.
  const keys = Object.keys(b);
  for (let m = r.int(3); m > 0; m--) {
    const k = r.int(4);
    if (k === 0 && keys.length) b[r.pick(keys)] = weird(r);
    else if (k === 1 && keys.length) delete b[r.pick(keys)];
    else if (k === 2) b[r.pick(['bogus', 'Bogus', '__proto__', 'constructor', weirdString(r).slice(0, 30)])] = weird(r);
    else if (keys.length) b[r.pick(keys)] = null;
  }
  return b;
}

const VERSIONS = ['', '', '', '/v1.41', '/v1.41', '/v1.40', '/v1.24', '/v1.12', '/v1.11', '/v9.99', '/v1.x', '/v1'];

function idFor(r: Rng, i: number): string {
  const k = r.int(8);
  if (k < 3) return r.pick(['bridge', 'host', 'none', `fz-n${r.int(i + 1)}`, `fz-s${r.int(i + 1)}`, 'nosuch']);
  if (k === 3) return '0123456789abcdef'.slice(0, 1 + r.int(16));
  return encodeURIComponent(weirdString(r).slice(0, 200));
}

function query(r: Rng, route: string): string {
  const parts: string[] = [];
  if (/\/networks(\/prune)?$/.test(route) && r.chance(0.7)) {
    const f = r.pick([
      'null', '[]', '1', 'true', '"x"', '{}', '', '{"name":["fz"]}', '{"name":{"fz":true}}', '{"label":{"a=b":true}}', '{"label!":["keep"]}',
      '{"until":["10m"]}', '{"until":["x"]}', '{"dangling":["maybe"]}', '{"type":["custom"]}', '{"driver":"bridge"}', '{"nosuch":["x"]}', '{"name":[1]}',
      '{"name":', JSON.stringify({ name: [weirdString(r).slice(0, 100)] }),
    ]);
    parts.push(`filters=${encodeURIComponent(f)}`);
  }
  if (route.includes('/yard/v1/sandboxes') && r.chance(0.4)) parts.push(`${r.pick(['all', 'force'])}=${encodeURIComponent(r.pick(['1', 'true', '0', '', 'x\n']))}`);
  if (route.endsWith('/dns/explain')) {
    if (r.chance(0.8)) parts.push(`name=${encodeURIComponent(r.pick(['fz-s1', 'bridge', '', 'a..b', 'x'.repeat(300), '10.0.0.1', weirdString(r).slice(0, 300)]))}`);
    if (r.chance(0.8)) parts.push(`from=${encodeURIComponent(r.pick([`fz-s${r.int(50)}`, 'nosuch', '']))}`);
    if (r.chance(0.5)) parts.push(`type=${encodeURIComponent(r.pick(['A', 'AAAA', 'PTR', 'MX', 'ANY', 'x', '65536', '']))}`);
  }
  if (r.chance(0.05)) parts.push(`${encodeURIComponent(weirdString(r).slice(0, 50))}=${encodeURIComponent(weirdString(r).slice(0, 50))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** A valid request that must succeed (2xx): networks and sandboxes with unique names and subnets. */
function control(i: number, n: number): FuzzRequest {
  switch (n % 5) {
    case 0:
      return { method: 'GET', path: '/_ping', control: true };
    case 1:
      return { method: 'POST', path: '/v1.41/networks/create', body: JSON.stringify({ Name: `fz-ctl-n${i}`, IPAM: { Config: [{ Subnet: `10.${250 + (n % 4)}.${n % 256}.0/24` }] }, Labels: { fuzz: 'control' } }), control: true };
    case 2:
      return { method: 'POST', path: '/yard/v1/sandboxes', body: JSON.stringify({ name: `fz-ctl-s${i}`, networks: [{ network: 'bridge' }], start: false, hostname: 'ctl', dnsSearch: ['lab'] }), control: true };
    case 3:
      return { method: 'GET', path: `/networks?filters=${encodeURIComponent('{"label":{"fuzz=control":true}}')}`, control: true };
    default:
      return { method: 'GET', path: '/yard/v1/sandboxes?all=1', control: true };
  }
}

export function generate(seed: number, count: number): FuzzRequest[] {
  const r = rng(seed);
  const routes = routeTable();
  const out: FuzzRequest[] = [];
  let controls = 0;
  for (let i = 0; i < count; i++) {
    if (i % 25 === 12) {
      out.push(control(i, controls++));
      continue;
    }
    const route = r.pick(routes);
    const method = r.chance(0.85) ? route.method : r.pick(['GET', 'POST', 'DELETE', 'PUT', 'HEAD', 'PATCH']);
    const p = VERSIONS[r.int(VERSIONS.length)] + route.path.replace(/:id/g, () => idFor(r, i)) + query(r, route.path);
    const req: FuzzRequest = { method, path: p };
    if (method === 'POST' || method === 'PUT' || method === 'PATCH' || (method === 'DELETE' && r.chance(0.1))) {
      const k = r.int(20);
      if (k === 0) req.body = '';
      else if (k === 1) req.body = r.pick(['null', '[]', '1', 'true', '"x"', '{', '{"Name":', 'not json', '\u0000', '\uFEFF{}', '{}{}']);
      else if (k === 2) req.body = JSON.stringify(deep(r));
      else if (k === 3) req.body = '['.repeat(r.pick([1000, 100_000])) + ']'.repeat(r.pick([0, 1000]));
      else if (k === 4 && r.chance(0.3)) {
        req.bigBody = r.pick([1024 * 1024 + 1, 2 * 1024 * 1024, 8 * 1024 * 1024]);
        req.chunked = r.chance(0.5);
      } else if (k === 5) req.body = JSON.stringify(weird(r) ?? null);
      else req.body = JSON.stringify(bodyFor(r, route.path, i));
      if (req.body !== undefined && r.chance(0.05)) req.chunked = true;
    }
    out.push(req);
  }
  return out;
}

interface RunnerOutput {
  sent: number;
  results: { i: number; status: number; hasMessage: boolean; ms: number; text?: string }[];
  cleanup: { what: string; status: number; text?: string }[];
  createdNetworks: string[];
  createdSandboxes: string[];
}

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

const linkNames = async () => (await ipJson<{ ifname: string }[]>(h(), ['link', 'show'])).map((l) => l.ifname).sort();

describe('API fuzz', () => {
  it(`${COUNT} generated requests: no 5xx, a JSON message on every 4xx, the daemon stays up and bounded, nothing leaks`, { timeout: 170_000 }, async () => {
    console.log(`api fuzz: seed ${SEED} (reproduce with YARD_FUZZ_SEED=${SEED}), ${COUNT} requests`);
    const requests = generate(SEED, COUNT);
    const file = path.join(os.tmpdir(), `yard-fuzz-${process.pid}-${SEED}.json`);
    fs.writeFileSync(file, JSON.stringify(requests));
    const pid = h().daemonPid!;
    const baseLinks = await linkNames();
    const rssBefore = rssKb(pid);
    let rssMax = rssBefore;
    const sampler = setInterval(() => {
      if (pidAlive(pid)) rssMax = Math.max(rssMax, rssKb(pid));
    }, 250);
    let out: RunnerOutput;
    const t0 = Date.now();
    try {
      const r = await exec(h(), ['node', RUNNER, file, h().socket, String(RUN_MS)], { timeoutMs: RUN_MS + 60_000 });
      if (r.code !== 0) throw new Error(`fuzz runner exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
      out = JSON.parse(r.stdout.trim().split('\n').pop()!) as RunnerOutput;
    } finally {
      clearInterval(sampler);
      fs.rmSync(file, { force: true });
    }
    const seconds = (Date.now() - t0) / 1000;
    const rssAfter = rssKb(pid);

    // Figures.
    const byStatus = new Map<number, number>();
    for (const x of out.results) byStatus.set(x.status, (byStatus.get(x.status) ?? 0) + 1);
    const table = [...byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ');
    console.log(`api fuzz: ${out.sent} requests in ${seconds.toFixed(1)} s; by status ${table}; cleanup removals ${out.cleanup.length}`);
    console.log(`api fuzz: daemon RSS ${(rssBefore / 1024).toFixed(0)} MB before, ${(rssMax / 1024).toFixed(0)} MB at most, ${(rssAfter / 1024).toFixed(0)} MB after`);

    const slowest = [...out.results].sort((a, b) => b.ms - a.ms).slice(0, 5);
    console.log(`api fuzz: slowest ${slowest.map((x) => `#${x.i} ${requests[x.i]!.method} ${requests[x.i]!.path.slice(0, 60)} ${x.status} ${x.ms} ms`).join('; ')}`);
    const describeReq = (i: number) => {
      const q = requests[i]!;
      return `#${i} ${q.method} ${q.path.slice(0, 200)} ${q.bigBody ? `<${q.bigBody} bytes${q.chunked ? ', chunked' : ''}>` : (q.body ?? '').slice(0, 300)}`;
    };
    // Bounded: most of the list ran (a slow machine may cut it short by time, never below 1000).
    expect(out.sent).toBeGreaterThanOrEqual(Math.min(COUNT, 1000));
    const server5xx = out.results.filter((x) => x.status >= 500).map((x) => `${describeReq(x.i)} -> ${x.status} ${x.text}`);
    expect(server5xx, `seed ${SEED}`).toEqual([]);
    // A body over the limit may be cut off by the daemon closing the connection (docs/api.md):
    // the client then sees EPIPE/ECONNRESET instead of reading the answer. Nothing else may go unanswered.
    const cutOff = (x: { i: number; text?: string }) => !!requests[x.i]!.bigBody && /EPIPE|ECONNRESET/.test(x.text ?? '');
    const noAnswer = out.results.filter((x) => x.status <= 0 && !cutOff(x)).map((x) => `${describeReq(x.i)} -> ${x.text}`);
    expect(noAnswer, `seed ${SEED}`).toEqual([]);
    const bare4xx = out.results.filter((x) => x.status >= 400 && x.status < 500 && !x.hasMessage && requests[x.i]!.method !== 'HEAD').map((x) => `${describeReq(x.i)} -> ${x.status} ${x.text}`);
    expect(bare4xx, `seed ${SEED}`).toEqual([]);
    const cleanup5xx = out.cleanup.filter((c) => c.status >= 500 || c.status <= 0);
    expect(cleanup5xx, `seed ${SEED}`).toEqual([]);
    // Positive controls.
    const controls = out.results.filter((x) => requests[x.i]!.control);
    expect(controls.length).toBeGreaterThanOrEqual(40);
    expect(controls.filter((x) => x.status < 200 || x.status > 299).map((x) => `${describeReq(x.i)} -> ${x.status} ${x.text}`)).toEqual([]);

    // The daemon is alive, answers, and its memory is bounded.
    expect(pidAlive(pid)).toBe(true);
    expect((await api(h(), 'GET', '/_ping')).body).toBe('OK');
    expect(rssMax - rssBefore, 'daemon RSS growth (kB)').toBeLessThan(200 * 1024);

    // Nothing leaked: what is there was created by a successful request, and the kernel matches the state.
    const nets = (await api(h(), 'GET', '/networks')).body as { Id: string; Name: string; Switchyard?: { Predefined?: boolean } }[];
    const sbs = (await api(h(), 'GET', '/yard/v1/sandboxes?all=1')).body as { Id: string; Name: string }[];
    const made = new Set([...out.createdNetworks, ...out.createdSandboxes]);
    expect(nets.filter((n) => !n.Switchyard?.Predefined && !made.has(n.Id)).map((n) => n.Name)).toEqual([]);
    expect(sbs.filter((s) => !made.has(s.Id)).map((s) => s.Name)).toEqual([]);
    expect((await findLeaks(lab.info, h(), { skipDns: true })).leaks).toEqual([]);
    console.log(`api fuzz: created by successful requests ${out.createdNetworks.length} networks, ${out.createdSandboxes.length} sandboxes; left at the end ${nets.length - 3} networks, ${sbs.length} sandboxes`);

    // Remove what is left: the host is back to the predefined networks and its own links.
    for (const s of sbs) expect((await api(h(), 'DELETE', `/yard/v1/sandboxes/${s.Id}?force=1`)).status).toBe(204);
    for (const n of nets.filter((x) => !x.Switchyard?.Predefined)) expect((await api(h(), 'DELETE', `/networks/${n.Id}`)).status).toBe(204);
    const ls = (await yard(h(), 'network', 'ls')).stdout.trim().split('\n').slice(1);
    expect(ls.map((l) => l.split(/\s+/)[1]).sort()).toEqual(['bridge', 'host', 'none']);
    expect((await yard(h(), 'ps', '-a', '-q')).stdout.trim()).toBe('');
    expect(((await api(h(), 'GET', '/yard/v1/sandboxes?all=1')).body as unknown[]).length).toBe(0);
    expect(netnsList(h())).toEqual([]);
    expect(await linkNames()).toEqual(baseLinks);
    expect((await findLeaks(lab.info, h(), { skipDns: true })).leaks).toEqual([]);
  });
});
