/**
 * The CNI plugin's way into the daemon: `POST /yard/v1/cni` carries one CNI call (command,
 * environment, network configuration) and answers the CNI result or error.
 *
 * 200 with the result (ADD), the supported versions (VERSION) or an empty object (DEL,
 * CHECK, GC, STATUS); a refused call is answered with the CNI error object itself
 * (`{cniVersion, code, msg, details}`) and status 400 for the runtime's mistakes (CNI codes
 * 1-9) and 500 otherwise, so the plugin prints it as it is.
 */
import type { Hono } from 'hono';
import type { Engine } from '../engine/engine.js';
import { CniRoom } from '../runtime/cni-room.js';
import { CNI_CODES, CniError, errorJson } from '../runtime/cni.js';

export function cniRoutes(app: Hono, engine: Engine): void {
  const room = new CniRoom(engine);
  app.post('/yard/v1/cni', async (c) => {
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch (e) {
      return c.json(errorJson(undefined, new CniError(CNI_CODES.DECODE_FAILURE, 'the CNI call is not JSON', (e as Error).message)), 400);
    }
    const answer = await room.handle(body);
    if (answer.ok) return c.json(answer.result ?? answer.version ?? {}, 200);
    return c.json(answer.error, answer.error.code < 10 ? 400 : 500);
  });
}
