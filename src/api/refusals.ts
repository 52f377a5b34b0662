/**
 * Requests for an operation that the API refuses before the engine sees them (a malformed
 * body, an unknown IPAM driver, a duplicate network name): reported as that operation
 * with its error code, as the engine reports the ones it refuses (engine/operations.ts),
 * so the log and the metrics count every refusal a client got, once.
 */
import type { MiddlewareHandler } from 'hono';
import { asYardError } from '../errors.js';
import { reportedErrors, type OperationName, type OperationObserver } from '../engine/operations.js';

/** The operation a request asks for, by method and (unversioned) path; undefined for reads. */
export function operationOf(method: string, path: string): OperationName | undefined {
  if (method === 'POST' && path === '/networks/create') return 'network.create';
  if (method === 'POST' && path === '/networks/prune') return 'network.prune';
  if (method === 'DELETE' && /^\/networks\/[^/]+$/.test(path)) return 'network.remove';
  if (method === 'POST' && /^\/networks\/[^/]+\/connect$/.test(path)) return 'network.connect';
  if (method === 'POST' && /^\/networks\/[^/]+\/disconnect$/.test(path)) return 'network.disconnect';
  // A refused body does not say reliably whether it asked for a command: sandbox.create.
  if (method === 'POST' && path === '/yard/v1/sandboxes') return 'sandbox.create';
  if (method === 'DELETE' && /^\/yard\/v1\/sandboxes\/[^/]+$/.test(path)) return 'sandbox.remove';
  if (method === 'POST' && /^\/yard\/v1\/sandboxes\/[^/]+\/started$/.test(path)) return 'sandbox.start';
  if (method === 'POST' && /^\/yard\/v1\/sandboxes\/[^/]+\/exited$/.test(path)) return 'sandbox.exit';
  return undefined;
}

/** Middleware: after the route, report an operation's error that nothing reported yet. */
export function reportRefusals(observer: () => OperationObserver | undefined, pathOf: (url: string) => string): MiddlewareHandler {
  return async (c, next) => {
    const t0 = performance.now();
    await next();
    const err = c.error;
    const report = observer();
    if (!err || !report || reportedErrors.has(err)) return;
    const op = operationOf(c.req.method, pathOf(c.req.url));
    if (!op) return;
    const e = asYardError(err);
    reportedErrors.add(err);
    try {
      report({ operation: op, outcome: e.code, durationMs: performance.now() - t0, fields: { refusedBy: 'api' }, error: e.message });
    } catch {
      /* reporting never changes the answer */
    }
  };
}
