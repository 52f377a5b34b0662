/**
 * A request body read with a size cap and parsed as JSON: the one reader of the daemon's
 * API and of its Docker plugin sockets. Each caller turns a BodyProblem into its own answer.
 */
export type BodyProblem = 'too-large' | 'not-utf8' | 'not-json';

export class BodyError extends Error {
  constructor(readonly problem: BodyProblem) {
    super(`request body: ${problem}`);
  }
}

/**
 * The parsed body, or undefined when there is none (or only blanks). Over `limit` bytes it
 * stops reading: `cancel` drops the stream, `release` leaves the rest to the connection
 * (the daemon reads and drops it after the answer).
 */
export async function readJsonBody(stream: ReadableStream<Uint8Array> | null, limit: number, overLimit: 'cancel' | 'release'): Promise<unknown> {
  if (!stream) return undefined;
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      if (overLimit === 'cancel') await reader.cancel().catch(() => undefined);
      else reader.releaseLock();
      throw new BodyError('too-large');
    }
    chunks.push(value);
  }
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
