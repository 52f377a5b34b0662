#!/usr/bin/env node
/**
 * `yard`: Docker's vocabulary for Switchyard. One module per command group under
 * ./commands, each exporting `register(program, ctx)`. Errors print as one line,
 * `error: <what is wrong>; <how to fix it>`, and exit 1. `yard daemon` loads only its own
 * group (commands/system.ts): the daemon's resident size pays for every module it loads.
 */
import { Command, CommanderError } from 'commander';
import { asYardError, YardError } from '../errors.js';
import { makeContext } from './context.js';
import type { RegisterCommand } from './commands/index.js';
import { VERSION } from '../version.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('yard');
  program
    .description('Switchyard: container networking on the real Linux kernel, with Docker\'s vocabulary')
    .option('-H, --host <socket>', 'daemon socket (unix://PATH or PATH); default: $YARD_HOST, $DOCKER_HOST, then this namespace\'s instance socket')
    .version(VERSION, '-V, --version', 'print the CLI\'s version and exit (yard version also asks the daemon)')
    .enablePositionalOptions()
    .addHelpText(
      'after',
      '\nEnvironment:\n' +
        '  YARD_HOST, DOCKER_HOST  the daemon socket as unix://PATH when -H is not given (YARD_HOST first; other schemes are ignored)\n' +
        '  YARD_INSTANCE           without -H or a socket above: talk to this instance\'s daemon (default: the name of this\n' +
        '                          network namespace, or "default")\n' +
        '  YARD_RUN_DIR            parent of the instances\' socket directories (default /run/switchyard)\n' +
        '  YARD_DEBUG              set: print the stack trace of an unexpected (INTERNAL) error\n' +
        '  YARD_LAB_SLOWDOWN       yard lab: stretch the lab\'s start-up waits by this factor (1-50) on a slow or emulated host\n\n' +
        'The daemon\'s own variables and files: yard daemon --help. Driver options (-o): yard network drivers.',
    )
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
  const groups: RegisterCommand[] = argv[0] === 'daemon' ? [(await import('./commands/system.js')).register] : (await import('./commands/index.js')).COMMANDS;
  for (const register of groups) register(program, ctx);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not errors; commander already printed its message otherwise
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : 1;
    }
    const err = asYardError(e);
    // One line, whatever the value at fault holds: control characters are shown escaped (\n, \u0000).
    const line = err.line.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
    process.stderr.write(`error: ${line}${err.code === 'INTERNAL' ? ` [${err.code}]` : ''}\n`);
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
