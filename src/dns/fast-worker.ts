/**
 * The resolver's fast-path thread (started by fast-path.ts). It blocks in epoll_wait over
 * every sandbox's UDP resolver socket and an eventfd the daemon signals, reads queries in
 * batches (recvmmsg), answers those it has a cached answer for (fast-answer.ts) in one
 * sendmmsg, and hands every other datagram, unchanged, to the daemon's JavaScript
 * resolver. It never closes a socket: the daemon does, once this thread has said it let
 * go of it.
 *
 * Freshness: the daemon bumps a shared generation on every records change before the
 * change completes; each batch reads it first and, when it moved, drops every cached
 * answer. An entry learnt under an older generation is dropped on arrival.
 */
import v8 from 'node:v8';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { drainEventfd, Epoll, UdpBatch } from '../kernel/udp-batch.js';
import { fastAnswerLength, readFastQuery, writeFastAnswer, type FastEntry } from './fast-answer.js';
import { LATENCY_BOUNDS, STAT, type ToMain, type ToWorker } from './fast-protocol.js';

const WAKE = 0xffffffff;
const SLOTS = 32;
/** A datagram of any size fits: the JavaScript path must see each query whole. */
const PACKET = 65536;
const REPLY = 1024;
const ROUNDS = 8;
const WAIT_MS = 500;

const { port, wakeFd, gen, stats: statsBuf, v8Flags } = workerData as { port: MessagePort; wakeFd: number; gen: SharedArrayBuffer; stats: SharedArrayBuffer; v8Flags: string[] };
// The process's V8 settings, which starting this thread put back to Node's (fast-path.ts).
for (const f of v8Flags) v8.setFlagsFromString(f);
const generation = new Int32Array(gen);
const stats = new Float64Array(statsBuf);
const post = (m: ToMain) => port.postMessage(m);

const fds = new Map<number, number>();
const caches = new Map<number, Map<string, FastEntry>>();
let cacheGen = Atomics.load(generation, 0);
let running = true;

function fresh(): void {
  const g = Atomics.load(generation, 0);
  if (g !== cacheGen) {
    for (const c of caches.values()) c.clear();
    cacheGen = g;
  }
}

function control(ep: Epoll): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const msg = m.message as ToWorker;
    switch (msg.op) {
      case 'add':
        ep.add(msg.fd, msg.slot);
        fds.set(msg.slot, msg.fd);
        caches.set(msg.slot, new Map());
        break;
      case 'remove': {
        const fd = fds.get(msg.slot);
        if (fd !== undefined) ep.del(fd);
        fds.delete(msg.slot);
        caches.delete(msg.slot);
        post({ op: 'removed', slot: msg.slot });
        break;
      }
      case 'entry':
        fresh();
        if (msg.gen === cacheGen) caches.get(msg.slot)?.set(msg.key, { rdata: msg.rdata });
        break;
      case 'stop':
        running = false;
        break;
    }
  }
}

function observe(seconds: number, n: number): void {
  let i = 0;
  while (i < LATENCY_BOUNDS.length && seconds > LATENCY_BOUNDS[i]!) i++;
  stats[STAT.buckets + i]! += n;
  stats[STAT.latencySum]! += seconds * n;
  stats[STAT.latencyCount]! += n;
}

function serve(b: UdpBatch, slot: number): void {
  const fd = fds.get(slot);
  const cache = caches.get(slot);
  if (fd === undefined || !cache) return;
  const u8 = b.u8;
  let misses: [Uint8Array, Uint8Array][] | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    const n = b.recv(fd);
    if (!n) break;
    const t0 = performance.now();
    fresh();
    let answered = 0;
    for (let i = 0; i < n; i++) {
      const off = b.packetAt(i);
      const len = b.length(i);
      if (!b.truncated(i)) {
        const q = readFastQuery(u8, off, len);
        const e = q && cache.get(q.key);
        if (q && e) {
          const size = fastAnswerLength(q, e);
          if (size <= q.udpSize && size <= REPLY) {
            b.queue(i, writeFastAnswer(u8, off, q, e, u8, b.replyAt(i)));
            stats[e.rdata.length ? STAT.local : STAT.nodata]!++;
            answered++;
            continue;
          }
        }
      }
      (misses ??= []).push([u8.slice(off, off + Math.min(len, b.packetSize)), u8.slice(b.nameAt(i), b.nameAt(i) + b.nameLength(i))]);
    }
    if (answered) {
      b.flush(fd);
      observe((performance.now() - t0) / 1000 / answered, answered);
    }
    if (n < b.slots) break;
  }
  if (misses) post({ op: 'miss', slot, packets: misses });
}

function main(): void {
  const ep = new Epoll(64);
  const b = new UdpBatch(SLOTS, PACKET, REPLY);
  try {
    ep.add(wakeFd, WAKE);
    post({ op: 'ready' });
    while (running) {
      const n = ep.wait(WAIT_MS);
      for (let i = 0; i < n; i++) {
        const d = ep.data(i);
        if (d === WAKE) {
          drainEventfd(wakeFd);
          control(ep);
        } else serve(b, d);
      }
      // Control messages come with a wakeup, but a missed one costs at most WAIT_MS.
      if (!n) control(ep);
    }
  } finally {
    ep.close();
    b.close();
  }
}

try {
  main();
  post({ op: 'stopped' });
} catch (e) {
  post({ op: 'error', message: (e as Error).message });
}
