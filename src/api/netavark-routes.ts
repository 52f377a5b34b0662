/**
 * Podman's way into the daemon: the netavark-compatible executable posts each `setup` and
 * `teardown` here (the namespace path, its own PID, and Podman's JSON as it read it) and
 * prints the answer as netavark would: the status blocks, or `{"error": ...}`. The
 * netavark code loads at the first call: a daemon that Podman does not use never holds it.
 */
import type { Hono } from 'hono';
import type { Engine } from '../engine/engine.js';
import type { NetavarkRoom } from '../runtime/netavark-room.js';
import type { NetavarkOptions } from '../runtime/netavark.js';
import { lazySchema } from '../model/zod.js';
import { json, parseBody } from './body.js';

const callSchema = lazySchema((z) =>
  z
    .object({
      netns: z.string().max(4096),
      pid: z.number().int().positive().optional(),
      /** Podman's network options, the text netavark reads on standard input. */
      options: z.string(),
    })
    .strict(),
);

export function netavarkRoutes(app: Hono, engine: Engine): void {
  let loading: Promise<{ room: NetavarkRoom; parseNetavarkOptions: (text: string) => NetavarkOptions }> | undefined;
  const load = () =>
    (loading ??= Promise.all([import('../runtime/netavark-room.js'), import('../runtime/netavark.js')]).then(([r, n]) => ({ room: new r.NetavarkRoom(engine), parseNetavarkOptions: n.parseNetavarkOptions })));
  app.post('/yard/v1/netavark/setup', async (c) => {
    const b = parseBody(callSchema(), await json(c), 'yard');
    const { room, parseNetavarkOptions } = await load();
    return c.json(await room.setup({ netns: b.netns, pid: b.pid, options: parseNetavarkOptions(b.options) }));
  });
  app.post('/yard/v1/netavark/teardown', async (c) => {
    const b = parseBody(callSchema(), await json(c), 'yard');
    const { room, parseNetavarkOptions } = await load();
    await room.teardown({ netns: b.netns, pid: b.pid, options: parseNetavarkOptions(b.options) });
    return c.json({});
  });
}
