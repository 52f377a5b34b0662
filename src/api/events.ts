/**
 * Docker's `GET /events` for networks: what changed (a network created or destroyed, a
 * sandbox connected or disconnected), in Docker's event shape, past and live.
 *
 *   eventsOf(change)      the events a committed change makes (pure)
 *   EventLog              the last EVENT_BUFFER events in memory, and the live subscribers
 *   eventsParticipant     records a change's events once the change has committed
 *   parseEventTime        `since`/`until`: Docker's timestamps, dates and durations
 *   checkEventFilters,
 *   eventMatches          `filters` with Docker's keys and Docker's matching rules
 *   mountEvents           the route: the past events, then (without `until`) a live stream
 *
 * An event is recorded only for a change that committed. The participant's apply runs
 * before the commit, so it does not record there: it queues the recording behind the
 * mutation in flight (the engine's queue runs one mutation at a time), and the undo it
 * returns cancels it. A dry run never reaches the participants; a change that fails or is
 * undone records nothing. A removal (a teardown is finished, never undone) records its
 * events once its queue slot ends.
 */
import type { Context, Hono } from 'hono';
import { YardError } from '../errors.js';
import type { Change, Participant, StateView } from '../engine/participants.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { parseFilters } from './server.js';

/** How many past events the daemon keeps in memory (Docker keeps 256). */
export const EVENT_BUFFER = 1024;
/** Events queued for a client that does not read before its stream is ended. */
export const MAX_QUEUED = 4096;

export type NetworkAction = 'create' | 'connect' | 'disconnect' | 'destroy';

/** Docker's events.Message for a network event (`timeNano` kept exact as a bigint). */
export interface EventMessage {
  Type: 'network';
  Action: NetworkAction;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: bigint;
}

/** An event before it is stamped: what it is about. */
export interface EventDraft {
  action: NetworkAction;
  net: Pick<NetworkRecord, 'id' | 'name' | 'driver' | 'labels'>;
  sb?: Pick<SandboxRecord, 'id' | 'name'>;
}

/** A recorded event, with what the filters need besides the message. */
export interface RecordedEvent {
  msg: EventMessage;
  /** The network's labels (the `label` filter). */
  labels: Record<string, string>;
  /** The sandbox's name (the `container` filter), for connect and disconnect. */
  sandboxName?: string;
}

// ---------------------------------------------------------------- events of a change

/** The events of one change, in Docker's order: a sandbox's networks by their endpoint order. */
export function eventsOf(change: Change, before: StateView, after: StateView): EventDraft[] {
  const perEndpoint = (sb: SandboxRecord, nets: ReadonlyMap<string, NetworkRecord>, action: NetworkAction): EventDraft[] =>
    Object.values(sb.endpoints)
      .sort((a, b) => a.order - b.order)
      .map((ep) => nets.get(ep.networkId))
      .filter((n): n is NetworkRecord => !!n)
      .map((net) => ({ action, net, sb }));
  switch (change.kind) {
    case 'network.create':
      return [{ action: 'create', net: change.net }];
    case 'network.remove':
      return [{ action: 'destroy', net: change.net }];
    case 'connect':
      return [{ action: 'connect', net: change.net, sb: change.sb }];
    case 'disconnect':
      return [{ action: 'disconnect', net: change.net, sb: change.sb }];
    case 'sandbox.create':
      return perEndpoint(change.sb, after.networks, 'connect');
    case 'sandbox.remove':
      return perEndpoint(change.sb, before.networks, 'disconnect');
    case 'sandbox.ports':
      return [];
  }
}

/** Docker's message: Actor.ID is the network's ID; attributes name, type (the driver) and, for a sandbox, container. */
export function toMessage(d: EventDraft, timeNano: bigint): EventMessage {
  // Docker's attributes come out of a Go map: sorted by key.
  const Attributes: Record<string, string> = d.sb ? { container: d.sb.id, name: d.net.name, type: d.net.driver } : { name: d.net.name, type: d.net.driver };
  return { Type: 'network', Action: d.action, Actor: { ID: d.net.id, Attributes }, scope: 'local', time: Number(timeNano / 1_000_000_000n), timeNano };
}

