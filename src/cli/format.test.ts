import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { ago, collect, keyValues, table, truncate } from './format.js';

describe('table', () => {
  it('pads columns to the widest cell, three spaces apart, no trailing blanks', () => {
    expect(
      table(
        ['NETWORK ID', 'NAME', 'DRIVER'],
        [
          ['abc', 'a-very-long-name', 'bridge'],
          ['0123456789ab', 'b', 'null'],
        ],
      ),
    ).toEqual([
      'NETWORK ID     NAME               DRIVER',
      'abc            a-very-long-name   bridge',
      '0123456789ab   b                  null',
    ]);
  });

  it('an empty last cell leaves no trailing spaces; no rows gives only the header', () => {
    expect(table(['A', 'B'], [['x', '']])).toEqual(['A   B', 'x']);
    expect(table(['A', 'B'], [])).toEqual(['A   B']);
  });
});

describe('keyValues', () => {
  it('parses key=value pairs; the value may contain =', () => {
    expect(keyValues('--opt', ['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(keyValues('--opt', undefined)).toEqual({});
  });

  it('refuses a pair without key or value, naming the flag', () => {
    for (const bad of ['novalue', '=1']) {
      let e: unknown;
      try {
        keyValues('--opt', [bad]);
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(YardError);
      expect((e as YardError).field).toBe('--opt');
      expect((e as YardError).line).toBe(`--opt ${bad} is not key=value; write it as --opt key=value`);
    }
  });

  it('labels may be given without a value', () => {
    expect(keyValues('--label', ['flag', 'k=v'], { valueRequired: false })).toEqual({ flag: '', k: 'v' });
  });
});

describe('small helpers', () => {
  it('collect accumulates repeated flags', () => {
    expect(collect('b', collect('a'))).toEqual(['a', 'b']);
  });
  it('truncate shortens with an ellipsis', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
  });
  it('ago speaks like docker ps', () => {
    const now = Date.parse('2024-01-02T00:00:00Z');
    expect(ago('2024-01-01T23:59:59.8Z', now)).toBe('Less than a second');
    expect(ago('2024-01-01T23:59:30Z', now)).toBe('30 seconds');
    expect(ago('2024-01-01T23:59:00Z', now)).toBe('About a minute');
    expect(ago('2024-01-01T22:00:00Z', now)).toBe('2 hours');
    expect(ago('2023-12-28T00:00:00Z', now)).toBe('5 days');
    expect(ago('0001-01-01T00:00:00Z', now)).toBe('');
  });
});
