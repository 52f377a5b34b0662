/**
 * `make bench` / `yard bench [--only core,firewall,datapath,overlay,dns,docker,api,runtimes,vm-datapath]`:
 * the core engine's benchmark (core.ts) and the feature parts, one after another, each in
 * its own throwaway lab with its own budget and watchdog (at the very most: core 270 s,
 * firewall 160 s, datapath 150 s, overlay 280 s, dns 330 s, docker 220 s, api 200 s, runtimes 330 s;
 * about 15 to 20 minutes in all). The vm-datapath part runs only when --only names it. `yard bench --help`
 * lists the parts (src/cli/commands/bench.ts; its test keeps that list equal to BENCH_PARTS +
 * OPT_IN_PARTS).
 */
import { labDown, labList, processGone } from '../lab/lab.js';
import { DATAPATH_PART } from './datapath.js';
import { API_PART } from './api-side.js';
import { DNS_PART } from './dns.js';
import { DOCKER_PART } from './docker.js';
import { FIREWALL_PART } from './firewall.js';
import { runBench, type BenchOptions } from './core.js';
import { OVERLAY_PART } from './overlay.js';
import { RUNTIMES_PART } from './runtimes.js';
import { markdownPart, printReport, runPart, writePartResults, type PartSpec } from './run-part.js';

export const BENCH_PARTS = ['core', 'firewall', 'datapath', 'overlay', 'dns', 'docker', 'api', 'runtimes'] as const;
/** Parts only `--only` runs: vm-datapath boots the VM lab (qemu packages; ~2.5 min on a quiet machine, several times that on a loaded one under TCG). */
export const OPT_IN_PARTS = ['vm-datapath'] as const;
export type BenchPart = (typeof BENCH_PARTS)[number] | (typeof OPT_IN_PARTS)[number];

const FEATURE_PARTS: Record<Exclude<BenchPart, 'core' | 'vm-datapath'>, PartSpec> = {
  firewall: FIREWALL_PART,
  datapath: DATAPATH_PART,
  overlay: OVERLAY_PART,
  dns: DNS_PART,
  docker: DOCKER_PART,
  api: API_PART,
  runtimes: RUNTIMES_PART,
};

export interface AllBenchOptions extends BenchOptions {
  only?: BenchPart[];
}

export async function runBenchParts(opts: AllBenchOptions): Promise<number> {
  const parts: BenchPart[] = opts.only?.length ? [...BENCH_PARTS, ...OPT_IN_PARTS].filter((p) => opts.only!.includes(p)) : [...BENCH_PARTS];
  let code = 0;
  if (parts.includes('core')) code = Math.max(code, await runBench(opts));
  for (const p of parts) {
    if (p === 'core') continue;
    if (p === 'vm-datapath') {
      code = Math.max(code, await vmDatapath(opts));
      continue;
    }
    // Each part reuses the name bench-<pid>: the core's stale-lab sweep then finds it too.
    const name = `bench-${process.pid}`;
    for (const lab of labList()) {
      const pid = Number(lab.name.slice('bench-'.length));
      if (lab.name.startsWith('bench-') && Number.isInteger(pid) && pid > 0 && processGone(pid)) await labDown(lab.name);
    }
    const r = await runPart(FEATURE_PARTS[p], name, opts.err);
    printReport(r.report, opts.out);
    if (opts.write !== false && r.report.tables.length) {
      const md = markdownPart(r.report, { date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', seconds: r.seconds });
      const file = writePartResults(p, md);
      opts.out(`written: ${file}, docs/performance.md (block ${p})`);
    }
    if (r.failed) code = 1;
  }
  return code;
}

/** The guest prints its own table (shown live on stderr); the machine keeps its markdown. */
async function vmDatapath(opts: AllBenchOptions): Promise<number> {
  const { runVmDatapath } = await import('./vm-datapath.js');
  const r = await runVmDatapath({ out: opts.out, err: opts.err });
  if (!r.md) {
    opts.err('[vm-datapath] the guest printed no result block (see the guest| lines above)');
    return 1;
  }
  opts.out(r.md);
  if (opts.write !== false) opts.out(`written: ${writePartResults('vm-datapath', r.md)}, docs/performance.md (block vm-datapath)`);
  return r.code;
}

export function parseOnly(v: string): BenchPart[] {
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  const known: readonly string[] = [...BENCH_PARTS, ...OPT_IN_PARTS];
  const bad = list.filter((s) => !known.includes(s));
  if (bad.length || !list.length) throw new Error(`--only ${v}: use one or more of ${known.join(', ')} (comma-separated)`);
  return list as BenchPart[];
}

// `make bench` runs this file (scripts/bench.sh).
function parseArgs(argv: string[]): Pick<BenchOptions, 'runs' | 'many' | 'write'> & { only?: string } {
  const o: Pick<BenchOptions, 'runs' | 'many' | 'write'> & { only?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs' || a === '--many') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a whole number, got ${argv[i]}`);
      o[a === '--runs' ? 'runs' : 'many'] = v;
    } else if (a === '--no-write') o.write = false;
    else if (a === '--only') o.only = argv[++i];
    else throw new Error(`unknown argument ${a}; use --runs N, --many N, --no-write, --only core|firewall|datapath|overlay|dns|docker|api|runtimes|vm-datapath`);
  }
  return o;
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  // All parts (core first, then firewall, datapath, overlay, dns, docker, api, runtimes), or those of --only.
  const all = async () => {
    const { only, ...args } = parseArgs(process.argv.slice(2));
    return runBenchParts({ ...args, only: only === undefined ? undefined : parseOnly(only), out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') });
  };
  all().then(
    (code) => {
      process.exitCode = code;
    },
    (e: Error) => {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
