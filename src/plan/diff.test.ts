import { describe, expect, it } from 'vitest';
import { missingOps, type Observed, type ObservedLink, type ObservedNs } from './diff.js';
import type { Plan } from './ops.js';

// A bridge network plus one sandbox on it, as reconcile would rebuild them.
const plan: Plan = [
  { op: 'link.add.bridge', name: 'br-x', mtu: 1500 },
  { op: 'link.set', name: 'br-x', alias: 'switchyard:h1:abc' },
  { op: 'addr.add', dev: 'br-x', cidr: '10.0.0.1/24' },
  { op: 'link.set', name: 'br-x', up: true },
  { op: 'netns.add', name: 'sb' },
  { op: 'link.set', ns: 'sb', name: 'lo', up: true },
  { op: 'link.add.veth', name: 'yv1', peerName: 'eth0', peerNs: 'sb', mtu: 1500 },
  { op: 'link.set', name: 'yv1', master: 'br-x', up: true },
  { op: 'addr.add', ns: 'sb', dev: 'eth0', cidr: '10.0.0.2/24' },
  { op: 'link.set', ns: 'sb', name: 'eth0', up: true },
  { op: 'route.add', ns: 'sb', dst: 'default', via: '10.0.0.1', dev: 'eth0' },
];

const link = (l: Partial<ObservedLink> = {}): ObservedLink => ({ up: true, mtu: 1500, addrs: [], ...l });

/** The kernel exactly as the plan leaves it; `edit` breaks one part of it. */
function observed(edit: (host: Map<string, ObservedLink>, sb: Map<string, ObservedLink>, all: Map<string, ObservedNs>) => void = () => {}): Observed {
  const host = new Map([
    ['br-x', link({ alias: 'switchyard:h1:abc', addrs: ['10.0.0.1/24'] })],
    ['yv1', link({ master: 'br-x' })],
  ]);
  const sb = new Map([
    ['lo', link()],
    ['eth0', link({ addrs: ['10.0.0.2/24'] })],
  ]);
  const all = new Map<string, ObservedNs>([
    ['', { exists: true, links: host }],
    ['sb', { exists: true, links: sb }],
  ]);
  edit(host, sb, all);
  return all;
}

describe('missingOps', () => {
  it('returns nothing when the kernel has everything', () => {
    expect(missingOps(plan, observed())).toEqual([]);
  });

  it('a missing link brings back its add, its link.set/addr ops and the route of its namespace', () => {
    const missing = missingOps(plan, observed((_h, sb) => sb.delete('eth0')));
    expect(missing).toEqual([
      { op: 'addr.add', ns: 'sb', dev: 'eth0', cidr: '10.0.0.2/24' },
      { op: 'link.set', ns: 'sb', name: 'eth0', up: true },
      { op: 'route.add', ns: 'sb', dst: 'default', via: '10.0.0.1', dev: 'eth0' },
    ]);
  });

  it('a missing host-side veth (both ends gone) re-adds the pair and everything on it', () => {
    const missing = missingOps(
      plan,
      observed((h, sb) => {
        h.delete('yv1');
        sb.delete('eth0');
      }),
    );
    expect(missing.map((o) => o.op)).toEqual(['link.add.veth', 'link.set', 'addr.add', 'link.set', 'route.add']);
    expect(missing).not.toContainEqual(expect.objectContaining({ op: 'link.add.bridge' }));
  });

  it('a missing namespace brings back everything in it', () => {
    const missing = missingOps(
      plan,
      observed((h, _sb, all) => {
        all.set('sb', { exists: false, links: new Map() });
        h.delete('yv1'); // deleting a namespace deletes the veth peer and so the pair
      }),
    );
    expect(missing).toEqual(plan.slice(4));
  });

  it('a bridge missing its address re-adds just the address', () => {
    const missing = missingOps(plan, observed((h) => h.set('br-x', link({ alias: 'switchyard:h1:abc' }))));
    expect(missing).toEqual([{ op: 'addr.add', dev: 'br-x', cidr: '10.0.0.1/24' }]);
  });

  it('detects a wrong master, a link that is down and a wrong alias', () => {
    expect(missingOps(plan, observed((h) => h.set('yv1', link({ master: 'br-other' }))))).toEqual([
      { op: 'link.set', name: 'yv1', master: 'br-x', up: true },
    ]);
    expect(missingOps(plan, observed((h) => h.set('yv1', link({})))).map((o) => o.op)).toEqual(['link.set']);
    expect(missingOps(plan, observed((_h, sb) => sb.set('eth0', link({ up: false, addrs: ['10.0.0.2/24'] }))))).toEqual([
      { op: 'link.set', ns: 'sb', name: 'eth0', up: true },
      { op: 'route.add', ns: 'sb', dst: 'default', via: '10.0.0.1', dev: 'eth0' },
    ]);
    expect(missingOps(plan, observed((h) => h.set('br-x', link({ alias: 'someone-else', addrs: ['10.0.0.1/24'] }))))).toEqual([
      { op: 'link.set', name: 'br-x', alias: 'switchyard:h1:abc' },
    ]);
  });

  it('a bridge port without hairpin mode gets it again, and only that', () => {
    const p: Plan = [...plan.slice(0, 8), { op: 'link.set', name: 'yv1', hairpin: true }, ...plan.slice(8)];
    const on = observed((h) => h.set('yv1', link({ master: 'br-x', hairpin: true })));
    expect(missingOps(p, on)).toEqual([]);
    expect(missingOps(p, observed())).toEqual([{ op: 'link.set', name: 'yv1', hairpin: true }]);
  });

  it('a veth made as a bridge port: found on no bridge, it is put back on its own (not made again)', () => {
    const p: Plan = [
      ...plan.slice(0, 6),
      { op: 'link.add.veth', name: 'yv1', peerName: 'eth0', peerNs: 'sb', mtu: 1500, master: 'br-x' },
      { op: 'link.set', name: 'yv1', addrGenMode: 'none', hairpin: true },
      { op: 'link.set', name: 'yv1', up: true },
      ...plan.slice(8),
    ];
    const asMade = observed((h) => h.set('yv1', link({ master: 'br-x', hairpin: true })));
    expect(missingOps(p, asMade)).toEqual([]);
    const offTheBridge = observed((h) => h.set('yv1', link({ hairpin: true })));
    expect(missingOps(p, offTheBridge)).toEqual([{ op: 'link.set', name: 'yv1', master: 'br-x' }]);
    // Gone altogether: made again, as a port, with everything on it.
    const gone = observed((h, sb) => {
      h.delete('yv1');
      sb.delete('eth0');
    });
    expect(missingOps(p, gone).slice(0, 3)).toEqual(p.slice(6, 9));
  });

  it('a wrong MTU is detected', () => {
    const p: Plan = [{ op: 'link.set', name: 'br-x', mtu: 9000 }];
    expect(missingOps(p, observed())).toEqual(p);
  });
});
