/**
 * The daemon's memory hygiene. A daemon idles most of its life and serves bursts (a
 * deployment creates hundreds of sandboxes, a teardown removes them), so it trades a little
 * collector work for a resident size that follows what it holds:
 *
 * - `tuneDaemonProcess`, before the daemon's modules load: V8's young generation stays at
 *   its first size (two 1 MiB semi-spaces) instead of growing to 2 × 16 MiB under load
 *   (threads the daemon starts set this again: starting one undoes it), and
 *   the C allocator keeps 1 arena instead of one per thread (each arena keeps the pages it
 *   once used).
 * - `MemoryHygiene`: a full collection and a malloc trim once start-up is over, and again
 *   when the number of sandboxes has dropped a lot since its peak (a mass removal) or grown
 *   a lot since the last one (a burst of creations), after a quiet moment. V8 alone keeps the heap it grew for a long while, and glibc keeps the
 *   freed pages of its arenas.
 */
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { limitMallocArenas, trimMalloc } from '../kernel/malloc.js';
import { DAEMON_GLIBC_TUNABLES } from './tunables.js';

/**
 * Malloc arenas: one, shared by the main thread and the thread pool. A second one (so they
 * do not contend for one lock) held 2-4 MiB more at idle and after a restart over state.
 */
const ARENAS = 1;

/** A compaction waits for this long without a change. */
export const QUIET_MS = 2_000;
/** The resident size is logged this long after a compaction, once V8 has unmapped the pages it freed. */
const REPORT_MS = 1_000;
/**
 * A drop of at least this many sandboxes since the peak, and at least a quarter of the peak,
 * is a mass removal; as many more since the last compaction (and a quarter more) a burst.
 */
export const MIN_DROP = 50;

/**
 * V8's settings for the daemon, set at run time. Read by V8 each time the young generation
 * would grow, so they apply to a running process too; but starting a worker thread puts
 * them back to Node's (measured: the young generation of the main thread grew to 2 × 16
 * MiB again once the resolver's thread was up), so every thread the daemon starts sets
 * them again first (`daemonV8Flags`).
 */
const V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1'];
let appliedV8Flags: readonly string[] = [];

/** The V8 settings this process was tuned with (none unless it is the daemon): a thread it starts sets them again. */
export function daemonV8Flags(): readonly string[] {
  return appliedV8Flags;
}

export function tuneDaemonProcess(): void {
  for (const f of V8_FLAGS) v8.setFlagsFromString(f);
  appliedV8Flags = V8_FLAGS;
  limitMallocArenas(ARENAS);
  if (process.env.GLIBC_TUNABLES === DAEMON_GLIBC_TUNABLES) delete process.env.GLIBC_TUNABLES;
}

/**
 * A full garbage collection without starting Node with --expose-gc: the flag set at run
 * time gives the function to contexts created afterwards. Undefined if that ever stops
 * working (then only the malloc trim runs).
 */
function fullGc(): (() => void) | undefined {
  const own = (globalThis as { gc?: () => void }).gc;
  if (typeof own === 'function') return own;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    v8.setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS of this process in MiB (NaN if /proc is not there). */
export function residentMiB(): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export interface HygieneOptions {
  /** The sandboxes the daemon holds now. */
  sandboxes: () => number;
  log: (msg: string) => void;
  quietMs?: number;
}

export class MemoryHygiene {
  private peak = 0;
  private timer: NodeJS.Timeout | undefined;
  private gc: (() => void) | null | undefined;
  /** Compactions run so far (for tests and the log). */
  compactions = 0;

  constructor(private readonly opts: HygieneOptions) {}

  /** Start-up is over: give back what loading, reconcile and the first reads left behind. */
  started(): void {
    this.peak = this.base = this.last = this.opts.sandboxes();
    this.startUp = true;
    this.schedule();
  }

  /**
   * After every operation: a mass removal, or a burst of creations, schedules a compaction
   * once things are quiet (a burst leaves the garbage of its requests in a heap grown for it).
   */
  changed(): void {
    const n = this.opts.sandboxes();
    const moved = n !== this.last;
    this.last = n;
    if (n > this.peak) this.peak = n;
    // A pending compaction waits for the count to stop moving; reads do not postpone it.
    if (this.timer ? moved : this.removed(n) || n - this.base >= Math.max(MIN_DROP, this.base / 4)) this.schedule();
  }

  private removed(n: number): boolean {
    return this.peak - n >= Math.max(MIN_DROP, this.peak / 4);
  }

  close(): void {
    clearTimeout(this.timer);
    clearTimeout(this.report);
    this.timer = this.report = undefined;
  }

  private startUp = false;
  /** The sandbox count at the last compaction, and at the last change. */
  private base = 0;
  private last = 0;
  private report: NodeJS.Timeout | undefined;
  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.compact(), this.opts.quietMs ?? QUIET_MS);
    this.timer.unref();
  }

  /**
   * One full collection that also compacts fragmented pages (V8's ordinary full collection
   * leaves them: a heap grown to 30 MiB kept it with 20 MiB live), then the malloc trim.
   */
  compact(): void {
    this.timer = undefined;
    const n = this.opts.sandboxes();
    const why = this.startUp ? 'start-up' : this.removed(n) ? `${this.peak - n} of ${this.peak} sandboxes removed` : `${n - this.base} sandboxes added`;
    this.startUp = false;
    if (this.gc === undefined) this.gc = fullGc() ?? null;
    const before = residentMiB();
    const t0 = performance.now();
    if (this.gc) {
      v8.setFlagsFromString('--compact-on-every-full-gc');
      try {
        this.gc();
      } finally {
        v8.setFlagsFromString('--no-compact-on-every-full-gc');
      }
    }
    trimMalloc();
    const ms = performance.now() - t0;
    this.peak = this.base = n;
    this.compactions++;
    clearTimeout(this.report);
    this.report = setTimeout(() => {
      this.report = undefined;
      this.opts.log(`memory: ${why}: resident ${before.toFixed(1)} MiB, ${residentMiB().toFixed(1)} MiB a second after a ${this.gc ? 'compacting collection and ' : ''}malloc trim (${ms.toFixed(0)} ms)`);
    }, REPORT_MS);
    this.report.unref();
  }
}
