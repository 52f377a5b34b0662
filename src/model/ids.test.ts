import { describe, expect, it } from 'vitest';
import { lookup, MAX_NAME, newId, nowRfc3339Nano, shortId, validateName } from './ids.js';
import { thrown } from '../../test/unit/thrown.js';


describe('validateName', () => {
  it('accepts Docker\'s names', () => {
    for (const n of ['a', 'app-net', 'my_net.2', '0x', 'A'.repeat(MAX_NAME)]) expect(validateName('network', n)).toBe(n);
  });

  it('refuses empty, too long, and bad characters, naming the field', () => {
    expect(thrown(() => validateName('sandbox', '', '--name')).message).toBe('sandbox --name is empty');
    const long = thrown(() => validateName('network', 'a'.repeat(MAX_NAME + 1)));
    expect(long.message).toMatch(/is 65 characters long/);
    expect(long.hint).toBe(`use at most ${MAX_NAME} characters`);
    for (const bad of ['-x', '.x', 'a b', 'a/b', 'é']) {
      const e = thrown(() => validateName('network', bad));
      expect(e.code).toBe('INVALID_NAME');
      expect(e.field).toBe('name');
      expect(e.message).toContain(`"${bad}"`);
    }
  });
});

describe('lookup', () => {
  const items = [
    { id: 'aaaa' + '0'.repeat(60), name: 'one' },
    { id: 'aabb' + '0'.repeat(60), name: 'two' },
    // A name that is also another record's ID prefix: the name wins (Docker's order).
    { id: 'cccc' + '0'.repeat(60), name: 'aabb' },
  ];

  it('full ID, then exact name, then unique prefix (case-insensitive)', () => {
    expect(lookup('network', items, items[0]!.id).name).toBe('one');
    expect(lookup('network', items, 'two').name).toBe('two');
    expect(lookup('network', items, 'aabb').id).toBe(items[2]!.id);
    expect(lookup('network', items, 'AAA').name).toBe('one');
  });

  it('an ambiguous prefix and an unknown ref are errors of the kind', () => {
    const amb = thrown(() => lookup('sandbox', items, 'aa'));
    expect(amb.code).toBe('SANDBOX_AMBIGUOUS');
    expect(amb.message).toBe('sandbox ID prefix "aa" matches 2 sandboxes');
    expect(thrown(() => lookup('network', items, 'zz')).code).toBe('NETWORK_NOT_FOUND');
    expect(thrown(() => lookup('sandbox', items, 'zz')).hint).toContain('yard ps -a');
  });
});

describe('ids and times', () => {
  it('IDs are 64 hex characters; the short form is 12', () => {
    const id = newId();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(newId()).not.toBe(id);
    expect(shortId(id)).toBe(id.slice(0, 12));
    // Across several refills of the pool they are drawn from: all well formed and distinct.
    const many = Array.from({ length: 300 }, newId);
    expect(many.every((x) => /^[0-9a-f]{64}$/.test(x))).toBe(true);
    expect(new Set(many).size).toBe(300);
  });

  it('timestamps are RFC 3339 with nanoseconds, as Docker prints them', () => {
    const t = nowRfc3339Nano();
    expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(Math.abs(Date.parse(t) - Date.now())).toBeLessThan(5000);
  });
});