/** One event as a line of JSON (timeNano exact: it does not fit a double). */
export function serializeEvent(m: EventMessage): string {
  const { timeNano, ...rest } = m;
  return `${JSON.stringify(rest).slice(0, -1)},"timeNano":${timeNano}}\n`;
}

// ---------------------------------------------------------------- the log

/** Nanoseconds since the epoch: the wall clock at start, advanced by the monotonic clock, never repeating. */
export function nanoClock(): () => bigint {
  const base = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  let last = 0n;
  return () => {
    let t = base + process.hrtime.bigint();
    if (t <= last) t = last + 1n;
    last = t;
    return t;
  };
}

export class EventLog {
  private readonly ring: RecordedEvent[] = [];
  private readonly subs = new Set<(e: RecordedEvent) => void>();

  constructor(
    readonly capacity = EVENT_BUFFER,
    readonly now: () => bigint = nanoClock(),
  ) {}

  /** The events, stamped now (not yet kept: see publish). */
  stamp(drafts: readonly EventDraft[]): RecordedEvent[] {
    return drafts.map((d) => ({ msg: toMessage(d, this.now()), labels: { ...d.net.labels }, ...(d.sb ? { sandboxName: d.sb.name } : {}) }));
  }

  /** Keep stamped events (the oldest beyond capacity go), and hand them to every subscriber. */
  publish(events: readonly RecordedEvent[]): void {
    for (const e of events) {
      this.ring.push(e);
      if (this.ring.length > this.capacity) this.ring.shift();
      for (const fn of [...this.subs]) fn(e);
    }
  }

  /**
   * Kept events between since and until (nanoseconds, both inclusive), oldest first. As
   * Docker: with neither, none (the client asked only for live events).
   */
  past(since?: bigint, until?: bigint): RecordedEvent[] {
    if (since === undefined && until === undefined) return [];
    return this.ring.filter((e) => (since === undefined || e.msg.timeNano >= since) && (until === undefined || e.msg.timeNano <= until));
  }

  subscribe(fn: (e: RecordedEvent) => void): () => void {
    this.subs.add(fn);
    return () => {
      this.subs.delete(fn);
    };
  }

  /** Live subscribers now (one per open stream). */
  get subscribers(): number {
    return this.subs.size;
  }

  get size(): number {
    return this.ring.length;
  }
}

/** Records a change's events once it has committed (see the file's comment). */
export function eventsParticipant(log: EventLog): Participant {
  return {
    name: 'events',
    apply(change, ctx) {
      const drafts = eventsOf(change, ctx.before, ctx.after);
      if (!drafts.length) return;
      // Stamped now, inside the change (so a client's `until` taken after its answer covers
      // it); kept and sent when the mutation in flight has settled, unless it was undone.
      const events = log.stamp(drafts);
      let undone = false;
      void ctx.serial(async () => {
        if (!undone) log.publish(events);
      });
      return () => {
        undone = true;
      };
    },
  };
}

// ---------------------------------------------------------------- since and until

const GO_DURATION = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const GO_UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 };
const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?([zZ]|[+-]\d{2}:\d{2})?$/;

