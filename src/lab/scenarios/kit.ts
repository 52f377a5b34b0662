/**
 * What a demo scenario is and what it may use. A scenario is a row of the demo's result
 * table: a name, the expectation a user would check, and `run`, which acts as that user
 * would (the `yard` and `docker` CLIs inside a lab host) and throws a DemoFailure when the
 * expectation does not hold. What `run` returns is the evidence printed beside PASS.
 *
 * Scenarios run in list order against one lab and may build on what earlier ones made
 * (web1 before "web2 reaches web1"); values they hand on go through `vars`.
 */
import { unixHttp } from '../../client/daemon-client.js';
import type { RunResult } from '../../kernel/exec.js';
import { labExec, type LabHost, type LabInfo } from '../lab.js';

export interface Scenario {
  name: string;
  expectation: string;
  run: (lab: DemoLab) => Promise<string | void>;
}

export class DemoFailure extends Error {}

export function fail(message: string): never {
  throw new DemoFailure(message);
}

export function check(ok: unknown, message: string): asserts ok {
  if (!ok) fail(message);
}

const COMMAND_TIMEOUT_MS = 15_000;

export interface DemoLab {
  info: LabInfo;
  /** The host the scenarios act on (host1); `info.hosts` has the others. */
  host: LabHost;
  /** A scratch directory on the machine's file system (the hosts share it), removed at the end. */
  dir: string;
  /** Values handed from one scenario to a later one. */
  vars: Map<string, string>;
  /** Any command in a lab host; never throws on a non-zero exit. */
  sh(argv: string[], opts?: { host?: LabHost; timeoutMs?: number }): Promise<RunResult>;
  /** `yard ARGS` in the host; fails the scenario if it exits non-zero; returns stdout. */
  yard(...args: string[]): Promise<string>;
  /** `yard ARGS` that must be refused; returns its stderr. */
  yardRefused(...args: string[]): Promise<string>;
  /** `yard exec SANDBOX -- ARGV`; fails the scenario on a non-zero exit; returns stdout. */
  inSandbox(sandbox: string, argv: string[]): Promise<string>;
  /** `yard inspect SANDBOX`, parsed. */
  inspect(sandbox: string): Promise<SandboxView>;
  /** One HTTP request straight to the host daemon's socket (for status codes the CLI hides). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }>;
}

/** The part of `yard inspect` the scenarios read. */
export interface SandboxView {
  Id: string;
  State: { Status: string; Running: boolean; Pid: number };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; IPPrefixLen: number }> };
  Netns: string | null;
}

const show = (argv: string[]) => argv.map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).slice(-3).join(' | ');

export function makeDemoLab(info: LabInfo, dir: string): DemoLab {
  const host = info.hosts[0]!;
  const sh: DemoLab['sh'] = (argv, opts = {}) =>
    labExec(info, opts.host ?? host, argv, { timeoutMs: opts.timeoutMs ?? COMMAND_TIMEOUT_MS });

  const yard: DemoLab['yard'] = async (...args) => {
    const r = await sh(['yard', ...args]);
    if (r.code !== 0) fail(`\`${show(['yard', ...args])}\` exited ${r.code}: ${lastLine(r.stderr || r.stdout)}`);
    return r.stdout;
  };

  return {
    info,
    host,
    dir,
    vars: new Map(),
    sh,
    yard,
    async yardRefused(...args) {
      const r = await sh(['yard', ...args]);
      if (r.code === 0) fail(`\`${show(['yard', ...args])}\` was accepted (stdout: ${lastLine(r.stdout)})`);
      return r.stderr;
    },
    async inSandbox(sandbox, argv) {
      const r = await sh(['yard', 'exec', sandbox, '--', ...argv]);
      if (r.code !== 0) fail(`in ${sandbox}: \`${show(argv)}\` exited ${r.code}: ${lastLine(r.stderr || r.stdout)}`);
      return r.stdout;
    },
    async inspect(sandbox) {
      const out = await yard('inspect', sandbox);
      const list = JSON.parse(out) as SandboxView[];
      check(list.length === 1, `yard inspect ${sandbox} returned ${list.length} objects`);
      return list[0]!;
    },
    api: (method, path, body) => unixRequest(host.socket, method, path, body),
  };
}

export function unixRequest(socket: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return unixHttp(socket, method, path, body, { timeoutMs: COMMAND_TIMEOUT_MS });
}

// ---------------------------------------------------------------- reading the kernel back

export interface IpAddr {
  ifname: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** `ip -j addr show` output: interface -> its global "addr/len" (IPv4 and IPv6). */
export function addrsByIf(json: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const l of JSON.parse(json || '[]') as IpAddr[]) {
    out.set(l.ifname, (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`));
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retry a check a few times: a server just started may take a moment to listen. */
export async function eventually<T>(what: () => Promise<T>, tries = 10, delayMs = 100): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await what();
    } catch (e) {
      last = e;
      await sleep(delayMs);
    }
  }
  throw last;
}
