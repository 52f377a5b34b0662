/**
 * kill -9 at random points inside every kind of operation, then a restart and a full leak
 * check (test/lab/leaks.ts): the kernel, nftables, IPAM (local and in etcd), DNS, the
 * daemon's sockets and the sandboxes' processes agree with the state after reconcile, an
 * operation the API acknowledged survives the crash, and the host still works.
 *
 * Each kind is timed once uninterrupted (the daemon's time for it through the API); each
 * kill then lands at a delay drawn uniformly from 0 to 1.2 times that, with a seeded RNG (the
 * seed is printed; YARD_CRASH_SEED=<seed> replays a run). Kinds take turns, so a time
 * budget that ends the rounds early still covers every kind.
 */
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/daemon-client.js';
import { restartDaemon } from '../../src/lab/lab.js';
import { findLeaks, proveWorking } from './leaks.js';
import { eventually, pidAlive, withLab } from './helpers.js';

const lab = withLab('crash', 1, { cluster: true });
const h = () => lab.host(1);
const client = () => new DaemonClient({ socket: h().socket, timeoutMs: 30_000 });

// Kills per kind: ROUNDS on a quiet machine (about 100 s in all); on a loaded one the
// budget ends the rounds after MIN_ROUNDS, and the hard limit ends them in any case (then
// at least FLOOR_ROUNDS must have completed).
const ROUNDS = 5;
const MIN_ROUNDS = 3;
const FLOOR_ROUNDS = 2;
const BUDGET_MS = 70_000;
const HARD_LIMIT_MS = 140_000;

/** mulberry32: small, seedable, good enough to spread kill points. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sb {
  Name: string;
  NetworkSettings: { Networks: Record<string, unknown> };
}
const sandboxNames = async () => (await client().get<Sb[]>('/yard/v1/sandboxes?all=1')).map((s) => s.Name.replace(/^\//, ''));
const networkNames = async () => (await client().get<{ Name: string }[]>('/networks')).map((n) => n.Name);
const networksOf = async (sb: string) => Object.keys((await client().get<Sb>(`/yard/v1/sandboxes/${sb}`)).NetworkSettings.Networks);
const run = (name: string, networks: string[], extra: Record<string, unknown> = {}) =>
  client().post('/yard/v1/sandboxes', { name, networks: networks.map((network) => ({ network })), command: ['sleep', '600'], detached: true, start: true, ...extra });
const quietly = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch {
    /* cleanup of something that may not exist */
  }
};

interface Kind {
  name: string;
  /** Untimed preparation for iteration i (the daemon is up). */
  prepare(i: number): Promise<void>;
  /** The operation under test, through the API. */
  op(i: number): Promise<unknown>;
  /** Whether its effect is visible (after the restart). */
  applied(i: number): Promise<boolean>;
  /** Sandbox names it may have created or removed (each must resolve only if it is in state). */
  names(i: number): string[];
  /** Remove what the iteration left, so the state stays small. */
  cleanup(i: number): Promise<void>;
}

