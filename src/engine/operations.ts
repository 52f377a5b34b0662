/**
 * Operations as the outside sees them: every use case of the engine's front (engine.ts)
 * runs through `observed` once, which times it and reports its outcome to the daemon's
 * observer (one log line and the metrics: src/observe/). The front doors (API routes, the
 * Docker plugin, the CNI and netavark rooms, the cluster agent) call the front, so each
 * operation is reported exactly once whoever asked for it.
 */
import { Steps, stepsEnabled, withSteps } from '../observe/steps.js';
import { asYardError, type ErrorCode } from '../errors.js';

export const OPERATIONS = [
  'network.create',
  'network.adopt',
  'network.remove',
  'network.prune',
  'network.connect',
  'network.disconnect',
  'sandbox.create',
  'sandbox.run',
  'sandbox.start',
  'sandbox.exit',
  'sandbox.ports',
  'sandbox.join',
  'sandbox.remove',
  'reconcile',
] as const;
export type OperationName = (typeof OPERATIONS)[number];

/** `ok`, `dry-run` (planned, nothing applied) or the error code the caller got. */
export type Outcome = 'ok' | 'dry-run' | ErrorCode;

export type OperationFields = Record<string, string | number | boolean | undefined>;

export interface OperationEvent {
  operation: OperationName;
  outcome: Outcome;
  durationMs: number;
  /** What the operation was about: network, sandbox, runtime, the new ID... */
  fields: OperationFields;
  /** The error's message, when it failed. */
  error?: string;
  /** Where the time went (observe/steps.ts), when the daemon records it. */
  steps?: string;
}

export type OperationObserver = (e: OperationEvent) => void;

/**
 * Errors already reported as an operation's outcome: a front door that refuses a request
 * before it reaches the engine (a malformed body) reports the refusal itself, and only
 * then (src/api/refusals.ts), so nothing is counted twice.
 */
export const reportedErrors = new WeakSet<object>();

/**
 * Run `fn` as the operation `operation`: time it, and report it to `observer` (if any)
 * whether it succeeds or throws; the result or the error goes back to the caller as is.
 * `more` adds fields from the result (the new ID). An observer that throws is ignored:
 * reporting never changes an operation's outcome.
 */
export async function observed<T>(
  observer: OperationObserver | undefined,
  operation: OperationName,
  fields: OperationFields,
  fn: () => Promise<T>,
  opts: { dryRun?: boolean; more?: (r: T) => OperationFields } = {},
): Promise<T> {
  if (!observer) return fn();
  const t0 = performance.now();
  let result: T;
  const steps = stepsEnabled() ? new Steps() : undefined;
  try {
    result = steps ? await withSteps(steps, fn) : await fn();
  } catch (e) {
    const err = asYardError(e);
    report(observer, { operation, outcome: err.code, durationMs: performance.now() - t0, fields, error: err.message, ...(steps ? { steps: `${steps}` } : {}) });
    if (typeof e === 'object' && e !== null) reportedErrors.add(e);
    throw e;
  }
  let extra: OperationFields = {};
  try {
    extra = opts.more?.(result) ?? {};
  } catch {
    /* fields are best effort */
  }
  steps?.mark('end');
  report(observer, { operation, outcome: opts.dryRun ? 'dry-run' : 'ok', durationMs: performance.now() - t0, fields: { ...fields, ...extra }, ...(steps ? { steps: `${steps}` } : {}) });
  return result;
}

function report(observer: OperationObserver, e: OperationEvent): void {
  try {
    observer(e);
  } catch {
    /* never let reporting change the operation */
  }
}
