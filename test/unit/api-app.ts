/** Shared by the API's unit tests: a fresh engine (fake kernel, memory store) and its API app for each test. */
import { afterEach, beforeEach } from 'vitest';
import type { Hono } from 'hono';
import { createApp } from '../../src/api/server.js';
import { makeEngine, type TestEngine } from './fakes.js';

/** Before each test, `set` gets a new engine and the app over it; after it, the engine is cleaned up. */
export function useApiApp(set: (t: TestEngine, app: Hono) => void): void {
  let cur: TestEngine | undefined;
  beforeEach(async () => {
    cur = await makeEngine();
    set(cur, createApp(cur.engine, () => ({ instance: 'u1' })));
  });
  afterEach(() => cur?.cleanup());
}
