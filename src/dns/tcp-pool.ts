/**
 * Every TCP connection the resolver holds, across all sandboxes, with the bounds that keep
 * sandboxes from taking the daemon's file descriptors (its API, kernel shells and sandbox
 * creation need them too):
 *
 * - a total cap derived from the daemon's descriptor limit (`dnsTcpLimits`), and a cap per
 *   sandbox; at either cap a new connection is accepted and an existing one is shed: the
 *   one idle the longest (nothing buffered, nothing in flight, for SHED_IDLE_MIN_MS at
 *   least), else the oldest. A brand-new connection is therefore the last to go: a client
 *   that connects and asks at once is answered even while others flood;
 * - absolute deadlines, which no traffic extends: TCP_LIFETIME_MS of life in all, and
 *   TCP_MESSAGE_MS for a message to arrive complete once its first byte has (a client that
 *   trickles a byte at a time is closed after 2 s, not kept alive by each byte); a
 *   connection idle for TCP_IDLE_MS is closed as well;
 * - upstream TCP sockets (a forwarded TCP query holds one) under their own total cap.
 *
 * Deadlines are checked by one sweep every SWEEP_MS over all connections (a timer runs only
 * while there are connections), so a deadline fires at most SWEEP_MS late. The caps follow
 * the limit: a new connection has them derived again when the last look is REFRESH_MS old
 * (a limit lowered on a running daemon, with prlimit say, lowers them too).
 *
 * Pure bookkeeping over a clock: the listener owns the sockets and closes one when asked.
 */

/** Absolute life of a connection, whatever it sends. */
export const TCP_LIFETIME_MS = 10_000;
/** Time for one message to arrive whole, from its first byte. */
export const TCP_MESSAGE_MS = 2_000;
/** Nothing buffered and nothing in flight for this long: closed. */
export const TCP_IDLE_MS = 5_000;
/** Connections per sandbox. */
export const MAX_TCP_PER_SANDBOX = 128;
/** Shed "idle" means idle for at least this long (a connection that just opened is about to ask). */
export const SHED_IDLE_MIN_MS = 500;
export const SWEEP_MS = 250;
/** How often a new connection makes the pool look at the descriptor limit again. */
export const REFRESH_MS = 1_000;
/** The total caps never exceed these, whatever the descriptor limit. */
export const TCP_MAX_CEILING = 4_096;
export const UPSTREAM_TCP_MAX_CEILING = 1_024;

export interface DnsTcpLimits {
  /** The descriptor limit (RLIMIT_NOFILE soft) the caps were derived from. */
  nofile: number;
  /** Client connections across all sandboxes: a quarter of the limit, 16..4096. */
  tcpMax: number;
  /** Upstream TCP sockets across all sandboxes: a sixteenth of the limit, 8..1024. */
  upstreamTcpMax: number;
}

/**
 * The caps for a descriptor limit. At most 5/16 of the limit goes to DNS over TCP; the
 * rest (at least 11/16) stays for the resolver's own sockets (about 4 per sandbox), the
 * API, the kernel shells and sandbox creation.
 */
export function dnsTcpLimits(nofile: number): DnsTcpLimits {
  const n = Number.isFinite(nofile) && nofile > 0 ? Math.floor(nofile) : 1024;
  const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.floor(v)));
  return { nofile: n, tcpMax: clamp(n / 4, 16, TCP_MAX_CEILING), upstreamTcpMax: clamp(n / 16, 8, UPSTREAM_TCP_MAX_CEILING) };
}

export type CloseReason = 'shed' | 'lifetime' | 'message' | 'idle';

export interface TcpEntry {
  readonly owner: string;
  readonly openedAt: number;
  /** When the message now being received began (null: nothing buffered). */
  partialSince: number | null;
  /** Since when the connection has been idle: nothing buffered, nothing in flight, no byte received or answer sent (null: busy). */
  idleSince: number | null;
  released: boolean;
  close(reason: CloseReason): void;
}

interface Group {
  /** In open order. */
  all: Set<TcpEntry>;
  /** In the order they became idle. */
  idle: Set<TcpEntry>;
}

export interface PoolEvents {
  shed(): void;
  timedOut(reason: Exclude<CloseReason, 'shed'>): void;
}

export class TcpPool {
  private global: Group = { all: new Set(), idle: new Set() };
  private owners = new Map<string, Group>();
  private timer?: NodeJS.Timeout;

  private cap: number;
  readonly perOwner: number;
  /** Called at most every REFRESH_MS from admit, before the caps are applied (to follow the descriptor limit). */
  refresh?: () => void;
  private refreshedAt = -Infinity;

