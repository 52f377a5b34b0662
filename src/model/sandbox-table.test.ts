import { describe, expect, it } from 'vitest';
import { SandboxTable } from './sandbox-table.js';
import type { SandboxRecord } from './types.js';

const sb = (id: string, name: string, eps: Record<string, [string?, string?]>): SandboxRecord =>
  ({
    id,
    name,
    endpoints: Object.fromEntries(Object.entries(eps).map(([net, [v4, v6]]) => [net, { id: `${id}-${net}`, networkId: net, ifname: 'eth0', aliases: [], order: 0, ...(v4 ? { ipv4: v4 } : {}), ...(v6 ? { ipv6: v6 } : {}) }])),
  }) as unknown as SandboxRecord;

describe('SandboxTable', () => {
  it('indexes endpoint addresses and counts per network through set, replace and delete', () => {
    const t = new SandboxTable([['a', sb('a', 'web', { n1: ['10.0.0.2/24', 'fd00::2/64'] })]]);
    t.set('b', sb('b', 'db', { n1: ['10.0.0.3/24'], n2: ['10.1.0.2/24'] }));
    expect(t.memberCount('n1')).toBe(2);
    expect(Object.fromEntries(t.addressesOn('n1'))).toEqual({ '10.0.0.2': 'sandbox web', 'fd00::2': 'sandbox web', '10.0.0.3': 'sandbox db' });
    // A record replaced as a whole: its old addresses go, the new ones come.
    t.set('b', sb('b', 'db', { n2: ['10.1.0.9/24'] }));
    expect(t.memberCount('n1')).toBe(1);
    expect([...t.addressesOn('n1').keys()]).toEqual(['10.0.0.2', 'fd00::2']);
    expect([...t.addressesOn('n2').keys()]).toEqual(['10.1.0.9']);
    expect(t.delete('a')).toBe(true);
    expect(t.memberCount('n1')).toBe(0);
    expect(t.addressesOn('n1').size).toBe(0);
    // Still a Map of the records.
    expect([...t.keys()]).toEqual(['b']);
    t.clear();
    expect(t.memberCount('n2')).toBe(0);
  });

  it('keeps the other holder of an address a damaged state gave twice', () => {
    const t = new SandboxTable();
    t.set('a', sb('a', 'one', { n: ['10.0.0.2/24'] }));
    t.set('b', sb('b', 'two', { n: ['10.0.0.2/24'] }));
    t.delete('a');
    expect(t.addressesOn('n').get('10.0.0.2')).toBe('sandbox two');
  });
});
