/**
 * Shared helpers for lab tests: a lab per test file (up in beforeAll, down in afterAll even
 * when tests fail), commands run INSIDE a lab host (never in the machine's real namespace),
 * and JSON read-backs of the kernel and of the daemon.
 *
 * Every command has a timeout (labExec's, 30 s unless given), and every wait loop is
 * bounded by count and time.
 */
import fs from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { labDown, labExec, labUp, type LabHost, type LabInfo, type LabUpOptions } from '../../src/lab/lab.js';
import { sandboxNetnsPrefix } from '../../src/paths.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Lab {
  /** Set once beforeAll has run. */
  info: LabInfo;
  /** Host i (1-based), default the first. */
  host(i?: number): LabHost;
}

/** Which lab each host belongs to, so `yard(host, ...)` needs no lab argument. */
const labOfHost = new Map<string, LabInfo>();

function infoOf(host: LabHost): LabInfo {
  const info = labOfHost.get(host.name);
  if (!info) throw new Error(`host ${host.name} belongs to no lab brought up by withLab`);
  return info;
}

/**
 * Bring up a lab named `<prefix><pid>` (unique per test worker) with `hosts` hosts and
 * their daemons in beforeAll; take it down in afterAll. Call at the top of a test file or
 * inside a describe. `cluster` adds etcd in the LAN namespace (overlay networks).
 */
export function withLab(prefix: string, hosts = 1, opts: { daemonArgs?: string[]; daemonHosts?: number; cluster?: LabUpOptions['cluster']; docker?: LabUpOptions['docker']; podman?: LabUpOptions['podman']; dhcp?: LabUpOptions['dhcp'] } = {}): Lab {
  const name = `${prefix}${process.pid}`.slice(0, 16);
  const lab: Lab = {
    info: undefined as unknown as LabInfo,
    host(i = 1) {
      const h = lab.info?.hosts[i - 1];
      if (!h) throw new Error(`lab ${name} has no host ${i}`);
      return h;
    },
  };
  beforeAll(async () => {
    await labDown(name); // a leftover of an interrupted run with the same PID
    lab.info = await labUp({ name, hosts, daemonArgs: opts.daemonArgs, daemonHosts: opts.daemonHosts, cluster: opts.cluster, docker: opts.docker, podman: opts.podman, dhcp: opts.dhcp });
    for (const h of lab.info.hosts) labOfHost.set(h.name, lab.info);
  });
  afterAll(async () => {
    // YARD_KEEP_LOGS=1 keeps the lab's logs (daemon logs) for a failure's post-mortem.
    await labDown(name, { keepLogs: !!process.env.YARD_KEEP_LOGS });
  });
  return lab;
}

/** Run argv inside a lab host, with `yard`/`docker` pointed at that host's daemon. */
export function exec(host: LabHost, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return labExec(infoOf(host), host, argv, opts);
}

export const yard = (host: LabHost, ...args: string[]) => exec(host, ['yard', ...args]);
export const docker = (host: LabHost, ...args: string[]) => exec(host, ['docker', ...args]);
export const sh = (host: LabHost, cmd: string, timeoutMs?: number) => exec(host, ['sh', '-c', cmd], { timeoutMs });

/** A command that must succeed: its stdout, trimmed; otherwise an error that shows what it printed. */
export async function ok(p: Promise<RunResult> | RunResult, what = 'command'): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}

export function parseJson<T = any>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr.slice(0, 500)}`);
  }
}

/** `yard ... ` that must succeed and print JSON. */
export async function yardJson<T = any>(host: LabHost, ...args: string[]): Promise<T> {
  const r = await yard(host, ...args);
  if (r.code !== 0) throw new Error(`yard ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return parseJson<T>(r);
}

/** `ip -j <args>` in the host, or in a named namespace (`-n ns`) when `netns` is given. */
export async function ipJson<T = any[]>(host: LabHost, args: string[], netns?: string): Promise<T> {
  const r = await exec(host, ['ip', ...(netns ? ['-n', netns] : []), '-j', ...args]);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}${netns ? ` in ${netns}` : ''} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as T;
}

/**
 * Waits (at most 3 s) until no link of Switchyard's in the host's namespace is down, and no
 * bridge of its is up with its operational state not yet worked out: a removal answers once
 * its link is down and the kernel deletes it a moment later, and the kernel settles a new
 * bridge's state (DOWN with no port, UP with one) up to a second after it comes up, so a
 * before/after comparison of the host's links starts from a settled kernel.
 */
