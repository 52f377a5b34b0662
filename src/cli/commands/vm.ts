/**
 * `yard lab vm-run -- CMD`: run one command inside a qemu guest whose stock Debian cloud
 * kernel has what this machine's kernel may lack (ipvlan, dummy, 802.1q). The guest sees
 * this machine's root read-only (writes vanish at power-off) and has no network device.
 */
import type { Command } from 'commander';
import { YardError } from '../../errors.js';
import { vmInstallPackages, vmRun } from '../../lab/vm.js';
import type { CliContext } from '../context.js';

function posInt(field: string) {
  return (value: string): number => {
    if (!/^[1-9][0-9]*$/.test(value)) throw new YardError('INVALID_ARGUMENT', `invalid ${field} ${JSON.stringify(value)}`, { field, hint: 'use a whole number' });
    return Number(value);
  };
}

export function register(program: Command, ctx: CliContext): void {
  // Part of `yard lab` when that group exists (it is registered before this one).
  const parent = program.commands.find((c) => c.name() === 'lab') ?? program.command('lab').description('Lab environments');
  parent
    .command('vm-run')
    .description('Run a command in a qemu guest (Debian cloud kernel: ipvlan, dummy, 802.1q) on this machine\'s root, read-only, without a NIC')
    .argument('<command...>', 'command and arguments (put them after --); runs in the current directory')
    .option('--timeout <seconds>', 'hard limit for the whole VM, boot to power-off', posInt('--timeout'), 600)
    .option('--mem <MiB>', 'guest RAM', posInt('--mem'), 2048)
    .option('--install', 'apt-get install qemu-system-x86 and linux-image-cloud-amd64 if missing')
    .option('-q, --quiet', 'no progress lines on stderr')
    .passThroughOptions()
    .action(async (command: string[], o) => {
      const progress = o.quiet ? () => {} : (m: string) => ctx.err(`vm: ${m}`);
      if (o.install) await vmInstallPackages(progress);
      const r = await vmRun({
        command: command[0] === '--' ? command.slice(1) : command,
        timeoutMs: o.timeout * 1000,
        memMb: o.mem,
        onLine: (l) => ctx.out(l),
        onProgress: progress,
      });
      progress(`exit ${r.exitCode ?? '-'}, boot ${r.bootMs === null ? '-' : (r.bootMs / 1000).toFixed(1)} s, wall ${(r.wallMs / 1000).toFixed(1)} s`);
      if (r.exitCode === null) {
        throw new YardError('KERNEL_FAILED', r.timedOut ? `the VM did not finish within ${o.timeout} s` : 'the VM stopped before the command finished', {
          hint: `the console ended with: ${r.console.trim().split('\n').slice(-3).join(' | ')}`,
        });
      }
      ctx.exitCode = r.exitCode;
    });
}
