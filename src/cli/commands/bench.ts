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

export function register(program: Command, ctx: CliContext): void {
  program
    .command('bench')
    .description('measure the core engine in a throwaway 1-host lab: floors, network create/remove, connect/disconnect, 50 sandboxes, daemon memory (root)')
    .addHelpText(
      'after',
      '\nPrints median, p99 and min per measurement with the goal, Docker/netavark reference figures and the\n' +
        'ratio to a floor (the same kernel work done by `ip` alone) measured in the same run. Writes\n' +
        'bench/results/latest.md and the generated block of docs/performance.md. Takes about 1 to 4 minutes;\n' +
        'the lab (bench-<pid>) is always taken down.',
    )
    .option('--runs <n>', 'recorded runs per measurement, at least 30', count('--runs', 30), 30)
    .option('--many <n>', 'sandboxes for the memory figure', count('--many', 1), 500)
    .option('--no-write', 'only print; do not write bench/results/latest.md or docs/performance.md')
    .action(async (o: { runs: number; many: number; write: boolean }) => {
      const { runBench } = await import('../../bench/main.js');
      ctx.exitCode = await runBench({ runs: o.runs, many: o.many, write: o.write, out: (l) => ctx.out(l), err: (l) => ctx.err(l) });
    });
}
