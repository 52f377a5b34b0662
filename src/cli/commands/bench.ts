/** `yard bench`: the core engine's benchmark in a throwaway lab (src/bench/main.ts). */
import type { Command } from 'commander';
import { YardError } from '../../errors.js';
import type { CliContext } from '../context.js';

function count(flag: string, min: number) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min) {
      throw new YardError('INVALID_ARGUMENT', `invalid ${flag} ${JSON.stringify(v)}`, { field: flag, hint: `use a whole number of at least ${min}` });
    }
    return Number(v);
  };
}

// Kept here (not imported from bench/) so that `yard --help` loads no benchmark code.
const PARTS = ['core', 'firewall', 'datapath', 'overlay', 'dns', 'vm-datapath'];
function onlyParts(v: string): string[] {
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((s) => !PARTS.includes(s));
  if (bad.length || !list.length) {
    throw new YardError('INVALID_ARGUMENT', `invalid --only ${JSON.stringify(v)}`, { field: '--only', hint: `use one or more of ${PARTS.join(', ')}, comma-separated` });
  }
  return list;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('bench')
    .description('Measure Switchyard in throwaway labs: the core engine (floors, network create/remove, connect/disconnect, 50 sandboxes, daemon memory), the firewall, the data paths and overlays (root)')
    .addHelpText(
      'after',
      '\nPrints median, p99 and min per measurement with the goal, Docker/netavark reference figures and the\n' +
        'ratio to a floor (the same kernel work done by `ip` alone) measured in the same run. Writes\n' +
        'bench/results/latest.md and the generated block of docs/performance.md. Takes about 1 to 4 minutes;\n' +
        'the lab (bench-<pid>) is always taken down.\n\n' +
        'Then, each in its own lab: firewall (published ports 0..10,000: time, rules, elements, data path, masquerade),\n' +
        'datapath (bridge+NAT, bridge direct, macvlan, host networking: latency and throughput, ratios to host),\n' +
        'overlay (convergence across 3 hosts, overlay vs macvlan vs host), dns (the embedded resolver vs the upstream\n' +
        'with dnsperf, forwarding cost, memory with 1,000 sandboxes). Figures and ratios, never a pass/fail;\n' +
        'results in bench/results/<part>.md and the <part> block of docs/performance.md. All parts: about 8 to 11 minutes.\n\n' +
        'Only with --only: vm-datapath (ipvlan l2/l3 next to macvlan, bridge and host networking, measured inside the VM lab\'s\n' +
        'emulated guest: compare ratios, not absolute figures; boots `yard lab vm-run`, about 2.5 minutes on a quiet machine).',
    )
    .option('--runs <n>', 'recorded runs per measurement, at least 30', count('--runs', 30), 30)
    .option('--many <n>', 'sandboxes for the memory figure', count('--many', 1), 500)
    .option('--no-write', 'only print; do not write bench/results/latest.md or docs/performance.md')
    .option('--only <parts>', 'run only these parts, comma-separated: core, firewall, datapath, overlay, dns, vm-datapath (default: all but vm-datapath)', onlyParts)
    .action(async (o: { runs: number; many: number; write: boolean; only?: string[] }) => {
      const { runBenchParts } = await import('../../bench/parts.js');
      ctx.exitCode = await runBenchParts({ runs: o.runs, many: o.many, write: o.write, only: o.only as never, out: (l) => ctx.out(l), err: (l) => ctx.err(l) });
    });
}
