import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nofileLimit, raiseNofileLimit } from './netns-socket.js';

/** "Max open files" of this process, as the kernel reports it. */
function procLimits(): { soft: number; hard: number } {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!;
  const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/);
  const n = (v: string | undefined) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: n(soft), hard: n(hard) };
}

describe('RLIMIT_NOFILE', () => {
  it('reads the limit the kernel reports', () => {
    expect(nofileLimit()).toEqual(procLimits());
  });

  it('raises the soft limit to the hard one', () => {
    const { hard } = procLimits();
    const low = Math.min(256, hard);
    // Lower this test process's soft limit (allowed without privileges), then raise it back.
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${low}:`], { timeout: 5_000 });
    expect(procLimits().soft).toBe(low);
    const r = raiseNofileLimit();
    expect(r.before).toEqual({ soft: low, hard });
    expect(r.after).toEqual({ soft: hard, hard });
    expect(procLimits()).toEqual({ soft: hard, hard });
  });
});
