/**
 * A request body read with a size cap and parsed as JSON: the one reader of the daemon's
 * API and of its Docker plugin sockets. Each caller turns a BodyProblem into its own answer.
 */
import { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { z } from 'zod';
import { YardError } from '../errors.js';

export type BodyProblem = 'too-large' | 'not-utf8' | 'not-json';

export class BodyError extends Error {
  constructor(readonly problem: BodyProblem) {
    super(`request body: ${problem}`);
  }
}

/**
 * The parsed body, or undefined when there is none (or only blanks). Over `limit` bytes it
 * stops reading: `cancel` drops the stream, `release` leaves the rest to the connection
 * (the daemon reads and drops it after the answer). The body is read from Node's request
 * itself when the server gives it (`incoming`): the web stream made over it costs most of a
 * millisecond per request; the web stream is read otherwise (a request made in-process).
 */
export async function readJsonBody(stream: ReadableStream<Uint8Array> | null, limit: number, overLimit: 'cancel' | 'release', incoming?: IncomingMessage): Promise<unknown> {
  const chunks = incoming ? await readNode(incoming, limit, overLimit) : stream ? await readWeb(stream, limit, overLimit) : undefined;
  if (!chunks) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new BodyError('not-utf8');
  }
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyError('not-json');
  }
}

async function readWeb(stream: ReadableStream<Uint8Array>, limit: number, overLimit: 'cancel' | 'release'): Promise<Uint8Array[]> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return chunks;
    size += value.byteLength;
    if (size > limit) {
      if (overLimit === 'cancel') await reader.cancel().catch(() => undefined);
      else reader.releaseLock();
      throw new BodyError('too-large');
    }
    chunks.push(value);
  }
}

/** The same from Node's request: over the limit it stops listening ('release': the rest stays for the connection) or destroys it ('cancel'). */
function readNode(req: IncomingMessage, limit: number, overLimit: 'cancel' | 'release'): Promise<Uint8Array[]> {
  if (req.readableEnded) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      done();
      req.pause();
      if (overLimit === 'cancel') req.destroy();
      reject(new BodyError('too-large'));
    };
    const onEnd = () => {
      done();
      resolve(chunks);
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    // A request the server paused (it may have been) does not flow by a 'data' listener alone.
    req.resume();
  });
}

/**
 * readJsonBody on a Hono request: from Node's request when the server is Node's
 * (@hono/node-server puts it in the env), never touching `c.req.raw.body` then (that would
 * make the web stream, a second reader of the same bytes).
 */
export function readBodyOf(c: Context, limit: number, overLimit: 'cancel' | 'release'): Promise<unknown> {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  return incoming instanceof IncomingMessage ? readJsonBody(null, limit, overLimit, incoming) : readJsonBody(c.req.raw.body, limit, overLimit);
}

export const MAX_BODY_BYTES = 1024 * 1024;

export function tooLarge(what: string): YardError {
  return new YardError('REQUEST_TOO_LARGE', `request body${what} is larger than the daemon's limit of ${MAX_BODY_BYTES} bytes (1 MiB)`, {
    field: 'body',
    hint: 'send a smaller request',
  });
}

/**
 * Docker's routes ('docker') take a missing or `null` body as `{}` and ignore unknown keys,
 * as Docker does; Switchyard's own routes ('yard') need a JSON object and refuse unknown
 * keys (their schemas are strict).
 */
export type BodyMode = 'docker' | 'yard';

export function parseBody<T>(schema: z.ZodType<T>, body: unknown, mode: BodyMode = 'docker'): T {
  const kind = body === undefined ? 'empty' : body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body !== 'object' ? `a JSON ${typeof body}` : '';
  if (kind && !(mode === 'docker' && (body === undefined || body === null))) {
    throw new YardError('INVALID_ARGUMENT', `request body is ${kind}, not a JSON object`, { field: 'body', hint: 'send a JSON object (see docs/api.md)' });
  }
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const field = [...issue.path, issue.keys[0]].join('.');
    throw new YardError('INVALID_ARGUMENT', `request field ${field} is not a known field`, { field, hint: 'remove it (the fields are listed in docs/api.md)' });
  }
  const field = issue.path.join('.') || 'body';
  throw new YardError('INVALID_ARGUMENT', `request field ${field}: ${issue.message}`, { field, hint: 'fix the request body (see docs/api.md)' });
}

/** The body, read with the size cap: undefined when there is none (or only blanks). */
export async function json(c: Context): Promise<unknown> {
  try {
    // Not cancelled when too large: the rest is read and dropped after the answer (withLingeringClose).
    return await readBodyOf(c, MAX_BODY_BYTES, 'release');
  } catch (e) {
    if (!(e instanceof BodyError)) throw e;
    if (e.problem === 'too-large') throw tooLarge('');
    if (e.problem === 'not-utf8') throw new YardError('INVALID_ARGUMENT', 'request body is not UTF-8 text', { field: 'body', hint: 'send a JSON object in UTF-8' });
    throw new YardError('INVALID_ARGUMENT', 'request body is not valid JSON', { field: 'body', hint: 'send a JSON object' });
  }
}