/** A Go duration ("10m", "1h30m", "1.5s") in nanoseconds. */
function goDurationNs(v: string): bigint {
  const sign = v.startsWith('-') ? -1n : 1n;
  let ns = 0;
  for (const m of v.replace(/^[-+]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) ns += Number(m[1]) * GO_UNIT_NS[m[2]!]!;
  return sign * BigInt(Math.round(ns));
}

/**
 * `since` / `until` in nanoseconds since the epoch, or undefined when absent. Docker's
 * daemon takes unix seconds with optional fraction (`1700000000`, `1700000000.5`, what the
 * docker CLI sends); the CLI also takes dates (RFC 3339 with or without fraction, zone,
 * seconds or time; local time without a zone) and Go durations before now (`10m`), and so
 * does this daemon, so SDKs and curl can send them too.
 */
export function parseEventTime(value: string | undefined, field: 'since' | 'until', now: bigint): bigint | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.trim();
  const num = /^(-?\d+)(?:\.(\d*))?$/.exec(v);
  if (num) return BigInt(num[1]!) * 1_000_000_000n + (num[1]!.startsWith('-') ? -1n : 1n) * BigInt((num[2] ?? '').padEnd(9, '0').slice(0, 9));
  if (GO_DURATION.test(v)) return now - goDurationNs(v);
  const d = DATE.exec(v);
  if (d) {
    const [y, mo, da, h = '0', mi = '0', s = '0'] = d.slice(1, 7).map((x) => x ?? '0') as string[];
    const parts = [Number(y), Number(mo) - 1, Number(da), Number(h), Number(mi), Number(s)] as const;
    const zone = d[8];
    const local = new Date(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]);
    let ms: number;
    if (zone === undefined) ms = local.getTime();
    else {
      const off = /^[zZ]$/.test(zone) ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
      ms = Date.UTC(...parts) - off * 60_000;
    }
    // Out-of-range fields (month 13, hour 25) roll over in Date: refuse them instead.
    const u = new Date(Date.UTC(...parts));
    const valid = u.getUTCFullYear() === parts[0] && u.getUTCMonth() === parts[1] && u.getUTCDate() === parts[2] && u.getUTCHours() === parts[3] && u.getUTCMinutes() === parts[4] && u.getUTCSeconds() === parts[5];
    if (valid && Number.isFinite(ms)) return BigInt(ms) * 1_000_000n + BigInt((d[7] ?? '').padEnd(9, '0'));
  }
  throw new YardError('INVALID_ARGUMENT', `${field}=${JSON.stringify(value)} is not a timestamp, date or duration`, {
    field,
    hint: 'use unix seconds (1700000000 or 1700000000.000000001), an RFC 3339 date (2024-05-01T10:00:00Z) or a duration before now (10m, 1h30m)',
  });
}

// ---------------------------------------------------------------- filters

