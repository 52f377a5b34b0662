import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryHygiene, MIN_DROP, QUIET_MS, residentMiB, tuneDaemonProcess } from './memory.js';
import { DAEMON_GLIBC_TUNABLES } from './tunables.js';

describe('memory hygiene', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function hygiene(start: number) {
    let sandboxes = start;
    const lines: string[] = [];
    const h = new MemoryHygiene({ sandboxes: () => sandboxes, log: (m) => lines.push(m) });
    return { h, lines, set: (n: number) => (sandboxes = n) };
  }

  it('compacts once after start-up, a burst of creations and a mass removal, each when things are quiet', () => {
    vi.useFakeTimers();
    const { h, lines, set } = hygiene(0);
    h.started();
    vi.advanceTimersByTime(QUIET_MS + 1_000);
    expect(h.compactions).toBe(1);
    expect(lines).toEqual([expect.stringMatching(/^memory: start-up: resident [\d.]+ MiB, [\d.]+ MiB a second after a compacting collection and malloc trim \(\d+ ms\)$/)]);

    // A burst of creations: one compaction once it is over.
    for (let n = 1; n <= 200; n++) {
      set(n);
      h.changed();
      vi.advanceTimersByTime(QUIET_MS / 4);
    }
    expect(h.compactions).toBe(1);
    vi.advanceTimersByTime(QUIET_MS + 1_000);
    expect(h.compactions).toBe(2);
    expect(lines[1]).toMatch(/^memory: 200 sandboxes added: /);

    // Removals one after the other: nothing while they go on, one compaction after the last.
    for (let n = 199; n >= 0; n--) {
      set(n);
      h.changed();
      vi.advanceTimersByTime(QUIET_MS / 4);
    }
    expect(h.compactions).toBe(2);
    vi.advanceTimersByTime(QUIET_MS + 1_000);
    expect(h.compactions).toBe(3);
    expect(lines[2]).toMatch(/^memory: 200 of 200 sandboxes removed: /);
    h.close();
  });

  it('compacts after creating and removing many without a pause between', () => {
    vi.useFakeTimers();
    const { h, lines, set } = hygiene(0);
    for (const n of [100, 0]) {
      set(n);
      h.changed();
    }
    vi.advanceTimersByTime(QUIET_MS + 1_000);
    expect(h.compactions).toBe(1);
    expect(lines[0]).toMatch(/^memory: 100 of 100 sandboxes removed: /);
    h.close();
  });

  it('leaves a small removal or addition alone', () => {
    vi.useFakeTimers();
    const { h, set } = hygiene(400);
    h.started();
    vi.advanceTimersByTime(QUIET_MS);
    expect(h.compactions).toBe(1);
    set(400 - (MIN_DROP - 1));
    h.changed();
    vi.advanceTimersByTime(QUIET_MS * 3);
    expect(h.compactions).toBe(1);
    set(400 + (MIN_DROP + 1)); // more than 50, less than a quarter of 400
    h.changed();
    vi.advanceTimersByTime(QUIET_MS * 3);
    expect(h.compactions).toBe(1);
    // A quarter of the peak is a mass removal.
    set(451 - 113);
    h.changed();
    vi.advanceTimersByTime(QUIET_MS);
    expect(h.compactions).toBe(2);
    h.close();
  });

  it('is not postponed by operations that do not change the count (reads)', () => {
    vi.useFakeTimers();
    const { h } = hygiene(0);
    h.started();
    for (let i = 0; i < 20; i++) {
      h.changed();
      vi.advanceTimersByTime(QUIET_MS / 4);
    }
    expect(h.compactions).toBe(1);
    h.close();
  });

  it('close cancels a pending compaction', () => {
    vi.useFakeTimers();
    const { h } = hygiene(0);
    h.started();
    h.close();
    vi.advanceTimersByTime(QUIET_MS * 3);
    expect(h.compactions).toBe(0);
  });

  it('reads its own resident size', () => {
    expect(residentMiB()).toBeGreaterThan(10);
  });

  it('takes the daemon\'s own malloc setting out of the environment its children get, and keeps one of yours', () => {
    const saved = process.env.GLIBC_TUNABLES;
    try {
      process.env.GLIBC_TUNABLES = DAEMON_GLIBC_TUNABLES;
      tuneDaemonProcess();
      expect(process.env.GLIBC_TUNABLES).toBeUndefined();
      process.env.GLIBC_TUNABLES = 'glibc.malloc.arena_max=4';
      tuneDaemonProcess();
      expect(process.env.GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=4');
    } finally {
      if (saved === undefined) delete process.env.GLIBC_TUNABLES;
      else process.env.GLIBC_TUNABLES = saved;
    }
  });
});
