/**
 * A small pool of long-lived `/bin/sh` co-processes that run the daemon's `ip`, `bridge`
 * and `nft` commands. Forking the daemon itself costs about 4.5 ms per command (Node's
 * spawn is synchronous and copies a 100+ MiB process), blocking the event loop each time;
 * a shell forks a tiny process instead, so one command costs about 2 ms in all.
 *
 * Protocol: each command is written as one shell snippet, its input as a here-document
 * with a random delimiter, followed by a marker with the exit code on stdout and a marker
 * on stderr; the reply is complete when both markers have arrived. A command that times
 * out kills its shell's whole process group (the command with it); the pool makes a new
 * shell on the next call. With every shell busy, or YARD_EXEC=spawn, callers fall back
 * to a plain spawn.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { RunResult } from './exec.js';

const MAX_SHELLS = 3;

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface Pending {
  marker: string;
  resolve: (r: RunResult) => void;
  timer: NodeJS.Timeout;
}

class Shell {
  private readonly child: ChildProcessWithoutNullStreams;
  private out = '';
  private err = '';
  private pending: Pending | null = null;
  dead = false;

  constructor() {
    // Its own process group, so a timeout can kill the shell and what it runs together.
    this.child = spawn('/bin/sh', [], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
      this.check();
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.err += d;
      this.check();
    });
    this.child.stdin.on('error', () => this.die());
    // A shell that cannot be started (no process left, EAGAIN) fails its commands, never the daemon.
    this.child.on('error', () => this.die());
    this.child.on('exit', () => this.die());
    this.idle();
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  run(cmd: string, args: string[], input: string | undefined, timeoutMs: number): Promise<RunResult> {
    const marker = `__yard_${randomBytes(6).toString('hex')}__`;
    const line = [cmd, ...args].map(shq).join(' ');
    const feed = input !== undefined && input !== '' ? ` <<'${marker}EOF'\n${input.endsWith('\n') ? input : input + '\n'}${marker}EOF` : ' </dev/null';
    const script = `${line}${feed}\nprintf '\\n${marker} %d\\n' $?; printf '\\n${marker}\\n' >&2\n`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.finish({ code: 137, stdout: this.out, stderr: this.err + `\n(killed after ${timeoutMs} ms)` });
        this.kill();
      }, timeoutMs);
      this.pending = { marker, resolve, timer };
      this.out = '';
      this.err = '';
      this.active();
      this.child.stdin.write(script);
    });
  }

  private check(): void {
    const p = this.pending;
    if (!p) return;
    const m = new RegExp(`\\n${p.marker} (\\d+)\\n`).exec(this.out);
    const e = this.err.indexOf(`\n${p.marker}\n`);
    if (!m || e < 0) return;
    this.finish({ code: Number(m[1]), stdout: this.out.slice(0, m.index), stderr: this.err.slice(0, e) });
  }

  private finish(r: RunResult): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = null;
    this.out = '';
    this.err = '';
    this.idle();
    p.resolve(r);
  }

  /** While a command runs the pipes keep the process alive; idle, they must not. */
  private active(): void {
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr] as unknown as { ref?: () => void }[]) s.ref?.();
  }
  private idle(): void {
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr] as unknown as { unref?: () => void }[]) s.unref?.();
  }

  private kill(): void {
    this.dead = true;
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }

  private die(): void {
    if (this.dead && !this.pending) return;
    this.dead = true;
    this.finish({ code: 1, stdout: this.out, stderr: this.err + '\n(the command shell exited)' });
  }

  close(): void {
    this.dead = true;
    this.child.stdin.end();
  }
}

let enabled = false;
const shells: Shell[] = [];

/** The daemon turns the pool on at start; the CLI, the lab and tests keep plain spawns. */
export function enableShellPool(): void {
  enabled = process.env.YARD_EXEC !== 'spawn';
}

export function closeShellPool(): void {
  enabled = false;
  for (const s of shells.splice(0)) s.close();
}

/** Run through a free shell, or return null when the pool is off or every shell is busy. */
export function runInShell(cmd: string, args: string[], input: string | undefined, timeoutMs: number): Promise<RunResult> | null {
  if (!enabled) return null;
  for (let i = shells.length - 1; i >= 0; i--) if (shells[i]!.dead) shells.splice(i, 1);
  let sh = shells.find((s) => !s.busy);
  if (!sh && shells.length < MAX_SHELLS) {
    sh = new Shell();
    shells.push(sh);
  }
  return sh ? sh.run(cmd, args, input, timeoutMs) : null;
}
