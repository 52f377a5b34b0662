/**
 * Podman's way into the daemon: the netavark-compatible executable posts each `setup` and
 * `teardown` here (the namespace path, its own PID, and Podman's JSON as it read it) and
 * prints the answer as netavark would: the status blocks, or `{"error": ...}`.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import { NetavarkRoom } from '../runtime/netavark-room.js';
import { parseNetavarkOptions } from '../runtime/netavark.js';
import { json, parseBody } from './body.js';

const CallSchema = z
  .object({
    netns: z.string().max(4096),
    pid: z.number().int().positive().optional(),
    /** Podman's network options, the text netavark reads on standard input. */
    options: z.string(),
  })
  .strict();

export function netavarkRoutes(app: Hono, engine: Engine): void {
  const room = new NetavarkRoom(engine);
  app.post('/yard/v1/netavark/setup', async (c) => {
    const b = parseBody(CallSchema, await json(c), 'yard');
    return c.json(await room.setup({ netns: b.netns, pid: b.pid, options: parseNetavarkOptions(b.options) }));
  });
  app.post('/yard/v1/netavark/teardown', async (c) => {
    const b = parseBody(CallSchema, await json(c), 'yard');
    await room.teardown({ netns: b.netns, pid: b.pid, options: parseNetavarkOptions(b.options) });
    return c.json({});
  });
}
