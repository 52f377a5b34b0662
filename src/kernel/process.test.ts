/**
 * Starting a sandbox's command: a program that cannot be run is a clear error for the
 * caller, never an unhandled 'error' event that would end the daemon. (No namespace here:
 * a host-network sandbox runs its command directly, which is where this can happen.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { isAlive, startSandboxProcess, unreaped } from './process.js';

describe('startSandboxProcess', () => {
  it('refuses a command that cannot be run with INVALID_ARGUMENT naming it, and nothing crashes afterwards; a real one starts', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-proc-'));
    try {
      const log = path.join(dir, 'out.log');
      for (const cmd of ['.', '/nonexistent/prog']) {
        let err: unknown;
        try {
          startSandboxProcess(null, [cmd], log);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(YardError);
        expect((err as YardError).code).toBe('INVALID_ARGUMENT');
        expect((err as YardError).message).toContain(JSON.stringify(cmd));
      }
      // The spawn errors arrive after the calls returned: give them time to (not) crash anything.
      await new Promise((r) => setTimeout(r, 100));
      const ok = startSandboxProcess(null, ['true'], log);
      expect(ok.pid).toBeGreaterThan(0);
      const exit = await new Promise<[number | null, string | null]>((r) => ok.onExit((code, signal) => r([code, signal])));
      expect(exit).toEqual([0, null]);
      // Exit codes and signals come back as Node reports them.
      const failing = startSandboxProcess(null, ['sh', '-c', 'exit 3'], log);
      expect(await new Promise((r) => failing.onExit((code, signal) => r([code, signal])))).toEqual([3, null]);
      const killed = startSandboxProcess(null, ['sleep', '30'], log);
      const killedExit = new Promise((r) => killed.onExit((code, signal) => r([code, signal])));
      process.kill(killed.pid, 'SIGTERM');
      expect(await killedExit).toEqual([null, 'SIGTERM']);
      // Output reaches the log, and the child ignores nothing the daemon ignores (SIGPIPE).
      const piped = startSandboxProcess(null, ['sh', '-c', 'echo to-the-log; grep SigIgn /proc/self/status'], log);
      await new Promise((r) => piped.onExit(r));
      const text = fs.readFileSync(log, 'utf8');
      expect(text).toContain('to-the-log');
      // Signals 1-31 (SIGPIPE among them) at their defaults; glibc's own 32 and 33 are not the caller's.
      const ignored = BigInt(`0x${/SigIgn:\s+([0-9a-f]+)/.exec(text)?.[1] ?? 'ffffffff'}`);
      expect(ignored & 0x7fffffffn).toBe(0n); // bit n-1 is signal n
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an exited child not reaped yet is told apart from one that is gone: unreaped until the daemon reaps it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-proc-'));
    try {
      const child = startSandboxProcess(null, ['sh', '-c', 'exit 7'], path.join(dir, 'out.log'));
      const exit = new Promise<[number | null, string | null]>((r) => child.onExit((code, signal) => r([code, signal])));
      // Without yielding to the event loop nothing reaps it: wait (bounded) until it is a zombie.
      const until = Date.now() + 5000;
      while (!unreaped(child.pid) && Date.now() < until) {
        /* spin: the reaper runs only when this returns to the event loop */
      }
      expect(unreaped(child.pid)).toBe(true);
      expect(isAlive(child.pid)).toBe(false);
      // Reaped: its exit code arrives, and it is neither alive nor waiting any more.
      expect(await exit).toEqual([7, null]);
      expect(unreaped(child.pid)).toBe(false);
      // Positive control: a running child is alive and not unreaped.
      const running = startSandboxProcess(null, ['sleep', '30'], path.join(dir, 'out.log'));
      const gone = new Promise((r) => running.onExit(r));
      expect(isAlive(running.pid)).toBe(true);
      expect(unreaped(running.pid)).toBe(false);
      process.kill(running.pid, 'SIGKILL');
      await gone;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
