/**
 * ipvlan where this machine's kernel has none: boots the VM lab (src/lab/vm.ts: a stock
 * Debian cloud kernel under qemu, this machine's root read-only, no NIC), runs the guest
 * suite test/vm/*.test.ts there with vitest, and passes only if every guest test passed,
 * so CI counts the ipvlan conformance, host-access, VLAN-parent and l3-route tests like any
 * other.
 *
 * Slow by nature (software emulation: 2-5 min): the one lab test allowed past a minute.
 * Installs qemu-system-x86 and linux-image-cloud-amd64 with apt if they are missing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { vmInstallPackages, vmRun } from '../../src/lab/vm.js';

const VM_TIMEOUT_MS = 900_000;

/** vitest's summary line, e.g. "Tests  13 passed | 1 failed (14)". */
export function parseVitestSummary(output: string): { passed: number; failed: number; skipped: number; total: number } | null {
  // eslint-disable-next-line no-control-regex
  const plain = output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  const line = plain.split('\n').find((l) => /^\s*Tests\s+.*\(\d+\)\s*$/.test(l));
  if (!line) return null;
  const count = (word: string) => Number(new RegExp(`(\\d+) ${word}`).exec(line)?.[1] ?? 0);
  return { passed: count('passed'), failed: count('failed'), skipped: count('skipped'), total: Number(/\((\d+)\)\s*$/.exec(line)![1]) };
}

describe('VM lab: ipvlan on a kernel that has it', () => {
  it('passes the guest suite (ipvlan l2/l3/l3s conformance, l2 host access, macvlan on lan0.100, the l3 upstream route, capability probe, Docker containers on ipvlan through the plugin)', async () => {
    const log = (m: string) => console.log(`vm: ${m}`);
    // The guest's vitest output, line by line as it arrives: `tail -f` it to follow a run.
    const guestLog = path.join(os.tmpdir(), `yard-vm-guest-${process.pid}.log`);
    fs.writeFileSync(guestLog, '');
    log(`guest output: ${guestLog}`);
    await vmInstallPackages(log);
    const r = await vmRun({
      command: ['node', 'node_modules/vitest/vitest.mjs', 'run', '--reporter=verbose', '--config', 'test/vm/vitest.config.ts'],
      cwd: PACKAGE_ROOT,
      env: { YARD_LAB_SLOWDOWN: '5', NO_COLOR: '1', FORCE_COLOR: '0' },
      timeoutMs: VM_TIMEOUT_MS,
      onProgress: log,
      onLine: (line) => fs.appendFileSync(guestLog, line + '\n'),
    });
    const summary = parseVitestSummary(r.output);
    log(`guest exit ${r.exitCode}, boot ${((r.bootMs ?? 0) / 1000).toFixed(1)} s, wall ${(r.wallMs / 1000).toFixed(1)} s, ${JSON.stringify(summary)}`);
    const tail = `\n--- guest output (end) ---\n${r.output.split('\n').slice(-60).join('\n')}\n--- console (end) ---\n${r.console.slice(-1500)}`;
    expect(r.timedOut, `the VM hit its ${VM_TIMEOUT_MS / 1000} s limit${tail}`).toBe(false);
    expect(summary, `no vitest summary in the guest output${tail}`).not.toBeNull();
    expect(summary!.failed, tail).toBe(0);
    expect(summary!.skipped, tail).toBe(0);
    expect(summary!.passed).toBeGreaterThanOrEqual(18);
    expect(r.exitCode, tail).toBe(0);
  }, VM_TIMEOUT_MS + 120_000);
});