export async function kernelSettled(host: LabHost): Promise<void> {
  type Link = { ifname: string; ifalias?: string; flags?: string[]; operstate?: string; linkinfo?: { info_kind?: string } };
  const ours = (l: Link) => /^y[vc][0-9a-f]{12}$/.test(l.ifname) || !!l.ifalias?.startsWith('switchyard:');
  const unsettled = (l: Link) => !(l.flags ?? []).includes('UP') || (l.linkinfo?.info_kind === 'bridge' && l.operstate === 'UNKNOWN');
  for (let i = 0; i < 30; i++) {
    const links = await ipJson<Link[]>(host, ['-d', 'link', 'show']);
    if (!links.some((l) => ours(l) && unsettled(l))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Interface names of the host's namespace once they hold still (two reads 200 ms apart
 * agree; at most 3 s): a removal a moment ago may still have links going in the kernel.
 */
export async function settledLinkNames(host: LabHost): Promise<string[]> {
  let prev = await linkNames(host);
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await linkNames(host);
    if (JSON.stringify(now) === JSON.stringify(prev)) return now;
    prev = now;
  }
  return prev;
}

/** Interface names in a namespace (the host's when netns is omitted). */
export async function linkNames(host: LabHost, netns?: string): Promise<string[]> {
  return (await ipJson<{ ifname: string }[]>(host, ['link', 'show'], netns)).map((l) => l.ifname).sort();
}

/** Global addresses ("a.b.c.d/len", "x::y/len") of one interface in a namespace. */
export async function addrsOf(host: LabHost, netns: string | undefined, dev: string): Promise<string[]> {
  const links = await ipJson<{ addr_info?: { local: string; prefixlen: number; scope: string }[] }[]>(host, ['addr', 'show', 'dev', dev], netns);
  return (links[0]?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
}

/**
 * Named namespaces as the kernel has them (/run/netns is shared by every mount namespace
 * here); with a host, only the sandbox namespaces of that host's daemon (other labs run
 * in parallel and come and go).
 */
export function netnsList(host?: LabHost): string[] {
  const all = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : [];
  return host ? all.filter((n) => n.startsWith(sandboxNetnsPrefix(host.name))) : all;
}

/**
 * One ping from inside a sandbox's namespace; true when it was answered. It enters the
 * namespace with `ip netns exec` (as `yard exec` does) rather than through `yard exec`: a
 * node start per ping would cost more than the ping, and tests ping a lot.
 */
export async function pings(host: LabHost, sandbox: string, ip: string, timeoutS = 2): Promise<boolean> {
  const { Netns } = await inspectSandbox(host, sandbox);
  const r = await exec(host, ['ip', 'netns', 'exec', Netns, 'ping', ...(ip.includes(':') ? ['-6'] : []), '-c1', `-W${timeoutS}`, ip]);
  return r.code === 0;
}

/**
 * A sandbox's record (Docker's container shape), from the API route `yard inspect` prints
 * verbatim: cheap enough to call after every step. Tests of `yard inspect` itself call it.
 */
export async function inspectSandbox(host: LabHost, ref: string): Promise<any> {
  const r = await api(host, 'GET', `/yard/v1/sandboxes/${encodeURIComponent(ref)}`);
  if (r.status !== 200) throw new Error(`GET sandbox ${ref}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The IPv4 address (no length) a sandbox has on a network. */
export async function ipOf(host: LabHost, sandbox: string, network: string): Promise<string> {
  const sb = await inspectSandbox(host, sandbox);
  const ep = sb.NetworkSettings.Networks[network];
  if (!ep) throw new Error(`sandbox ${sandbox} is not on network ${network}`);
  return ep.IPAddress as string;
}

/** A request to the host daemon's API with curl on its unix socket, from inside the host. */
export async function api(host: LabHost, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return rawApi(host, method, path, body === undefined ? undefined : JSON.stringify(body));
}

/** As api, with the body sent as given (malformed JSON, raw bytes); parsed as JSON when it is. */
export function rawApi(host: LabHost, method: string, path: string, body?: string): Promise<{ status: number; body: any }> {
  return curlSocket(host, host.socket, method, path, body);
}

/** curl inside a lab host to any API socket (the host's daemon, its dockerd); the body as given, the answer parsed as JSON when it is. */
export async function curlSocket(host: LabHost, socket: string, method: string, path: string, body?: string): Promise<{ status: number; body: any }> {
  const args = ['curl', '-sS', '--max-time', '20', '--unix-socket', socket, '-X', method, '-w', '\n%{http_code}'];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', body);
  const r = await exec(host, [...args, `http://x${path}`]);
  if (r.code !== 0) throw new Error(`curl ${method} ${path} exited ${r.code}: ${r.stderr}`);
  const nl = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, nl);
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: Number(r.stdout.slice(nl + 1)), body: parsed };
}

/** Retry `fn` until it returns a truthy value, at most `tries` times within `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T>, { timeoutMs = 5_000, intervalMs = 100, tries = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (let i = 0; i < tries && Date.now() < deadline; i++) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return last as T;
}

/** Alive and not a zombie (PID 1 here reaps orphans late). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