const KINDS: Kind[] = [
  {
    name: 'network create',
    prepare: async () => {},
    op: (i) => client().post('/networks/create', { Name: `nc${i}`, IPAM: { Config: [{ Subnet: `10.91.${i}.0/24` }] } }),
    applied: async (i) => (await networkNames()).includes(`nc${i}`),
    names: () => [],
    cleanup: (i) => quietly(client().delete(`/networks/nc${i}`)),
  },
  {
    name: 'run -d -p',
    prepare: async () => {},
    op: (i) => run(`rp${i}`, ['base'], { publish: [`${20_000 + i}:80`, `${21_000 + i}:53/udp`] }),
    applied: async (i) => (await sandboxNames()).includes(`rp${i}`),
    names: (i) => [`rp${i}`],
    cleanup: (i) => quietly(client().delete(`/yard/v1/sandboxes/rp${i}?force=1`)),
  },
  {
    name: 'connect',
    prepare: async (i) => void (await run(`cn${i}`, ['base'], { publish: [`${22_000 + i}:80`] })),
    op: (i) => client().post('/networks/side/connect', { Container: `cn${i}` }),
    applied: async (i) => (await networksOf(`cn${i}`)).includes('side'),
    names: (i) => [`cn${i}`],
    cleanup: (i) => quietly(client().delete(`/yard/v1/sandboxes/cn${i}?force=1`)),
  },
  {
    name: 'disconnect',
    prepare: async (i) => void (await run(`dc${i}`, ['base', 'side'])),
    op: (i) => client().post('/networks/side/disconnect', { Container: `dc${i}` }),
    applied: async (i) => !(await networksOf(`dc${i}`)).includes('side'),
    names: (i) => [`dc${i}`],
    cleanup: (i) => quietly(client().delete(`/yard/v1/sandboxes/dc${i}?force=1`)),
  },
  {
    name: 'rm -f',
    prepare: async (i) => void (await run(`rm${i}`, ['base', 'side'], { publish: [`${23_000 + i}:80`] })),
    op: (i) => client().delete(`/yard/v1/sandboxes/rm${i}?force=1`),
    applied: async (i) => !(await sandboxNames()).includes(`rm${i}`),
    names: (i) => [`rm${i}`],
    cleanup: (i) => quietly(client().delete(`/yard/v1/sandboxes/rm${i}?force=1`)),
  },
  {
    name: 'network rm',
    prepare: async (i) => void (await client().post('/networks/create', { Name: `nr${i}`, IPAM: { Config: [{ Subnet: `10.92.${i}.0/24` }] } })),
    op: (i) => client().delete(`/networks/nr${i}`),
    applied: async (i) => !(await networkNames()).includes(`nr${i}`),
    names: () => [],
    cleanup: (i) => quietly(client().delete(`/networks/nr${i}`)),
  },
  {
    name: 'overlay network create',
    prepare: async () => {},
    op: (i) => client().post('/networks/create', { Name: `ov${i}`, Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: `10.250.${i}.0/24` }] } }),
    applied: async (i) => (await networkNames()).includes(`ov${i}`),
    names: () => [],
    // A create the kill interrupted after etcd took it is adopted once the agent rejoins.
    cleanup: (i) => quietly(client().delete(`/networks/ov${i}`)),
  },
  {
    name: 'run on overlay',
    prepare: async () => {},
    op: (i) => run(`ovs${i}`, ['ovbase']),
    applied: async (i) => (await sandboxNames()).includes(`ovs${i}`),
    names: (i) => [`ovs${i}`],
    cleanup: (i) => quietly(client().delete(`/yard/v1/sandboxes/ovs${i}?force=1`)),
  },
];

async function killDaemon(): Promise<void> {
  const pid = h().daemonPid!;
  process.kill(pid, 'SIGKILL');
  expect(await eventually(async () => !pidAlive(pid), { timeoutMs: 3_000, intervalMs: 10, tries: 300 }), `daemon ${pid} gone`).toBe(true);
}

/**
 * The leak check, given a few seconds to converge (the overlay agent rejoins etcd after the
 * API is up). Leaks already reported (`known`) are not waited for again: one persistent
 * leak must not slow every later check down.
 */
async function leaksAfter(context: string, goneNames: string[], known: Set<string>): Promise<string[]> {
  let fresh: string[] = [];
  await eventually(
    async () => {
      fresh = (await findLeaks(lab.info, h(), { goneNames })).leaks.filter((l) => !known.has(l));
      return fresh.length === 0;
    },
    { timeoutMs: 5_000, intervalMs: 500, tries: 10 },
  );
  for (const l of fresh) known.add(l);
  return fresh.map((l) => `${context}: ${l}`);
}