/** Docker's event filter keys. Only these are accepted: a misspelt key is refused rather than ignored. */
export const EVENT_FILTERS = ['config', 'container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'secret', 'service', 'type', 'volume'] as const;

export function checkEventFilters(f: Map<string, string[]>): void {
  for (const k of f.keys()) {
    if (!(EVENT_FILTERS as readonly string[]).includes(k)) {
      throw new YardError('INVALID_ARGUMENT', `invalid filter '${k}'`, { field: 'filters', hint: `use one of ${EVENT_FILTERS.join(', ')}` });
    }
  }
}

/**
 * Docker's rules (daemon/events filter): values of one key are alternatives, keys must all
 * match. `type`, `event`, `scope`, `image`: exact. `network` and the other object keys
 * (daemon, plugin, volume, node, service, secret, config): the network's ID or name, whole
 * or a prefix, as Docker compares them with a network event's actor. `container`: the
 * sandbox of a connect or disconnect, by ID or name (whole or a prefix). `label`: every
 * `key` or `key=value` among the event's attributes and the network's labels.
 */
export function eventMatches(f: Map<string, string[]>, e: RecordedEvent): boolean {
  const { msg } = e;
  const fuzzy = (vals: string[], ...sources: (string | undefined)[]) => vals.some((v) => sources.some((s) => s !== undefined && (s === v || s.startsWith(v))));
  for (const [k, vals] of f) {
    if (!vals.length) continue;
    let ok: boolean;
    switch (k) {
      case 'type':
        ok = vals.includes(msg.Type);
        break;
      case 'event':
        ok = vals.includes(msg.Action);
        break;
      case 'scope':
        ok = vals.includes(msg.scope);
        break;
      case 'image':
        ok = vals.includes(msg.Actor.ID);
        break;
      case 'container':
        ok = msg.Actor.Attributes.container !== undefined && fuzzy(vals, msg.Actor.Attributes.container, e.sandboxName);
        break;
      case 'label': {
        const all: Record<string, string> = { ...e.labels, ...msg.Actor.Attributes };
        ok = vals.every((v) => {
          const i = v.indexOf('=');
          return i < 0 ? v in all : all[v.slice(0, i)] === v.slice(i + 1);
        });
        break;
      }
      default:
        ok = fuzzy(vals, msg.Actor.ID, msg.Actor.Attributes.name);
    }
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------- the route

const MAX_TIMER_MS = 2 ** 30;

/** The events answer: past events, then live ones until `until` or until the client goes. */
export async function eventsResponse(c: Context, log: EventLog, settled: () => Promise<void>): Promise<Response> {
  const f = parseFilters(c.req.query('filters'));
  checkEventFilters(f);
  const now = log.now();
  const sinceRaw = c.req.query('since');
  const untilRaw = c.req.query('until');
  const since = parseEventTime(sinceRaw, 'since', now);
  const until = parseEventTime(untilRaw, 'until', now);
  if (until !== undefined && since !== undefined && until < since) {
    throw new YardError('INVALID_ARGUMENT', `\`since\` time (${sinceRaw}) cannot be after \`until\` time (${untilRaw})`, { field: 'since', hint: 'give a since before until' });
  }
  // The changes queued before this request have settled and their events are kept.
  await settled();
  const enc = new TextEncoder();
  const past = log.past(since, until).filter((e) => eventMatches(f, e));
  const signal = c.req.raw.signal;
  let cleanup = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const e of past) ctrl.enqueue(enc.encode(serializeEvent(e.msg)));
      if (until !== undefined && until < now) {
        ctrl.close();
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const end = () => {
        cleanup();
        try {
          ctrl.close();
        } catch {
          /* already closed or cancelled */
        }
      };
      const unsubscribe = log.subscribe((e) => {
        if (until !== undefined && e.msg.timeNano > until) return end();
        if (!eventMatches(f, e)) return;
        // A client that stops reading is let go rather than buffered for without end.
        if ((ctrl.desiredSize ?? 0) < -MAX_QUEUED) return end();
        ctrl.enqueue(enc.encode(serializeEvent(e.msg)));
      });
      // Until a time to come: stream, and end at that time (long waits in steps a timer can hold).
      const arm = () => {
        const left = Number((until! - log.now()) / 1_000_000n);
        if (left <= 0) return end();
        timer = setTimeout(arm, Math.min(left + 1, MAX_TIMER_MS));
      };
      const onAbort = () => end();
      cleanup = () => {
        unsubscribe();
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (until !== undefined) arm();
      if (signal?.aborted) return end();
      signal?.addEventListener('abort', onAbort, { once: true });
    },
    cancel() {
      cleanup();
    },
  }, { highWaterMark: 0 });
  return c.body(body, 200, { 'Content-Type': 'application/json' });
}

/** An engine's event log: made, and its participant added, on first use. */
const logs = new WeakMap<object, EventLog>();
export function eventLogOf(engine: { addParticipant(p: Participant): void }): EventLog {
  let log = logs.get(engine);
  if (!log) {
    log = new EventLog();
    engine.addParticipant(eventsParticipant(log));
    logs.set(engine, log);
  }
  return log;
}

/** `GET /events` (and `/v1.xx/events`): Docker's network events. */
export function mountEvents(app: Hono, engine: { addParticipant(p: Participant): void; serial<T>(fn: () => Promise<T>): Promise<T> }): void {
  const log = eventLogOf(engine);
  app.get('/events', (c) => eventsResponse(c, log, () => engine.serial(async () => {})));
}
