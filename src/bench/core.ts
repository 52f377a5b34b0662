/**
 * `make bench` / `yard bench`: the core engine's figures, measured in a fresh one-host lab
 * against its warm daemon, next to floors (the kernel and the socket alone) taken in the
 * same run. Prints the table, writes bench/results/latest.md and the generated block of
 * docs/performance.md. Bounded: fixed counts, a time budget, a watchdog; the lab is always
 * taken down (also on ^C).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { labDown, labList, labUp, processGone, type LabInfo } from '../lab/lab.js';
import { PACKAGE_ROOT } from '../paths.js';
import { BenchClient } from './client.js';
import {
  budget,
  measureConcurrent,
  measureConnect,
  measureFifty,
  measureFloors,
  measureFreshIdle,
  measureMemory,
  measureNetworkCreateRemove,
  type BenchCtx,
  type Series,
} from './measure.js';
import { buildRows, markdownReport, terminalTable, updatePerformanceDoc } from './report.js';

export interface BenchOptions {
  /** Recorded runs per measurement (at least 30). */
  runs?: number;
  /** Sandboxes for the memory figure. */
  many?: number;
  /** Write bench/results/latest.md and docs/performance.md (default true). */
  write?: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
}

const LAB_PREFIX = 'bench-';
/** Sandboxes of the memory and scale pass (first and last 50 compared). */
const MANY = 1000;
// New work starts within the first 180 s; removals may go on 45 s longer; the report and
// the teardown follow. Past the watchdog the run is abandoned: lab down, exit 2.
const MEASURE_BUDGET_MS = 180_000;
const CLEANUP_MS = 45_000;
const WATCHDOG_MS = 270_000;

async function removeStaleBenchLabs(err: (line: string) => void): Promise<void> {
  for (const lab of labList()) {
    const pid = Number(lab.name.slice(LAB_PREFIX.length));
    if (lab.name.startsWith(LAB_PREFIX) && Number.isInteger(pid) && pid > 0 && processGone(pid)) {
      err(`removing lab ${lab.name}, left behind by an earlier benchmark`);
      await labDown(lab.name);
    }
  }
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `kernel ${os.release()}, Node ${process.version}`;
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

export async function runBench(opts: BenchOptions): Promise<number> {
  const { out, err } = opts;
  const runs = Math.max(30, opts.runs ?? 30);
  const name = `${LAB_PREFIX}${process.pid}`;
  const t0 = Date.now();
  const notes: string[] = [`load average at start: ${load()}`];
  let info: LabInfo | undefined;
  let client: BenchClient | undefined;
  let failed: string | undefined;

  let down: Promise<void> | undefined;
  const teardown = () =>
    (down ??= (async () => {
      client?.close();
      err(`taking lab ${name} down`);
      await labDown(name).catch((e: Error) => err(`lab down failed: ${e.message}; run \`yard lab down --name ${name}\``));
    })());
  const abort = (why: string, code: number) => {
    err(`${why}: stopping the benchmark`);
    void teardown().then(() => process.exit(code));
  };
  const onSigint = () => abort('SIGINT', 130);
  const onSigterm = () => abort('SIGTERM', 143);
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  const watchdog = setTimeout(() => abort(`still running after ${WATCHDOG_MS / 1000} s`, 2), WATCHDOG_MS);

  const series: Series = new Map();
  try {
    await removeStaleBenchLabs(err);
    err(`bringing up lab ${name} (1 host)`);
    info = await labUp({ name, hosts: 1, onProgress: (m) => err(`  ${m}`) });
    const host = info.hosts[0]!;
    client = new BenchClient(host.socket);
    const ctx: BenchCtx = { host, client, runs, budget: budget(MEASURE_BUDGET_MS, CLEANUP_MS), log: (m) => err(`  ${m}`) };
    err(`measuring in ${host.name}: ${runs} runs each after 2 warm-ups; budget ${MEASURE_BUDGET_MS / 1000} s`);

    const c = client;
    const steps: [string, () => Promise<unknown>][] = [
      ['idle memory', () => measureFreshIdle(ctx, series)],
      ['floors', () => measureFloors(ctx, series)],
      ['network create + remove', () => measureNetworkCreateRemove(ctx, series)],
      ['network bench-a', () => c.ok('POST', '/v1.41/networks/create', { Name: 'bench-a' })],
      ['connect + disconnect', () => measureConnect(ctx, series)],
      ['50 sandboxes', () => measureFifty(ctx, series)],
      ['50 sandboxes, 8 clients', () => measureConcurrent(ctx, series)],
      ['memory', () => measureMemory(ctx, series, opts.many ?? MANY)],
    ];
    // A failing step ends the measuring, but what was measured is still reported.
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (e) {
        failed = `${what} failed: ${(e as Error).message}`;
        err(failed);
        notes.push(failed);
        break;
      }
    }
    if (ctx.budget.expired()) notes.push(`the ${MEASURE_BUDGET_MS / 1000} s budget ran out: some series have fewer runs (column n)`);
  } finally {
    clearTimeout(watchdog);
    await teardown();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }

  notes.push(`load average at end: ${load()}`);
  const rows = buildRows(series, opts.many ?? MANY);
  out('');
  for (const line of terminalTable(rows)) out(line);
  for (const n of notes) out(n);
  const md = markdownReport(rows, { date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', machine: machine(), runs, seconds: (Date.now() - t0) / 1000, notes });
  if (opts.write !== false) {
    const latest = path.join(PACKAGE_ROOT, 'bench', 'results', 'latest.md');
    fs.mkdirSync(path.dirname(latest), { recursive: true });
    fs.writeFileSync(latest, `# Switchyard benchmark, latest run\n\n${md}\n`);
    updatePerformanceDoc(path.join(PACKAGE_ROOT, 'docs', 'performance.md'), md);
    out(`written: ${path.relative(process.cwd(), latest) || latest}, docs/performance.md`);
  }
  const missed = rows.filter((r) => r.goalMet === false).map((r) => r.cells[0]);
  out(missed.length ? `goals missed: ${missed.join('; ')}` : 'all goals met');
  // Missed goals are figures, not failures; a measurement that broke is one.
  return failed ? 1 : 0;
}
