/** Running the kernel's command-line tools: every call has a timeout and captures output. */
import { spawn } from 'node:child_process';
import { runInShell } from './shell.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  // In the daemon: a pooled shell (see shell.ts) unless the caller needs its own environment.
  const pooled = opts.env ? null : runInShell(cmd, args, opts.input, opts.timeoutMs ?? 30_000);
  if (pooled) return pooled;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Quote one argument for an `ip -batch` line (its parser splits on blanks and honours quotes). */
export function batchQuote(arg: string): string {
  return /^[A-Za-z0-9_.:/@%+=,-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

/** Raw `ip [ARGS] [-force] -batch -` of command lines (the lab's own set-up and teardown). */
export function ipBatchLines(globalArgs: string[], lines: string[], force = false): Promise<RunResult> {
  return run('ip', [...globalArgs, ...(force ? ['-force'] : []), '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 15_000 });
}
