/** `yard demo`: the scenarios of the core engine, played in a throwaway lab (src/lab/demo.ts). */
import type { Command } from 'commander';
import { demoExitCode, runDemo, SCENARIOS } from '../../lab/demo.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('Bring up a throwaway 2-host lab, play the user scenarios with the yard and docker CLIs, print PASS/FAIL, take the lab down (root)')
    .addHelpText(
      'after',
      '\nThe lab is named demo-<pid> (namespaces demo-<pid>-lan, -host1, -host2) and is always taken down,\n' +
        'also on failure or ^C; a lab left by a demo that was killed outright is removed at the next start.\n' +
        'Progress and evidence go to stderr, the result table to stdout. Exit code 0 iff every scenario passed.\n\n' +
        `Scenarios:\n${SCENARIOS.map((s) => `  ${s.name.padEnd(28)} ${s.expectation}`).join('\n')}`,
    )
    .action(async () => {
      const results = await runDemo({ out: (l) => ctx.out(l), err: (l) => ctx.err(l) });
      ctx.exitCode = demoExitCode(results, SCENARIOS.length);
    });
}
