/**
 * The engine's front reports each operation once, whoever calls it, with its outcome and
 * duration (over the fakes of test/unit/fakes.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { observed, type OperationEvent } from './operations.js';
import { makeEngine, type TestEngine } from '../../test/unit/fakes.js';

let t: TestEngine;
afterEach(() => t?.cleanup());

async function withEvents(): Promise<OperationEvent[]> {
  t = await makeEngine();
  const events: OperationEvent[] = [];
  t.engine.onOperation = (e) => events.push(e);
  return events;
}

const brief = (e: OperationEvent) => `${e.operation} ${e.outcome}`;

describe('operations of the engine\'s front', () => {
  it('reports each operation once, in order, with its outcome and a duration', async () => {
    const events = await withEvents();
    const { net } = await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.40.0.0/24' }] });
    await t.engine.createSandbox({ name: 'idle', networks: [{ network: 'app' }] });
    const { sb } = await t.engine.createSandbox({ name: 'job', networks: [{ network: 'app' }], command: ['sleep', '1'], start: false });
    await t.engine.markStarted(sb.id, process.pid).catch(() => {});
    await t.engine.disconnect('app', 'idle');
    await t.engine.connect('app', 'idle');
    await t.engine.removeSandbox('idle', true);
    await t.engine.removeSandbox('job', true);
    await t.engine.removeNetwork('app');
    expect(events.map(brief)).toEqual([
      'network.create ok',
      'sandbox.create ok',
      'sandbox.run ok',
      expect.stringMatching(/^sandbox\.start /),
      'network.disconnect ok',
      'network.connect ok',
      'sandbox.remove ok',
      'sandbox.remove ok',
      'network.remove ok',
    ]);
    for (const e of events) expect(e.durationMs).toBeGreaterThanOrEqual(0);
    expect(events[0]!.fields).toMatchObject({ network: 'app', driver: 'bridge', id: net.id });
    expect(events[2]!.fields).toMatchObject({ sandbox: 'job', id: sb.id });
  });

  it('reports a refused operation with its error code and message, and the caller still gets the error', async () => {
    const events = await withEvents();
    await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.40.0.0/24' }] });
    const err = await t.engine.createNetwork({ name: 'app' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(YardError);
    expect((err as YardError).code).toBe('NETWORK_EXISTS');
    await expect(t.engine.removeSandbox('ghost')).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    expect(events.map(brief)).toEqual(['network.create ok', 'network.create NETWORK_EXISTS', 'sandbox.remove SANDBOX_NOT_FOUND']);
    expect(events[1]!.error).toBe((err as YardError).message);
    // A failed create changed nothing (positive control: the first one is there).
    expect(t.engine.networks().filter((n) => n.name === 'app')).toHaveLength(1);
  });

  it('reports a dry run as dry-run, not ok', async () => {
    const events = await withEvents();
    await t.engine.createNetwork({ name: 'plan', dryRun: true });
    expect(events.map(brief)).toEqual(['network.create dry-run']);
    expect(t.engine.networks().map((n) => n.name)).not.toContain('plan');
  });

  it('reports nothing without an observer, and an observer that throws changes no outcome', async () => {
    t = await makeEngine();
    await t.engine.createNetwork({ name: 'quiet', ipam: [{ subnet: '10.41.0.0/24' }] });
    t.engine.onOperation = () => {
      throw new Error('observer broke');
    };
    await t.engine.createNetwork({ name: 'loud', ipam: [{ subnet: '10.42.0.0/24' }] });
    await expect(t.engine.removeNetwork('nope')).rejects.toMatchObject({ code: 'NETWORK_NOT_FOUND' });
    expect(t.engine.networks().map((n) => n.name)).toEqual(expect.arrayContaining(['quiet', 'loud']));
  });

  it('reports an error that is not a YardError as INTERNAL', async () => {
    const events: OperationEvent[] = [];
    await expect(observed((e) => events.push(e), 'reconcile', {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(events).toMatchObject([{ operation: 'reconcile', outcome: 'INTERNAL', error: 'internal error: boom' }]);
  });
});
