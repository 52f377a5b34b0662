import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { createDaemonLog, operationFields, operationMessage, parseLogFormat, parseLogLevel, type DaemonLogOptions } from './log.js';
import type { OperationEvent } from '../engine/operations.js';

/** A daemon log whose lines are collected, not written to stderr. */
function captured(opts: DaemonLogOptions = {}) {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const dl = createDaemonLog({ isTty: false, ...opts, destination: destination as unknown as DaemonLogOptions['destination'] });
  const lines = () => chunks.join('').split('\n').filter(Boolean);
  return { dl, lines, json: () => lines().map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const created: OperationEvent = { operation: 'network.create', outcome: 'ok', durationMs: 12.345, fields: { network: 'app', driver: 'bridge', id: 'f'.repeat(64) } };
const refused: OperationEvent = { operation: 'sandbox.remove', outcome: 'SANDBOX_NOT_FOUND', durationMs: 0.04, fields: { sandbox: 'ghost', force: false }, error: 'no such sandbox: ghost' };

describe('daemon log', () => {
  it('writes JSON lines with level, ISO time and msg when stderr is not a terminal', () => {
    const c = captured();
    expect(c.dl.format).toBe('json');
    c.dl.log('kernel link kinds: bridge, veth');
    const [line] = c.json();
    expect(line).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), msg: 'kernel link kinds: bridge, veth' });
  });

  it('logs a plain message that reports a problem as a warning, the rest as info', () => {
    const c = captured();
    c.dl.log('warning: cannot write /x/daemon.pid (EROFS)');
    c.dl.log('firewall self-heal failed: nft exited 1');
    c.dl.log('reconcile: finishing the removal of sandbox a: gone');
    c.dl.log('sandbox web (abc) created');
    expect(c.json().map((l) => l.level)).toEqual(['warn', 'warn', 'warn', 'info']);
  });

  it('logs one line per operation with op, outcome, durationMs and the fields; 5xx outcomes as errors', () => {
    const c = captured();
    c.dl.operation(created);
    c.dl.operation(refused);
    c.dl.operation({ operation: 'network.connect', outcome: 'KERNEL_FAILED', durationMs: 3, fields: { network: 'app', sandbox: 'web', runtime: undefined }, error: 'ip failed' });
    const [a, b, k] = c.json();
    expect(a).toMatchObject({ level: 'info', op: 'network.create', outcome: 'ok', durationMs: 12.3, network: 'app', driver: 'bridge', id: 'f'.repeat(64), msg: 'network.create app: ok in 12.3 ms' });
    expect(b).toMatchObject({ level: 'info', op: 'sandbox.remove', outcome: 'SANDBOX_NOT_FOUND', durationMs: 0, sandbox: 'ghost', force: false, error: 'no such sandbox: ghost' });
    expect(k).toMatchObject({ level: 'error', outcome: 'KERNEL_FAILED' });
    // An undefined field is left out, not written as null.
    expect(k).not.toHaveProperty('runtime');
  });

  it('keeps the reserved keys its own: a field named msg, level or time does not replace them', () => {
    const f = operationFields({ ...created, fields: { msg: 'x', level: 'y', time: 'z', op: 'w', network: 'app' } });
    expect(f).toEqual({ op: 'network.create', outcome: 'ok', durationMs: 12.3, network: 'app' });
    expect(operationMessage({ ...created, fields: {} })).toBe('network.create: ok in 12.3 ms');
  });

  it('drops lines under the level; silent drops all (positive control: info passes at info)', () => {
    const warnOnly = captured({ level: 'warn' });
    warnOnly.dl.log('started');
    warnOnly.dl.operation(created);
    warnOnly.dl.log('warning: disk almost full');
    expect(warnOnly.json().map((l) => l.msg)).toEqual(['warning: disk almost full']);
    const silent = captured({ level: 'silent' });
    silent.dl.log('warning: x');
    expect(silent.lines()).toEqual([]);
    const info = captured({ level: 'info' });
    info.dl.log('started');
    expect(info.json().map((l) => l.msg)).toEqual(['started']);
  });

  it('writes readable text (not JSON) with --log-format text, and by default on a terminal', () => {
    const c = captured({ format: 'text' });
    c.dl.operation(created);
    const [line] = c.lines();
    expect(() => JSON.parse(line!)).toThrow();
    expect(line).toContain('INFO');
    expect(line).toContain('network.create app: ok in 12.3 ms');
    expect(line).toContain('durationMs');
    // A failed operation stays one line, its error among the fields.
    c.dl.operation(refused);
    expect(c.lines()).toHaveLength(2);
    expect(c.lines()[1]).toContain('"error":"no such sandbox: ghost"');
    expect(captured({ isTty: true }).dl.format).toBe('text');
  });

  it('checks --log-format and --log-level, naming the flag', () => {
    expect(parseLogFormat('json')).toBe('json');
    expect(parseLogFormat(undefined)).toBeUndefined();
    expect(parseLogLevel('DEBUG')).toBe('debug');
    expect(parseLogLevel('', 'YARD_LOG_LEVEL')).toBeUndefined();
    const f = (() => {
      try {
        parseLogFormat('yaml');
      } catch (e) {
        return e as YardError;
      }
    })();
    expect(f).toBeInstanceOf(YardError);
    expect(f).toMatchObject({ code: 'INVALID_ARGUMENT', field: '--log-format' });
    expect(f!.message).toContain('"yaml"');
    expect(() => parseLogLevel('loud', 'YARD_LOG_LEVEL')).toThrow(/YARD_LOG_LEVEL "loud" is not a log level/);
  });
});
