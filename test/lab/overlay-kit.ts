/**
 * Helpers for the overlay lab tests: a lab with a real etcd (labUp's `cluster` option),
 * commands run inside lab hosts only, and bounded waits.
 */
import { afterAll, beforeAll } from 'vitest';
import { labDown, labExec, labUp, type LabHost, type LabInfo, type LabUpOptions } from '../../src/lab/lab.js';

export interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ClusterLab {
  info: LabInfo;
  h(i: number): LabHost;
  run(i: number, argv: string[], timeoutMs?: number): Promise<Res>;
  yard(i: number, ...args: string[]): Promise<Res>;
  /** stdout of a yard command that must succeed. */
  ok(i: number, ...args: string[]): Promise<string>;
}

export function withClusterLab(prefix: string, opts: Omit<LabUpOptions, 'name'>): ClusterLab {
  const name = `${prefix}${process.pid}`.slice(0, 16);
  const lab: ClusterLab = {
    info: undefined as unknown as LabInfo,
    h: (i) => lab.info.hosts[i - 1]!,
    run: (i, argv, timeoutMs) => labExec(lab.info, lab.h(i), argv, { timeoutMs: timeoutMs ?? 30_000 }),
    yard: (i, ...args) => lab.run(i, ['yard', ...args]),
    async ok(i, ...args) {
      const r = await lab.yard(i, ...args);
      if (r.code !== 0) throw new Error(`yard ${args.join(' ')} on host${i} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return r.stdout.trim();
    },
  };
  beforeAll(async () => {
    await labDown(name);
    lab.info = await labUp({ name, ...opts });
  }, 60_000);
  afterAll(async () => {
    await labDown(name);
  }, 60_000);
  return lab;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every `everyMs` until it returns true, at most `ms`; returns the elapsed ms or -1. */
export async function waitFor(check: () => Promise<boolean>, ms: number, everyMs = 100): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; i < 10_000 && Date.now() - t0 < ms; i++) {
    if (await check()) return Date.now() - t0;
    await sleep(everyMs);
  }
  return -1;
}

/** The IPv4 address (no prefix) of a sandbox on a network, from `yard inspect`. */
export async function sandboxIp(lab: ClusterLab, host: number, sb: string, net: string): Promise<string> {
  const j = JSON.parse(await lab.ok(host, 'inspect', sb)) as any[];
  const ip = j[0]?.NetworkSettings?.Networks?.[net]?.IPAddress as string | undefined;
  if (!ip) throw new Error(`sandbox ${sb} has no address on ${net}: ${JSON.stringify(j[0]?.NetworkSettings)}`);
  return ip;
}

/** Remote forwarding entries (MAC -> VTEP) of a host's VXLAN device. */
export async function fdbOf(lab: ClusterLab, host: number, dev: string): Promise<Map<string, string>> {
  const r = await lab.run(host, ['bridge', '-j', 'fdb', 'show', 'dev', dev]);
  const out = new Map<string, string>();
  for (const e of JSON.parse(r.stdout || '[]') as { mac: string; dst?: string; master?: string }[]) {
    if (e.dst && !e.master && e.mac !== '00:00:00:00:00:00') out.set(e.mac, e.dst);
  }
  return out;
}
