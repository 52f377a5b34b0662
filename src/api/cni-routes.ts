/**
 * The CNI plugin's way into the daemon: `POST /yard/v1/cni` carries one CNI call (command,
 * environment, network configuration) and answers the CNI result or error.
 */
import type { Hono } from 'hono';
import type { Engine } from '../engine/engine.js';

export function cniRoutes(_app: Hono, _engine: Engine): void {
  /* filled in with the CNI front door */
}