  constructor(
    max: number,
    perOwner: number,
    private events: PoolEvents,
    private clock: () => number = () => performance.now(),
    private autoSweep = true,
  ) {
    this.cap = Math.max(1, Math.floor(max));
    this.perOwner = Math.max(1, Math.floor(perOwner));
  }

  /** The total cap; lowering it sheds down to it at the next admit. */
  get max(): number {
    return this.cap;
  }
  set max(n: number) {
    this.cap = Math.max(1, Math.floor(n));
  }

  get size(): number {
    return this.global.all.size;
  }

  sizeOf(owner: string): number {
    return this.owners.get(owner)?.all.size ?? 0;
  }

  /**
   * Take a new connection of `owner`, shedding others first if a cap is reached. `close`
   * is called (once) when the pool wants it gone; the caller then destroys the socket.
   */
  admit(owner: string, close: (reason: CloseReason) => void): TcpEntry {
    const now = this.clock();
    if (this.refresh && now - this.refreshedAt >= REFRESH_MS) {
      this.refreshedAt = now;
      this.refresh();
    }
    let g = this.owners.get(owner);
    if (!g) this.owners.set(owner, (g = { all: new Set(), idle: new Set() }));
    while (g.all.size >= this.perOwner) this.shed(g, now);
    while (this.global.all.size >= this.max) this.shed(this.global, now);
    const e: TcpEntry = { owner, openedAt: now, partialSince: null, idleSince: now, released: false, close };
    g.all.add(e);
    g.idle.add(e);
    this.global.all.add(e);
    this.global.idle.add(e);
    if (this.autoSweep && !this.timer) {
      this.timer = setInterval(() => this.sweep(), SWEEP_MS);
      this.timer.unref();
    }
    return e;
  }

  /**
   * Activity on the connection (bytes received, an answer sent) and what it is doing now:
   * `partial` is 'started' when a new message began (its deadline starts now), 'continues'
   * while the same one is still arriving, 'none' when nothing is buffered; `inFlight`
   * counts its queries not yet answered.
   */
  update(e: TcpEntry, partial: 'started' | 'continues' | 'none', inFlight: number): void {
    if (e.released) return;
    const now = this.clock();
    if (partial === 'none') e.partialSince = null;
    else if (partial === 'started' || e.partialSince === null) e.partialSince = now;
    const idle = e.partialSince === null && inFlight <= 0;
    if (idle) {
      // Activity (a message received or answered): idle from now, last in the shedding order.
      e.idleSince = now;
      this.global.idle.delete(e);
      this.global.idle.add(e);
      const g = this.owners.get(e.owner);
      g?.idle.delete(e);
      g?.idle.add(e);
    } else if (e.idleSince !== null) {
      e.idleSince = null;
      this.global.idle.delete(e);
      this.owners.get(e.owner)?.idle.delete(e);
    }
  }

  /** Forget a connection (closed by either side). Idempotent. */
  release(e: TcpEntry): void {
    if (e.released) return;
    e.released = true;
    this.global.all.delete(e);
    this.global.idle.delete(e);
    const g = this.owners.get(e.owner);
    if (g) {
      g.all.delete(e);
      g.idle.delete(e);
      if (!g.all.size) this.owners.delete(e.owner);
    }
    if (!this.global.all.size && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Close every connection past one of its deadlines. */
  sweep(): void {
    const now = this.clock();
    const due: [TcpEntry, Exclude<CloseReason, 'shed'>][] = [];
    for (const e of this.global.all) {
      if (now - e.openedAt >= TCP_LIFETIME_MS) due.push([e, 'lifetime']);
      else if (e.partialSince !== null && now - e.partialSince >= TCP_MESSAGE_MS) due.push([e, 'message']);
      else if (e.idleSince !== null && now - e.idleSince >= TCP_IDLE_MS) due.push([e, 'idle']);
    }
    for (const [e, reason] of due) {
      this.release(e);
      this.events.timedOut(reason);
      e.close(reason);
    }
  }

  private shed(g: Group, now: number): void {
    const idle = g.idle.values().next().value as TcpEntry | undefined;
    const victim = idle && idle.idleSince !== null && now - idle.idleSince >= SHED_IDLE_MIN_MS ? idle : (g.all.values().next().value as TcpEntry | undefined);
    if (!victim) return;
    this.release(victim);
    this.events.shed();
    victim.close('shed');
  }

  /** Stop the sweep timer (the listeners close their own connections). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A plain counter with a cap: upstream TCP sockets in use across all sandboxes. */
export class Budget {
  used = 0;
  constructor(public max: number) {}
  take(): boolean {
    if (this.used >= this.max) return false;
    this.used++;
    return true;
  }
  give(): void {
    if (this.used > 0) this.used--;
  }
  get full(): boolean {
    return this.used >= this.max;
  }
}
