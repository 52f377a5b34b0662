/**
 * The daemon's young generation with the resolver's thread running. The daemon keeps V8's
 * young generation at its first size (daemon/memory.ts), a setting made at run time that
 * starting a worker thread puts back to Node's; the resolver's fast-path thread sets it
 * again. Each case is a `node` process of its own (the setting is the process's), using the
 * built modules as the daemon does, allocating the same short-lived garbage, then reading
 * the young generation's size. Needs `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = path.resolve(__dirname, '../../dist');

/** The young generation's size in MiB after the churn, in a process tuned as the daemon is. */
function youngGenerationMiB(thread: 'none' | 'with the daemon settings' | 'without them'): number {
  const script = `
    import v8 from 'node:v8';
    const { tuneDaemonProcess, daemonV8Flags } = await import(${JSON.stringify(`${DIST}/daemon/memory.js`)});
    const { FastPath } = await import(${JSON.stringify(`${DIST}/dns/fast-path.js`)});
    tuneDaemonProcess();
    const mode = process.argv[2];
    let fp = null;
    if (mode !== 'none') {
      fp = await FastPath.start((m) => console.error(m), mode === 'with the daemon settings' ? daemonV8Flags() : []);
      if (!fp) throw new Error('the fast path did not start');
    }
    // Garbage a busy daemon makes: many short-lived objects, some surviving a while.
    let keep = [];
    for (let i = 0; i < 3e6; i++) {
      keep.push({ i, s: 'x' + i });
      if (keep.length > 200000) keep = [];
    }
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(young.space_size / 1048576);
    fp?.stop();
    process.exit(0);
  `;
  // A file, not -e: a worker thread inherits the process's options, and --input-type is refused there.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-young-'));
  try {
    fs.writeFileSync(path.join(dir, 'churn.mjs'), script);
    const out = execFileSync(process.execPath, [path.join(dir, 'churn.mjs'), thread], { encoding: 'utf8', timeout: 60_000 });
    return Number(out.trim());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("the daemon's young generation", () => {
  it('stays at its first size with the resolver thread running; without the thread setting it again it grows', () => {
    // No thread: the run-time setting holds.
    const alone = youngGenerationMiB('none');
    expect(alone).toBeLessThanOrEqual(2);
    // The daemon's case: the thread sets the process's V8 settings again.
    expect(youngGenerationMiB('with the daemon settings')).toBeLessThanOrEqual(2);
    // Control: a thread started without them undoes the setting, and the same churn grows it.
    expect(youngGenerationMiB('without them')).toBeGreaterThanOrEqual(8);
  });
});
