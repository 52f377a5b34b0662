/**
 * What every command module receives: how to reach the daemon and how to print.
 * Commands return nothing and print through `out`, so tests can capture output.
 */
import { DaemonClient } from '../client/daemon-client.js';
import { defaultSocket } from './instance.js';

export interface CliContext {
  client(): DaemonClient;
  out(line: string): void;
  err(line: string): void;
  /** Set by a command that must exit with a given code (e.g. exec passes the child's through). */
  exitCode: number;
}

export function makeContext(getSocket: () => string | undefined): CliContext {
  let client: DaemonClient | undefined;
  return {
    client() {
      client ??= new DaemonClient({ socket: getSocket() ?? defaultSocket() });
      return client;
    },
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    exitCode: 0,
  };
}
