import { describe, expect, it } from 'vitest';
import { mappingsClash, type PortMapping, type PortProto } from '../model/ports.js';
import { PortIndex, PublishedPorts } from './port-index.js';
import type { SandboxRecord } from '../model/types.js';

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const IPS = ['', '0.0.0.0', '::', '127.0.0.1', '10.0.0.1', 'fd00::1'];
const PROTOS: PortProto[] = ['tcp', 'udp'];

describe('PortIndex agrees with the pairwise rule (mappingsClash) on random cases', () => {
  it('clash and firstFree, 100 random worlds over a small port space', () => {
    const r = rng(42);
    const pick = <T,>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
    for (let world = 0; world < 100; world++) {
      const index = new PortIndex();
      const held: PortMapping[] = [];
      for (let step = 0; step < 40; step++) {
        const len = r() < 0.7 ? 0 : Math.floor(r() * 4);
        const hostPort = 100 + Math.floor(r() * 40);
        const m: PortMapping = { proto: pick(PROTOS), hostIp: pick(IPS), hostPort, hostPortEnd: hostPort + len, containerPort: 1, containerPortEnd: 1 + len };
        const naive = held.find((h) => mappingsClash(h, m));
        const found = index.clash(m);
        expect(!!found, JSON.stringify({ world, step, m })).toBe(!!naive);
        if (found) expect(mappingsClash(found.m, m)).toBe(true);
        // First free window of len+1 ports starting in 100..130, by brute force.
        const lo = 100 + Math.floor(r() * 10);
        const hi = 130;
        let want = 0;
        for (let p = lo; p <= hi && !want; p++) if (!held.some((h) => mappingsClash(h, { ...m, hostPort: p, hostPortEnd: p + len }))) want = p;
        expect(index.firstFree(m.hostIp, m.proto, lo, hi, len), JSON.stringify({ world, step, lo, len })).toBe(want);
        // Now and then a sandbox goes away and gives its ports back.
        if (held.length && r() < 0.15) {
          const gone = held.splice(Math.floor(r() * held.length), 1)[0]!;
          index.remove(gone, 'x');
          continue;
        }
        if (!naive) {
          held.push(m);
          index.add(m, 'x');
        } else if (want) {
          const chosen = { ...m, hostPort: want, hostPortEnd: want + len };
          held.push(chosen);
          index.add(chosen, 'x');
        }
      }
    }
  });
});

describe('PublishedPorts', () => {
  const mapping = (hostPort: number, n = 1): PortMapping => ({ proto: 'tcp', hostIp: '', hostPort, hostPortEnd: hostPort + n - 1, containerPort: hostPort, containerPortEnd: hostPort + n - 1 });
  const sb = (id: string, ports: PortMapping[]) => ({ id, name: id, endpoints: {}, ports }) as unknown as SandboxRecord;
  const state = (...sbs: SandboxRecord[]) => new Map(sbs.map((s) => [s.id, s]));

  it('follows the state it is given, re-indexing only what changed, and never holds the sandbox being checked', () => {
    const pp = new PublishedPorts();
    const a = sb('a', [mapping(20000, 10_000)]);
    const b = sb('b', [mapping(8000)]);
    let ix = pp.sync(state(a, b), 'new');
    expect(ix.clash(mapping(25000))?.owner).toBe('a');
    expect(ix.clash(mapping(8000))?.owner).toBe('b');
    expect(ix.clash(mapping(9000))).toBeUndefined(); // positive control: a free port
    // b's ports changed (a new record), a is gone: the index follows.
    const b2 = sb('b', [mapping(9000)]);
    ix = pp.sync(state(b2), 'new');
    expect(ix.clash(mapping(25000))).toBeUndefined();
    expect(ix.clash(mapping(8000))).toBeUndefined();
    expect(ix.clash(mapping(9000))?.owner).toBe('b');
    // The sandbox being checked: its old ports are not held against it.
    expect(pp.sync(state(b2), 'b').clash(mapping(9000))).toBeUndefined();
    // Checked and added, then stored: still held; checked but never stored: dropped.
    const c = sb('c', [mapping(7000)]);
    ix = pp.sync(state(b2), 'c');
    ix.add(c.ports![0]!, 'c');
    pp.checked(c);
    expect(pp.sync(state(b2, c), 'x').clash(mapping(7000))?.owner).toBe('c');
    expect(pp.sync(state(b2), 'x').clash(mapping(7000))).toBeUndefined();
  });
});