describe('kill -9 inside every kind of operation', () => {
  it('restarts without leaks after each kill, keeps what was acknowledged, and still works', async () => {
    const seed = Number(process.env.YARD_CRASH_SEED) || Date.now() % 1_000_000_007;
    const random = rng(seed);
    console.log(`crash test seed ${seed} (replay with YARD_CRASH_SEED=${seed})`);

    await client().post('/networks/create', { Name: 'base', IPAM: { Config: [{ Subnet: '10.90.0.0/24' }] } });
    await client().post('/networks/create', { Name: 'side', IPAM: { Config: [{ Subnet: '10.89.0.0/24' }] } });
    await run('anchor', ['base']);
    await run('peer', ['base', 'side'], { publish: ['8080:80'] });
    await client().post('/networks/create', { Name: 'ovbase', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: '10.249.0.0/24' }] } });
    await run('ovpeer', ['ovbase']);

    // Each kind once, uninterrupted: its duration, and a check that it works at all.
    const duration = new Map<string, number>();
    for (const k of KINDS) {
      await k.prepare(0);
      const t0 = performance.now();
      await k.op(0);
      duration.set(k.name, performance.now() - t0);
      expect(await k.applied(0), `${k.name} applied without a kill`).toBe(true);
      expect(await findLeaks(lab.info, h(), { goneNames: k.names(0) }).then((r) => r.leaks), `${k.name} without a kill`).toEqual([]);
      await k.cleanup(0);
    }

    const stats = new Map(KINDS.map((k) => [k.name, { kills: 0, acked: 0, applied: 0, rolledBack: 0, delays: [] as number[] }]));
    const allLeaks: string[] = [];
    const reconcileErrors: string[] = [];
    const attempted: string[] = [];
    const known = new Set<string>();
    const t0 = Date.now();
    let i = 0;
    let rounds = 0;
    // Bounded in time: the rounds stop at the budget (after MIN_ROUNDS), and at the hard
    // limit whatever happens, so the summary is always printed.
    const over = () => Date.now() - t0 > HARD_LIMIT_MS;
    for (; rounds < ROUNDS && !over() && (rounds < MIN_ROUNDS || Date.now() - t0 < BUDGET_MS); rounds++) {
      for (const k of KINDS) {
        if (over()) break;
        i++;
        const s = stats.get(k.name)!;
        await k.prepare(i);
        // Mostly inside the operation; the last sixth lands just after it returned, where an
        // acknowledged operation must survive the kill.
        const delay = random() * 1.2 * duration.get(k.name)!;
        let acked = false;
        const op = k.op(i).then(
          () => (acked = true),
          () => {},
        );
        await new Promise((r) => setTimeout(r, delay));
        await killDaemon();
        await op;
        await restartDaemon(lab.info, h());
        s.kills++;
        s.delays.push(Math.round(delay));
        const context = `${k.name} #${i}, killed after ${delay.toFixed(1)} of ${duration.get(k.name)!.toFixed(1)} ms`;
        const info = await client().get<{ reconcile: { errors: string[] } }>('/yard/v1/info');
        reconcileErrors.push(...info.reconcile.errors.map((e) => `${context}: reconcile: ${e}`));
        const applied = await k.applied(i);
        if (acked) s.acked++;
        if (applied) s.applied++;
        else s.rolledBack++;
        if (acked && !applied) allLeaks.push(`${context}: acknowledged by the API, but gone after the restart`);
        attempted.push(...k.names(i));
        allLeaks.push(...(await leaksAfter(context, k.names(i), known)));
        await k.cleanup(i);
      }
      // Positive control once a round: a new sandbox runs and reaches a peer by address and name.
      await proveWorking(h(), 'base', 'anchor', `probe${rounds}`);
      await proveWorking(h(), 'ovbase', 'ovpeer', `ovprobe${rounds}`);
    }
    allLeaks.push(...(await leaksAfter('at the end', attempted, known)));

    const kills = [...stats.values()].reduce((n, s) => n + s.kills, 0);
    console.log(
      [
        `crash test: seed ${seed}, ${rounds} rounds, ${kills} kills in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${allLeaks.length} leak(s), ${reconcileErrors.length} reconcile error(s)`,
        ...KINDS.map((k) => {
          const s = stats.get(k.name)!;
          return `  ${k.name.padEnd(22)} ${duration.get(k.name)!.toFixed(0).padStart(4)} ms  kills ${s.kills}  acknowledged ${s.acked}  applied ${s.applied}  rolled back ${s.rolledBack}  delays ${s.delays.join(',')} ms`;
        }),
        ...allLeaks.map((l) => `  LEAK ${l}`),
        ...reconcileErrors.map((l) => `  ERROR ${l}`),
      ].join('\n'),
    );
    expect(allLeaks).toEqual([]);
    expect(reconcileErrors).toEqual([]);
    expect(Math.min(...[...stats.values()].map((s) => s.kills)), 'kills of each kind within the time limit').toBeGreaterThanOrEqual(FLOOR_ROUNDS);
    // Positive control at the end, on the same host.
    await proveWorking(h(), 'base', 'peer', 'probe-end');
  }, 240_000);
});
