/**
 * What the feature benchmarks (firewall, datapath, overlay, dns, docker) share: a throwaway lab per
 * part with a time budget and a watchdog, always taken down (also on ^C); commands run
 * inside lab namespaces only; the result as a titled table that goes to the terminal,
 * to bench/results/<part>.md and to that part's generated block of docs/performance.md.
 * These parts print figures and ratios; they never assert a goal.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { table } from '../client/table.js';
import { run, type RunResult } from '../kernel/exec.js';
import { labDown, labExec, labUp, type LabHost, type LabInfo, type LabUpOptions } from '../lab/lab.js';
import { PACKAGE_ROOT } from '../paths.js';
import { BenchClient } from './client.js';

export interface PartTable {
  title: string;
  headers: string[];
  rows: string[][];
}

export interface PartReport {
  tables: PartTable[];
  notes: string[];
}

export interface PartCtx {
  info: LabInfo;
  host(i: number): LabHost;
  /** One kept-alive API client per host (1-based). */
  api(i: number): BenchClient;
  /** A command inside a lab host; never throws on a non-zero exit. */
  sh(host: LabHost, argv: string[], timeoutMs?: number): Promise<RunResult>;
  /** A command inside any lab namespace (a sandbox's, the LAN's). */
  inNs(ns: string, argv: string[], timeoutMs?: number): Promise<RunResult>;
  /** No new measurement should start once this is true. */
  expired(): boolean;
  log(msg: string): void;
  notes: string[];
}

/** Thrown by a part's `measure` that broke after some tables were complete: they are still reported. */
export class PartFailure extends Error {
  constructor(message: string, readonly tables: PartTable[]) {
    super(message);
  }
}

export interface PartSpec {
  part: string;
  lab: Omit<LabUpOptions, 'name' | 'onProgress'>;
  /** Measuring budget; the watchdog fires `watchdogMs` after the start. */
  budgetMs: number;
  watchdogMs: number;
  measure(ctx: PartCtx): Promise<PartTable[]>;
}

export const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), kernel ${os.release()}, Node ${process.version}`;
}

/** Brings a lab up, measures, takes it down; returns the report and whether a step broke. */
export async function runPart(spec: PartSpec, labName: string, err: (l: string) => void): Promise<{ report: PartReport; failed?: string; seconds: number }> {
  const t0 = Date.now();
  const notes = [`load average at start: ${load()}`];
  const clients = new Map<number, BenchClient>();
  let failed: string | undefined;
  let tables: PartTable[] = [];
  let down: Promise<void> | undefined;
  const teardown = () =>
    (down ??= (async () => {
      for (const c of clients.values()) c.close();
      err(`taking lab ${labName} down`);
      await labDown(labName).catch((e: Error) => err(`lab down failed: ${e.message}; run \`yard lab down --name ${labName}\``));
    })());
  const abort = (why: string, code: number) => {
    err(`${why}: stopping the ${spec.part} benchmark`);
    void teardown().then(() => process.exit(code));
  };
  const onSigint = () => abort('SIGINT', 130);
  const onSigterm = () => abort('SIGTERM', 143);
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  const watchdog = setTimeout(() => abort(`still running after ${spec.watchdogMs / 1000} s`, 2), spec.watchdogMs);
  try {
    err(`[${spec.part}] bringing up lab ${labName} (${spec.lab.hosts ?? 3} hosts${spec.lab.cluster ? ', etcd' : ''})`);
    const info = await labUp({ ...spec.lab, name: labName, onProgress: (m) => err(`  ${m}`) });
    const deadline = Date.now() + spec.budgetMs;
    const ctx: PartCtx = {
      info,
      host: (i) => info.hosts[i - 1]!,
      api: (i) => {
        let c = clients.get(i);
        if (!c) clients.set(i, (c = new BenchClient(info.hosts[i - 1]!.socket, 60_000)));
        return c;
      },
      sh: (host, argv, timeoutMs = 60_000) => labExec(info, host, argv, { timeoutMs }),
      inNs: (ns, argv, timeoutMs = 60_000) => run('ip', ['netns', 'exec', ns, ...argv], { timeoutMs }),
      expired: () => Date.now() >= deadline,
      log: (m) => err(`  ${m}`),
      notes,
    };
    try {
      tables = await spec.measure(ctx);
    } catch (e) {
      failed = `${spec.part}: ${(e as Error).message}`;
      err(failed);
      notes.push(failed);
      // A part may hand over the tables it completed before the failure (PartFailure).
      if (e instanceof PartFailure) tables = e.tables;
    }
    if (ctx.expired()) notes.push(`the ${spec.budgetMs / 1000} s budget ran out: some rows were skipped or cut short`);
  } finally {
    clearTimeout(watchdog);
    await teardown();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
  notes.push(`load average at end: ${load()}`);
  return { report: { tables, notes }, failed, seconds: (Date.now() - t0) / 1000 };
}

export function printReport(report: PartReport, out: (l: string) => void): void {
  for (const t of report.tables) {
    out('');
    out(t.title);
    for (const line of table(t.headers, t.rows)) out(line);
  }
  for (const n of report.notes) out(n);
}

export function markdownPart(report: PartReport, facts: { date: string; seconds: number }): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const lines = [`Run ${facts.date} on ${machine()}; ${facts.seconds.toFixed(0)} s in all.`];
  for (const t of report.tables) {
    lines.push('', `**${t.title}**`, '', `| ${t.headers.map(esc).join(' | ')} |`, `|${t.headers.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
    for (const r of t.rows) lines.push(`| ${r.map(esc).join(' | ')} |`);
  }
  if (report.notes.length) lines.push('', ...report.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

/** Replace `<!-- bench:<part>:begin -->` … `<!-- bench:<part>:end -->`, appending the pair if missing. */
export function updateDocBlock(file: string, part: string, block: string): void {
  const begin = `<!-- bench:${part}:begin (written by \`make bench\`; edit outside the markers) -->`;
  const end = `<!-- bench:${part}:end -->`;
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Performance\n';
  if (!text.includes(begin) || text.indexOf(end) < text.indexOf(begin)) text = `${text.trimEnd()}\n\n${begin}\n${end}\n`;
  const a = text.indexOf(begin) + begin.length;
  const b = text.indexOf(end);
  fs.writeFileSync(file, `${text.slice(0, a)}\n${block}\n${text.slice(b)}`);
}

export function writePartResults(part: string, md: string): string {
  const file = path.join(PACKAGE_ROOT, 'bench', 'results', `${part}.md`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `# Switchyard benchmark: ${part}, latest run\n\n${md}\n`);
  updateDocBlock(path.join(PACKAGE_ROOT, 'docs', 'performance.md'), part, md);
  return file;
}

// ---------------------------------------------------------------- small shared figures

export const fmt = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');
export const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '-');

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.ceil(s.length / 2) - 1]!;
}

export function minOf(xs: number[]): number {
  return xs.length ? Math.min(...xs) : NaN;
}

/** `yard ARGS` in a host; throws with the command's stderr on failure. */
export async function yardIn(ctx: PartCtx, host: LabHost, ...args: string[]): Promise<string> {
  const r = await ctx.sh(host, ['yard', ...args]);
  if (r.code !== 0) throw new Error(`${host.name}: yard ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}
