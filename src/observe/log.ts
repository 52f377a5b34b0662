/**
 * The daemon's log: pino, one JSON object per line on stderr (`level`, `time` in ISO 8601,
 * `msg`, and fields), or the same lines made readable by pino-pretty (in-process, no
 * worker thread) when stderr is a terminal or `--log-format text` is asked for.
 *
 * Two ways in: `log(msg)`, the `(msg: string) => void` every room was given (a line
 * starting `warning:` or naming a failure is a warning, the rest is info), and
 * `operation(e)`, the engine's observer: one line per operation with its duration in
 * milliseconds and its outcome (`ok`, `dry-run` or the error code).
 */
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import { createRequire } from 'node:module';
import type { PrettyOptions } from 'pino-pretty';
import { YardError, statusOf, type ErrorCode } from '../errors.js';
import type { OperationEvent } from '../engine/operations.js';

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A --log-format value, checked; undefined stays undefined (the default: text on a terminal, else JSON). */
export function parseLogFormat(v: string | undefined, field = '--log-format'): LogFormat | undefined {
  if (v === undefined || v === '') return undefined;
  if ((LOG_FORMATS as readonly string[]).includes(v)) return v as LogFormat;
  throw new YardError('INVALID_ARGUMENT', `${field} ${JSON.stringify(v.slice(0, 40))} is not a log format`, { field, hint: `use ${LOG_FORMATS.join(' or ')}` });
}

/** A --log-level (or YARD_LOG_LEVEL) value, checked, case-insensitive. */
export function parseLogLevel(v: string | undefined, field = '--log-level'): LogLevel | undefined {
  if (v === undefined || v === '') return undefined;
  const l = v.toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(l)) return l as LogLevel;
  throw new YardError('INVALID_ARGUMENT', `${field} ${JSON.stringify(v.slice(0, 40))} is not a log level`, { field, hint: `use one of ${LOG_LEVELS.join(', ')}` });
}

export interface DaemonLogOptions {
  /** Default: text when `isTty`, else json. */
  format?: LogFormat;
  /** Default: info. */
  level?: LogLevel;
  /** Where lines go (default: stderr, written synchronously, so nothing is lost at exit). */
  destination?: DestinationStream;
  /** Is the destination a terminal (default: stderr's)? Picks the format and colours. */
  isTty?: boolean;
}

export interface DaemonLog {
  logger: Logger;
  format: LogFormat;
  /** The rooms' logger: a plain message. */
  log(msg: string): void;
  /** The engine's observer: one line per operation. */
  operation(e: OperationEvent): void;
}

// pino-pretty (and the date formatting it brings) is loaded only for the text format: a
// daemon logging JSON never needs it.
const require = createRequire(import.meta.url);
const pretty = (o: PrettyOptions): DestinationStream => (require('pino-pretty') as (o: PrettyOptions) => DestinationStream)(o);

/** A plain message that reports a problem: logged as a warning. */
const WARNING = /^warning:|^reconcile:|\b(failed|cannot)\b/i;

export function createDaemonLog(opts: DaemonLogOptions = {}): DaemonLog {
  const isTty = opts.isTty ?? !!process.stderr.isTTY;
  const format = opts.format ?? (isTty ? 'text' : 'json');
  const options = {
    level: opts.level ?? 'info',
    base: undefined,
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const stream: DestinationStream =
    format === 'text'
      ? pretty({ destination: opts.destination ?? 2, sync: true, colorize: isTty, translateTime: 'SYS:standard', singleLine: true, errorLikeObjectKeys: ['err'] })
      : (opts.destination ?? pino.destination({ dest: 2, sync: true }));
  const logger = pino(options, stream);
  return {
    logger,
    format,
    log(msg) {
      if (WARNING.test(msg)) logger.warn(msg);
      else logger.info(msg);
    },
    operation(e) {
      const fields = operationFields(e);
      const failed = e.outcome !== 'ok' && e.outcome !== 'dry-run';
      const msg = operationMessage(e);
      if (failed && statusOf(e.outcome as ErrorCode) >= 500) logger.error(fields, msg);
      else logger.info(fields, msg);
    },
  };
}

/** An operation's fields in its log line: `op`, `outcome`, `durationMs` (0.1 ms), then what it was about. */
export function operationFields(e: OperationEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { op: e.operation, outcome: e.outcome, durationMs: Math.round(e.durationMs * 10) / 10 };
  for (const [k, v] of Object.entries(e.fields)) if (v !== undefined && !(k in out) && k !== 'msg' && k !== 'level' && k !== 'time') out[k] = v;
  if (e.error !== undefined) out.error = e.error;
  if (e.steps !== undefined) out.steps = e.steps;
  return out;
}

/** `network.create app: ok in 12.3 ms`, `sandbox.remove web: SANDBOX_NOT_FOUND in 0.2 ms`. */
export function operationMessage(e: OperationEvent): string {
  const subject = [e.fields.network, e.fields.sandbox].filter((v) => v !== undefined && v !== '').join(' ');
  return `${e.operation}${subject ? ` ${subject}` : ''}: ${e.outcome} in ${(Math.round(e.durationMs * 10) / 10).toFixed(1)} ms`;
}
