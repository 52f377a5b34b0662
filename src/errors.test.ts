import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { asYardError, ERROR_CODES, statusOf, YardError, type ErrorCode } from './errors.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/errors.md');

/** Rows of the catalogue table: `| CODE | status | meaning | typical fix |` (the fix column may be absent). */
function catalogueRows(): { code: string; status: number; cells: string[] }[] {
  return fs
    .readFileSync(DOC, 'utf8')
    .split('\n')
    .filter((l) => /^\|\s*[A-Z][A-Z0-9_]+\s*\|/.test(l))
    .map((l) => {
      const cells = l.split('|').slice(1, -1).map((c) => c.trim());
      return { code: cells[0]!, status: Number(cells[1]), cells };
    });
}

describe('docs/errors.md', () => {
  const rows = catalogueRows();
  const documented = rows.map((r) => r.code);

  it('has a row for every code in ERROR_CODES', () => {
    const missing = Object.keys(ERROR_CODES).filter((c) => !documented.includes(c));
    expect(missing, 'add a row to docs/errors.md for each').toEqual([]);
  });

  it('documents no code that ERROR_CODES lacks, and none twice', () => {
    expect(documented.filter((c) => !(c in ERROR_CODES))).toEqual([]);
    expect(documented.filter((c, i) => documented.indexOf(c) !== i)).toEqual([]);
  });

  it('gives each code the HTTP status of its class and a description', () => {
    for (const r of rows) {
      expect(r.status, r.code).toBe(statusOf(r.code as ErrorCode));
      expect(r.cells[2], r.code).toBeTruthy();
    }
  });
});

describe('YardError', () => {
  it('line joins message and hint; without a hint it is the message', () => {
    const e = new YardError('INVALID_SUBNET', '--subnet 10.0.0.1/24 has host bits set', { field: '--subnet', hint: 'use 10.0.0.0/24' });
    expect(e.line).toBe('--subnet 10.0.0.1/24 has host bits set; use 10.0.0.0/24');
    expect(new YardError('NETWORK_NOT_FOUND', 'network x not found').line).toBe('network x not found');
    expect(e).toBeInstanceOf(Error);
    expect(e.message).toBe('--subnet 10.0.0.1/24 has host bits set');
  });

  it('toJSON is Docker\'s {message} plus code and field (field only when known)', () => {
    const e = new YardError('INVALID_SUBNET', 'bad', { field: '--subnet', hint: 'fix it' });
    expect(JSON.parse(JSON.stringify(e))).toEqual({ message: 'bad; fix it', code: 'INVALID_SUBNET', field: '--subnet' });
    expect(new YardError('NETWORK_IN_USE', 'busy').toJSON()).toEqual({ message: 'busy', code: 'NETWORK_IN_USE' });
  });

  it('status follows the class', () => {
    const cases: [ErrorCode, number][] = [
      ['INVALID_ARGUMENT', 400],
      ['NETWORK_AMBIGUOUS', 400],
      ['NETWORK_PREDEFINED', 403],
      ['NETWORK_IN_USE', 403],
      ['NETWORK_NOT_FOUND', 404],
      ['UNKNOWN_DRIVER', 404],
      ['NETWORK_EXISTS', 409],
      ['SUBNET_OVERLAP', 403],
      ['POOLS_EXHAUSTED', 503],
      ['DAEMON_UNREACHABLE', 503],
      ['KERNEL_FAILED', 500],
      ['INTERNAL', 500],
    ];
    for (const [code, status] of cases) {
      expect(new YardError(code, 'x').status, code).toBe(status);
      expect(statusOf(code), code).toBe(status);
    }
  });

  it('keeps the cause', () => {
    const cause = new Error('EACCES');
    expect(new YardError('INTERNAL', 'x', { cause }).cause).toBe(cause);
  });
});

describe('asYardError', () => {
  it('passes a YardError through', () => {
    const e = new YardError('NETWORK_EXISTS', 'dup');
    expect(asYardError(e)).toBe(e);
  });

  it('turns anything else into an INTERNAL error that says it is a bug', () => {
    const e = asYardError(new TypeError('x is undefined'));
    expect(e.code).toBe('INTERNAL');
    expect(e.status).toBe(500);
    expect(e.line).toMatch(/^internal error: x is undefined; this is a bug in Switchyard/);
    expect(asYardError('plain string').message).toBe('internal error: plain string');
  });
});
