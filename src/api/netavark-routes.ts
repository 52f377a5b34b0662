/**
 * Podman's way into the daemon: the netavark-compatible executable posts each `setup` and
 * `teardown` here and prints the answer as netavark would.
 */
import type { Hono } from 'hono';
import type { Engine } from '../engine/engine.js';

export function netavarkRoutes(_app: Hono, _engine: Engine): void {
  /* filled in with the netavark front door */
}
