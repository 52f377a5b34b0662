import { describe, expect, it } from 'vitest';
import {
  Budget,
  dnsTcpLimits,
  SHED_IDLE_MIN_MS,
  TCP_IDLE_MS,
  TCP_LIFETIME_MS,
  TCP_MESSAGE_MS,
  TcpPool,
  type CloseReason,
  type TcpEntry,
} from './tcp-pool.js';

/** A pool over a hand-driven clock, recording which connection was closed and why. */
function setup(max: number, perOwner = 1000) {
  let t = 0;
  const closed: [string, CloseReason][] = [];
  const counts = { shed: 0, timedOut: 0 };
  const pool = new TcpPool(max, perOwner, { shed: () => counts.shed++, timedOut: () => counts.timedOut++ }, () => t, false);
  const open = (owner: string, name: string): TcpEntry => pool.admit(owner, (why) => closed.push([name, why]));
  return { pool, open, closed, counts, advance: (ms: number) => (t += ms) };
}

describe('dnsTcpLimits', () => {
  it('keeps DNS over TCP to 5/16 of the descriptor limit, within fixed bounds', () => {
    expect(dnsTcpLimits(1024)).toEqual({ nofile: 1024, tcpMax: 256, upstreamTcpMax: 64 });
    expect(dnsTcpLimits(20_000)).toEqual({ nofile: 20_000, tcpMax: 4096, upstreamTcpMax: 1024 });
    expect(dnsTcpLimits(1_048_576)).toMatchObject({ tcpMax: 4096, upstreamTcpMax: 1024 });
    expect(dnsTcpLimits(Infinity)).toMatchObject({ nofile: 1024, tcpMax: 256 });
    expect(dnsTcpLimits(32)).toMatchObject({ tcpMax: 16, upstreamTcpMax: 8 });
    for (const n of [1024, 2048, 4096, 20_000, 65_536]) {
      const l = dnsTcpLimits(n);
      expect(l.tcpMax + l.upstreamTcpMax).toBeLessThanOrEqual((n * 5) / 16);
    }
  });
});

describe('TcpPool', () => {
  it('at the total cap sheds the oldest connection, not the new one, and counts it', () => {
    const { pool, open, closed, counts } = setup(3);
    for (const n of ['a', 'b', 'c']) pool.update(open(n, n), 'continues', 0); // all busy: a message arriving
    expect(closed).toEqual([]);
    open('d', 'd');
    expect(closed).toEqual([['a', 'shed']]);
    expect(pool.size).toBe(3);
    expect(counts.shed).toBe(1);
  });

  it('sheds the longest-idle connection before the oldest busy one, but never a just-opened one first', () => {
    const { pool, open, closed, advance } = setup(3);
    const a = open('s1', 'a');
    pool.update(a, 'continues', 0); // a trickler: busy
    advance(100);
    open('s2', 'b'); // idle since it opened
    advance(100);
    const c = open('s3', 'c');
    pool.update(c, 'none', 1); // waiting for an upstream answer: busy
    advance(SHED_IDLE_MIN_MS);
    open('s4', 'd');
    expect(closed).toEqual([['b', 'shed']]); // idle for 600 ms: first to go
    advance(10);
    open('s5', 'e');
    // d is idle but only 10 ms old: the oldest connection (a, busy) goes instead.
    expect(closed).toEqual([['b', 'shed'], ['a', 'shed']]);
  });

  it('caps each sandbox, shedding within that sandbox only', () => {
    const { pool, open, closed } = setup(100, 2);
    open('x', 'x1');
    open('y', 'y1');
    open('x', 'x2');
    open('x', 'x3');
    expect(closed).toEqual([['x1', 'shed']]);
    expect(pool.sizeOf('x')).toBe(2);
    expect(pool.sizeOf('y')).toBe(1);
  });

  it('closes a connection at 10 s of life even though it keeps asking', () => {
    const { pool, open, closed, counts, advance } = setup(10);
    const e = open('s', 'chatty');
    for (let t = 0; t < TCP_LIFETIME_MS - 1000; t += 1000) {
      advance(1000);
      pool.update(e, 'none', 0); // one complete query per second, answered
      pool.sweep();
    }
    expect(closed).toEqual([]);
    advance(1000);
    pool.sweep();
    expect(closed).toEqual([['chatty', 'lifetime']]);
    expect(counts.timedOut).toBe(1);
    expect(pool.size).toBe(0);
  });

  it('gives a message 2 s from its first byte: trickled bytes do not extend it', () => {
    const { pool, open, closed, advance } = setup(10);
    const e = open('s', 'trickle');
    pool.update(e, 'continues', 0); // first byte
    for (let i = 0; i < 3; i++) {
      advance(TCP_MESSAGE_MS / 2 - 1);
      pool.update(e, 'continues', 0); // one more byte, still incomplete
      pool.sweep();
    }
    expect(closed).toEqual([['trickle', 'message']]);
  });

  it('restarts the message deadline when a message completed and the next one began', () => {
    const { pool, open, closed, advance } = setup(10);
    const e = open('s', 'pipelined');
    pool.update(e, 'continues', 0);
    advance(TCP_MESSAGE_MS - 100);
    pool.update(e, 'started', 0); // the first message completed; a second one began in the same chunk
    advance(TCP_MESSAGE_MS - 100);
    pool.sweep();
    expect(closed).toEqual([]);
    advance(200);
    pool.sweep();
    expect(closed).toEqual([['pipelined', 'message']]);
  });

  it('closes an idle connection after 5 s, but not one waiting for an answer', () => {
    const { pool, open, closed, advance } = setup(10);
    open('s', 'silent');
    const w = open('s', 'waiting');
    pool.update(w, 'none', 1);
    advance(TCP_IDLE_MS);
    pool.sweep();
    expect(closed).toEqual([['silent', 'idle']]);
  });

  it('follows a lower cap: the next connection sheds down to it', () => {
    const { pool, open, closed } = setup(4);
    for (const n of ['a', 'b', 'c', 'd']) pool.update(open('s', n), 'continues', 0);
    let refreshed = 0;
    pool.refresh = () => {
      refreshed++;
      pool.max = 2;
    };
    open('s', 'e');
    expect(refreshed).toBe(1);
    expect(closed).toEqual([['a', 'shed'], ['b', 'shed'], ['c', 'shed']]);
    expect(pool.size).toBe(2);
    open('s', 'f'); // within a second of the last look: no refresh
    expect(refreshed).toBe(1);
  });

  it('forgets released connections (closed by the client), once', () => {
    const { pool, open, closed } = setup(2);
    const a = open('s', 'a');
    pool.release(a);
    pool.release(a);
    open('s', 'b');
    open('s', 'c');
    expect(closed).toEqual([]);
    expect(pool.size).toBe(2);
    pool.update(a, 'continues', 0); // a late event from a released connection changes nothing
    expect(pool.size).toBe(2);
  });
});

describe('Budget', () => {
  it('hands out at most max units and takes them back', () => {
    const b = new Budget(2);
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false]);
    expect(b.full).toBe(true);
    b.give();
    expect(b.take()).toBe(true);
  });
});
