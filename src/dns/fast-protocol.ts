/**
 * Messages between the daemon and the resolver's fast-path thread (fast-path.ts,
 * fast-worker.ts), and the layout of the counters they share.
 */
import { DNS_LATENCY_BUCKETS } from '../observe/tally.js';

export type ToWorker =
  /** Serve this socket; `slot` names it in both directions. */
  | { op: 'add'; slot: number; fd: number }
  /** Stop reading the socket; answered with `removed`, after which the daemon closes it. */
  | { op: 'remove'; slot: number }
  /** The answer for a name and type on one socket, valid while the generation is `gen`. */
  | { op: 'entry'; slot: number; gen: number; key: string; rdata: Uint8Array[] }
  | { op: 'stop' };

export type ToMain =
  | { op: 'ready' }
  /** Datagrams the thread did not answer: [query, sender's sockaddr]. */
  | { op: 'miss'; slot: number; packets: [Uint8Array, Uint8Array][] }
  | { op: 'removed'; slot: number }
  | { op: 'stopped' }
  | { op: 'error'; message: string };

export const LATENCY_BOUNDS = DNS_LATENCY_BUCKETS;

/** Offsets in the shared Float64Array of counters (written by the thread only). */
export const STAT = { local: 0, nodata: 1, latencyCount: 2, latencySum: 3, buckets: 4 } as const;
export const STAT_SIZE = STAT.buckets + LATENCY_BOUNDS.length + 1;
