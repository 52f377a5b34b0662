/**
 * The state views handed to participants: one definition of "before" and "after" a change.
 */
import { describe, expect, it } from 'vitest';
import type { EndpointRecord, NetworkRecord, SandboxRecord, State } from '../model/types.js';
import { liveView, viewAfter, viewBefore, type Change } from './participants.js';

const net = (id: string, extra: Partial<NetworkRecord> = {}): NetworkRecord =>
  ({ id, name: `n-${id}`, driver: 'bridge', scope: 'local', created: '', internal: false, attachable: false, ipv6: false, ipam: { driver: 'default', options: {}, config: [] }, options: {}, labels: {}, driverState: {}, ...extra }) as NetworkRecord;
const ep = (id: string, networkId: string): EndpointRecord => ({ id, networkId, ifname: 'eth0', aliases: [], order: 0 });
const sb = (id: string, eps: EndpointRecord[] = [], extra: Partial<SandboxRecord> = {}): SandboxRecord =>
  ({ id, name: `s-${id}`, endpoints: Object.fromEntries(eps.map((e) => [e.networkId, e])), ...extra }) as SandboxRecord;

function state(): State {
  return {
    networks: new Map([
      ['a', net('a')],
      ['gone', net('gone', { deleting: true })],
    ]),
    sandboxes: new Map([
      ['s1', sb('s1', [ep('e1', 'a')])],
      ['dying', sb('dying', [], { deleting: true })],
    ]),
  };
}

const ids = (m: ReadonlyMap<string, unknown>) => [...m.keys()].sort();

describe('state views', () => {
  it('the live view leaves tombstoned records out, and is a copy', () => {
    const s = state();
    const v = liveView(s);
    expect(ids(v.networks)).toEqual(['a']);
    expect(ids(v.sandboxes)).toEqual(['s1']);
    s.networks.set('b', net('b'));
    expect(ids(v.networks)).toEqual(['a']);
    expect(ids(liveView(s).networks)).toEqual(['a', 'b']);
  });

  it('after a create or connect the record is there; the before view is unchanged', () => {
    const before = liveView(state());
    const created: Change = { kind: 'network.create', net: net('b') };
    expect(ids(viewAfter(before, created).networks)).toEqual(['a', 'b']);
    const s2 = sb('s2', [ep('e2', 'a')]);
    expect(ids(viewAfter(before, { kind: 'sandbox.create', sb: s2 }).sandboxes)).toEqual(['s1', 's2']);
    const joined = sb('s1', [ep('e1', 'a'), ep('e3', 'b')]);
    const after = viewAfter(before, { kind: 'connect', sb: joined, net: net('b'), ep: ep('e3', 'b') });
    expect(Object.keys(after.sandboxes.get('s1')!.endpoints).sort()).toEqual(['a', 'b']);
    expect(Object.keys(before.sandboxes.get('s1')!.endpoints)).toEqual(['a']);
  });

  it('a removal is in the before view (even once tombstoned) and gone after', () => {
    const s = state();
    const removing = { ...s.networks.get('a')!, deleting: true };
    s.networks.set('a', removing);
    const change: Change = { kind: 'network.remove', net: removing };
    const before = viewBefore(liveView(s), change);
    expect(ids(before.networks)).toEqual(['a']);
    expect(ids(viewAfter(before, change).networks)).toEqual([]);
    const sbChange: Change = { kind: 'sandbox.remove', sb: s.sandboxes.get('s1')! };
    const sbBefore = viewBefore(liveView(s), sbChange);
    expect(ids(sbBefore.sandboxes)).toEqual(['s1']);
    expect(ids(viewAfter(sbBefore, sbChange).sandboxes)).toEqual([]);
  });

  it('after a disconnect the sandbox stays, without that endpoint', () => {
    const s = state();
    const change: Change = { kind: 'disconnect', sb: s.sandboxes.get('s1')!, net: s.networks.get('a')!, ep: ep('e1', 'a') };
    const after = viewAfter(liveView(s), change);
    expect(ids(after.sandboxes)).toEqual(['s1']);
    expect(after.sandboxes.get('s1')!.endpoints).toEqual({});
    expect(Object.keys(s.sandboxes.get('s1')!.endpoints)).toEqual(['a']);
  });
});
