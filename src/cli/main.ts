#!/usr/bin/env node
/**
 * `yard`: Docker's vocabulary for Switchyard. One module per command group under
 * ./commands, each exporting `register(program, ctx)`. Errors print as one line,
 * `error: <what is wrong>; <how to fix it>`, and exit 1.
 */
import { Command, CommanderError } from 'commander';
import { asYardError, YardError } from '../errors.js';
import { makeContext } from './context.js';
import { COMMANDS } from './commands/index.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('yard');
  program
    .description('Switchyard: container networking on the real Linux kernel, with Docker\'s vocabulary')
    .option('-H, --host <socket>', 'daemon socket (unix://PATH or PATH); default: $YARD_HOST, $DOCKER_HOST, then this namespace\'s instance socket')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(s.startsWith('error:') ? s : `error: ${s}`),
    });

  const ctx = makeContext(() => {
    const h = program.opts().host as string | undefined;
    return h?.startsWith('unix://') ? h.slice(7) : h;
  });
  for (const register of COMMANDS) register(program, ctx);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not errors; commander already printed its message otherwise
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : 1;
    }
    const err = asYardError(e);
    process.stderr.write(`error: ${err.line}${err.code === 'INTERNAL' ? ` [${err.code}]` : ''}\n`);
    if (process.env.YARD_DEBUG && !(e instanceof YardError)) console.error(e);
    return 1;
  }
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`error: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
