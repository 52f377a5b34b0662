import { afterEach, describe, expect, it } from 'vitest';
import type { OperationEvent } from '../engine/operations.js';
import { createApp } from './server.js';
import { operationOf } from './refusals.js';
import { makeEngine, type TestEngine } from '../../test/unit/fakes.js';

let t: TestEngine;
afterEach(() => t?.cleanup());

const post = (body: unknown) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

describe('operations refused by the API before the engine', () => {
  it('are reported once with their error code; the ones the engine refuses are not reported twice; reads never', async () => {
    t = await makeEngine();
    const events: OperationEvent[] = [];
    t.engine.onOperation = (e) => events.push(e);
    const app = createApp(t.engine, () => ({}));
    expect((await app.request('/networks/create', post({ Name: 'app' }))).status).toBe(201);
    // docker-py's default (CheckDuplicate absent): refused by the API.
    expect((await app.request('/v1.41/networks/create', post({ Name: 'app' }))).status).toBe(409);
    expect((await app.request('/networks/create', post({ Nme: 'x' }))).status).toBe(400);
    // Refused by the engine: reported by it, once.
    expect((await app.request('/networks/nope', { method: 'DELETE' })).status).toBe(404);
    // A read that fails is not an operation.
    expect((await app.request('/networks/nope')).status).toBe(404);
    expect(events.map((e) => `${e.operation} ${e.outcome}${e.fields.refusedBy ? ' (api)' : ''}`)).toEqual([
      'network.create ok',
      'network.create NETWORK_EXISTS (api)',
      'network.create INVALID_ARGUMENT (api)',
      'network.remove NETWORK_NOT_FOUND',
    ]);
  });

  it('maps each changing route to its operation', () => {
    expect(operationOf('POST', '/networks/create')).toBe('network.create');
    expect(operationOf('DELETE', '/networks/abc')).toBe('network.remove');
    expect(operationOf('POST', '/networks/abc/connect')).toBe('network.connect');
    expect(operationOf('POST', '/networks/abc/disconnect')).toBe('network.disconnect');
    expect(operationOf('POST', '/networks/prune')).toBe('network.prune');
    expect(operationOf('POST', '/yard/v1/sandboxes')).toBe('sandbox.create');
    expect(operationOf('DELETE', '/yard/v1/sandboxes/web')).toBe('sandbox.remove');
    expect(operationOf('POST', '/yard/v1/sandboxes/web/started')).toBe('sandbox.start');
    expect(operationOf('POST', '/yard/v1/sandboxes/web/exited')).toBe('sandbox.exit');
    for (const [m, p] of [['GET', '/networks'], ['GET', '/networks/abc'], ['GET', '/yard/v1/sandboxes'], ['POST', '/yard/v1/cni'], ['GET', '/metrics']]) expect(operationOf(m!, p!)).toBeUndefined();
  });
});
