/**
 * The resolver's fast path, daemon side: a worker thread (fast-worker.ts) that owns the
 * reading of every sandbox's UDP resolver socket and answers the hot query (A/AAAA of a
 * local name) from cached bytes in batches, several queries per system call. What it does
 * not answer comes back here (`onMiss`) and goes through the JavaScript resolver as
 * before; the answer is sent on the same socket (sendto), and when it was a cacheable
 * local answer the resolver teaches it to the thread (`learn`).
 *
 * Records changes call `invalidate()` synchronously, before the change completes: the
 * thread drops every cached answer at its next batch, so no answer outlives its record.
 * If the thread cannot start, or stops, every socket it held is handed back (`onLost`) and
 * read by Node's dgram as without the fast path. `YARD_DNS_FASTPATH=off` disables it.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { Wakeup } from '../kernel/udp-batch.js';
import { STAT_SIZE, type ToMain, type ToWorker } from './fast-protocol.js';

const READY_MS = 5_000;

export interface FastSocket {
  onMiss(query: Buffer, from: Buffer): void;
  /** The thread is gone: read the socket another way from now on. */
  onLost(): void;
}

export class FastPath {
  private sockets = new Map<number, FastSocket>();
  /** Sockets being let go: closed by `then` once the thread says it no longer reads them. */
  private leaving = new Map<number, () => void>();
  private nextSlot = 1;
  private alive = true;
  private readonly generation: Int32Array;
  readonly counts: Float64Array;

  private constructor(
    private worker: Worker,
    private port: import('node:worker_threads').MessagePort,
    private wake: Wakeup,
    gen: SharedArrayBuffer,
    stats: SharedArrayBuffer,
    private log: (m: string) => void,
  ) {
    this.generation = new Int32Array(gen);
    this.counts = new Float64Array(stats);
  }

  /**
   * The running fast path, or null (logged) when it cannot start: the resolver then reads
   * its sockets with dgram. `v8Flags`: the V8 settings the process runs with (the daemon's,
   * memory.ts), set again by the thread because starting it puts them back to Node's.
   */
  static async start(log: (m: string) => void, v8Flags: readonly string[] = []): Promise<FastPath | null> {
    if (process.env.YARD_DNS_FASTPATH === 'off') return null;
    let wake: Wakeup | undefined;
    let worker: Worker | undefined;
    try {
      wake = new Wakeup();
      const gen = new SharedArrayBuffer(4);
      const stats = new SharedArrayBuffer(8 * STAT_SIZE);
      const { port1, port2 } = new MessageChannel();
      worker = new Worker(new URL('./fast-worker.js', import.meta.url), {
        workerData: { port: port2, wakeFd: wake.fd, gen, stats, v8Flags: [...v8Flags] },
        transferList: [port2],
        // A small heap: the thread keeps a few answers per name, not the records.
        resourceLimits: { maxOldGenerationSizeMb: 64 },
      });
      const fp = new FastPath(worker, port1, wake, gen, stats, log);
      await fp.ready();
      worker.unref();
      port1.unref();
      return fp;
    } catch (e) {
      log(`dns: the batched fast path did not start (${(e as Error).message}); every query goes through the resolver's sockets one by one`);
      void worker?.terminate();
      wake?.close();
      return null;
    }
  }

  private ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no word from the thread in ${READY_MS} ms`)), READY_MS);
      const early = (what: string) => {
        clearTimeout(timer);
        reject(new Error(what));
      };
      this.worker.on('error', (e) => early(e.message));
      this.worker.once('exit', (code) => {
        early(`the thread exited (${code})`);
        this.lost(`the thread exited (${code})`);
      });
      this.port.on('message', (m: ToMain) => {
        if (m.op === 'ready') {
          clearTimeout(timer);
          resolve();
        } else this.onMessage(m);
      });
    });
  }

  private onMessage(m: ToMain): void {
    switch (m.op) {
      case 'miss': {
        const s = this.sockets.get(m.slot);
        if (!s) return;
        for (const [q, from] of m.packets) s.onMiss(Buffer.from(q.buffer, q.byteOffset, q.byteLength), Buffer.from(from.buffer, from.byteOffset, from.byteLength));
        return;
      }
      case 'removed': {
        const then = this.leaving.get(m.slot);
        this.leaving.delete(m.slot);
        then?.();
        return;
      }
      case 'error':
        this.log(`dns: the batched fast path stopped: ${m.message}`);
        return;
      default:
    }
  }

  /** The thread is gone: give every socket back to its listener, close those being let go. */
  private lost(why: string): void {
    if (!this.alive) return;
    this.alive = false;
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    for (const then of this.leaving.values()) then();
    this.leaving.clear();
    this.wake.close();
    if (sockets.length) this.log(`dns: the batched fast path stopped (${why}); ${sockets.length} resolver socket(s) read one by one from now on`);
    for (const s of sockets) s.onLost();
  }

  get running(): boolean {
    return this.alive;
  }

  private send(m: ToWorker): void {
    this.port.postMessage(m);
    this.wake.signal();
  }

  /** Hand a non-blocking UDP socket to the thread; its slot number. */
  add(fd: number, socket: FastSocket): number {
    const slot = this.nextSlot++;
    this.sockets.set(slot, socket);
    this.send({ op: 'add', slot, fd });
    return slot;
  }

  /** Take a socket back; `then` runs once the thread no longer reads it (at once if the thread is gone). */
  remove(slot: number, then: () => void): void {
    this.sockets.delete(slot);
    if (!this.alive) return then();
    this.leaving.set(slot, then);
    this.send({ op: 'remove', slot });
  }

  /** Every cached answer is stale from now on (records changed). */
  invalidate(): void {
    Atomics.add(this.generation, 0, 1);
  }

  /** Teach the thread the answer for (socket, name and type), valid until the next `invalidate`. */
  learn(slot: number, key: string, rdata: Uint8Array[]): void {
    if (!this.alive || !this.sockets.has(slot)) return;
    this.send({ op: 'entry', slot, gen: Atomics.load(this.generation, 0), key, rdata });
  }

  /** Stop the thread; sockets still held are given back (their listeners are closing). */
  stop(): void {
    if (!this.alive) return;
    this.send({ op: 'stop' });
  }
}
