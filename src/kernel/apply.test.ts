import { describe, expect, it } from 'vitest';
import type { Plan } from '../plan/ops.js';
import { unitsOf } from './apply.js';

const shape = (plan: Plan, netlink = true) => unitsOf(plan, netlink).map((u) => ({ ops: u.ops.map((o) => o.op), after: u.after }));

// A connect on a bridge: the veth as a port, its host end set up, the sandbox's end addressed and up.
const connect: Plan = [
  { op: 'link.add.veth', name: 'yv1', peerName: 'eth1', peerNs: 'sb', master: 'br-a', queues: 1 },
  { op: 'link.set', name: 'yv1', addrGenMode: 'none', hairpin: true },
  { op: 'link.set', name: 'yv1', up: true },
  { op: 'addr.add', ns: 'sb', dev: 'eth1', cidr: '10.1.0.2/24' },
  { op: 'link.set', ns: 'sb', name: 'eth1', up: true },
];

describe('a plan as sends', () => {
  it('sends a made link\'s settings together, and the two ends of a veth side by side once it is made', () => {
    expect(shape(connect)).toEqual([
      { ops: ['link.add.veth'], after: [] },
      { ops: ['link.set', 'link.set'], after: [0] },
      { ops: ['addr.add', 'link.set'], after: [0] },
    ]);
  });

  it('never sends an op with the create before it: a refused create would leave it a link of the same name someone else made', () => {
    const u = shape([
      { op: 'link.add.bridge', name: 'br0' },
      { op: 'link.set', name: 'br0', up: true },
      { op: 'link.set', name: 'br0', alias: 'x' },
    ]);
    expect(u).toEqual([
      { ops: ['link.add.bridge'], after: [] },
      { ops: ['link.set', 'link.set'], after: [0] },
    ]);
  });

  it('sends nothing after a create in its send, even a change to a link made before', () => {
    const u = shape([
      { op: 'link.add.bridge', name: 'br0' },
      { op: 'link.add.veth', name: 'v0', peerName: 'e0' },
      { op: 'link.set', name: 'br0', up: true },
    ]);
    expect(u.map((x) => x.ops)).toEqual([['link.add.bridge'], ['link.add.veth'], ['link.set']]);
  });

  it('sends apart what changes a link the plan did not make, a rename, and what follows a rename', () => {
    const u = shape([
      { op: 'link.add.veth', name: 'v0', peerName: 'e0' },
      { op: 'link.set', name: 'lo', up: true },
      { op: 'link.set', name: 'v0', up: true },
      { op: 'link.set', name: 'e0', newName: 'eth0' },
      { op: 'link.set', name: 'eth0', up: true },
      { op: 'route.add', dst: 'default', via: '10.0.0.1' },
    ]);
    // v0's up may follow lo's in one send (it changes only a link the plan made); the renamed link is not the one made.
    expect(u.map((x) => x.ops)).toEqual([['link.add.veth'], ['link.set', 'link.set'], ['link.set'], ['link.set'], ['route.add']]);
    // All in one namespace: one after the other.
    expect(u.map((x) => x.after)).toEqual([[], [0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]);
  });

  it('waits for namespace and process ops, and everything after them waits for them', () => {
    const u = shape([
      { op: 'netns.add', name: 'sb' },
      { op: 'link.add.veth', name: 'v0', peerName: 'eth0', peerNs: 'sb' },
      { op: 'sysctl.set', ns: 'sb', key: 'net.ipv6.conf.eth0.disable_ipv6', value: '0' },
      { op: 'addr.add', ns: 'sb', dev: 'eth0', cidr: '10.1.0.2/24' },
      { op: 'link.add.macvlan', ns: 'sb', name: 'm0', parent: 'eth0', mode: 'bridge' },
      { op: 'link.set', name: 'v0', up: true },
    ]);
    // The last waits for the macvlan's ip process, which waited for the address before it.
    expect(u.map((x) => x.after)).toEqual([[], [0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 4]]);
  });

  it('keeps each namespace in order and waits across namespaces only for a link both name', () => {
    const u = shape([
      { op: 'link.set', ns: 'a', name: 'x', up: true },
      { op: 'link.set', ns: 'b', name: 'y', up: true },
      { op: 'link.set', ns: 'a', name: 'z', up: true },
    ]);
    expect(u.map((x) => x.after)).toEqual([[], [], [0]]);
  });

  it('without rtnetlink: consecutive ops of a namespace in one ip batch, one after the other', () => {
    const u = shape(connect, false);
    expect(u).toEqual([
      { ops: ['link.add.veth', 'link.set', 'link.set'], after: [] },
      { ops: ['addr.add', 'link.set'], after: [0] },
    ]);
  });
});
