/** `yard bench`: the core engine's benchmark in a throwaway lab (src/bench/core.ts, src/bench/parts.ts). */
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

// Kept here (not imported from bench/) so that `yard --help` loads no benchmark code;
// help.test.ts checks it against src/bench/parts.ts.
export const PART_HELP: readonly { part: string; what: string }[] = [
  { part: 'core', what: 'floors (ip, the socket), network create/remove, connect/disconnect, 50 sandboxes, daemon memory with 500' },
  { part: 'firewall', what: 'published ports 0..10,000 (create time, rules, elements), one more port, the data path, masquerade' },
  { part: 'datapath', what: 'bridge + NAT, bridge direct, macvlan, host networking: latency and throughput, ratios to host' },
  { part: 'overlay', what: 'convergence across 3 hosts, overlay vs macvlan vs host networking, 3 hosts x 100 sandboxes' },
  { part: 'dns', what: 'the embedded resolver vs the upstream (sequential and dnsperf), forwarding cost, memory with 1,000 sandboxes' },
  { part: 'docker', what: 'a real dockerd: docker run x50, connect/disconnect, 100 published ports on -d switchyard vs Docker\'s bridge' },
  { part: 'api', what: 'a real dockerd and the Switchyard daemon side by side: API requests with curl, docker network connect, embedded DNS (dnsperf)' },
  { part: 'runtimes', what: 'Podman\'s network executable (netavark 1.4 vs switchyard-netavark) and CNI (bridge + host-local vs switchyard): setup/teardown, 50 in a row' },
  { part: 'vm-datapath', what: 'only with --only: ipvlan l2/l3, macvlan, bridge, host networking in the VM lab\'s emulated guest (ratios only)' },
];
const PARTS = PART_HELP.map((p) => p.part);
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
    .description('Measure Switchyard in throwaway labs, part by part (core, firewall, datapath, overlay, dns, docker, api, runtimes; vm-datapath on request) (root)')
    .addHelpText(
      'after',
      `\nParts (each in its own throwaway lab bench-<pid>, always taken down, also on ^C):\n${PART_HELP.map((p) => `  ${p.part.padEnd(12)} ${p.what}`).join('\n')}\n\n` +
        'Prints figures and ratios, never a pass/fail: for core, median, p99 and min per measurement with the goal, netavark\'s\n' +
        'published figures and the ratio to a floor (the same kernel work done by `ip` alone) measured in the same run; the other\n' +
        'parts compare with a baseline measured in the same run (docker and api: a real Docker 20.10 in the same lab host).\n' +
        'Writes bench/results/latest.md (core), bench/results/<part>.md and the generated blocks of docs/performance.md.\n' +
        'All default parts take about 15 to 20 minutes; vm-datapath\n' +
        'about 2.5 minutes more on a quiet host.',
    )
    .option('--runs <n>', 'recorded runs per measurement, at least 30', count('--runs', 30), 30)
    .option('--many <n>', 'sandboxes for the memory and scale figures (first and last 50 compared)', count('--many', 1), 1000)
    .option('--no-write', 'only print; do not write bench/results/latest.md or docs/performance.md')
    .option('--only <parts>', `run only these parts, comma-separated: ${PARTS.join(', ')} (default: all but vm-datapath)`, onlyParts)
    .action(async (o: { runs: number; many: number; write: boolean; only?: string[] }) => {
      const { runBenchParts } = await import('../../bench/parts.js');
      ctx.exitCode = await runBenchParts({ runs: o.runs, many: o.many, write: o.write, only: o.only as never, out: (l) => ctx.out(l), err: (l) => ctx.err(l) });
    });
}
