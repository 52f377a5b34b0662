/**
 * The CNI plugin's way into the daemon: `POST /yard/v1/cni` carries one CNI call (command,
 * environment, network configuration) and answers the CNI result or error.
 *
 * 200 with the result (ADD), the supported versions (VERSION) or an empty object (DEL,
 * CHECK, GC, STATUS); a refused call is answered with the CNI error object itself
 * (`{cniVersion, code, msg, details}`) and status 400 for the runtime's mistakes (CNI codes
 * 1-9) and 500 otherwise, so the plugin prints it as it is. The CNI code loads at the
 * first call: a daemon that no CNI runtime uses never holds it.
 */
import type { Hono } from 'hono';
import type { Engine } from '../engine/engine.js';
import type { CniRoom } from '../runtime/cni-room.js';

export function cniRoutes(app: Hono, engine: Engine): void {
  let room: Promise<CniRoom> | undefined;
  app.post('/yard/v1/cni', async (c) => {
    const { CNI_CODES, CniError, errorJson } = await import('../runtime/cni.js');
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch (e) {
      return c.json(errorJson(undefined, new CniError(CNI_CODES.DECODE_FAILURE, 'the CNI call is not JSON', (e as Error).message)), 400);
    }
    const answer = await (await (room ??= import('../runtime/cni-room.js').then((m) => new m.CniRoom(engine)))).handle(body);
    if (answer.ok) return c.json(answer.result ?? answer.version ?? {}, 200);
    return c.json(answer.error, answer.error.code < 10 ? 400 : 500);
  });
}
