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
      await new Promise((r) => ok.child.once('exit', r));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
