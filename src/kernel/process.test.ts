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
import { startSandboxProcess } from './process.js';

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
});
