/**
 * Start a lab process (fake resolver, etcd, a host daemon) detached, in its own session,
 * with its output appended to a log file; resolves to its PID once it has started, so the
 * lab can stop it later by PID.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export function spawnDetached(argv: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const fd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    });
  } finally {
    fs.closeSync(fd);
  }
}
